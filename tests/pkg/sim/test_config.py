"""SimConfig refuses values the simulator cannot run with, naming the field at fault."""

from __future__ import annotations

import pytest

from retail.sim import SimConfig


@pytest.mark.parametrize("field,value,message", [
    ("days", -1, r"^days must be >= 0 \(days to simulate\), got -1$"),
    ("rate", -5, r"^rate must be > 0 \(events per minute per store\), got -5$"),
    ("rate", 0, r"^rate must be > 0 .*got 0$"),
    ("rate", float("nan"), r"^rate must be > 0 .*got nan$"),
    ("batch_events", 0, r"^batch_events must be >= 1 \(target events per batch\), got 0$"),
    ("promo_share", 1.5, r"^promo_share must be in 0 \.\. 1 \(share of SKUs on promotion "
                         r"each week\), got 1.5$"),
])
def test_an_invalid_option_is_named_with_what_is_allowed(field, value, message):
    with pytest.raises(ValueError, match=message):
        SimConfig(**{field: value})


def test_every_invalid_option_is_reported_at_once():
    with pytest.raises(ValueError, match=r"^days must .*; rate must .*; batch_events must "):
        SimConfig(days=-1, rate=0, batch_events=0)


@pytest.mark.parametrize("kwargs", [{}, {"days": 0}, {"rate": 0.1}, {"batch_events": 1},
                                    {"promo_share": 0.0}, {"promo_share": 1.0}])
def test_valid_options_are_accepted(kwargs):
    SimConfig(**kwargs)
