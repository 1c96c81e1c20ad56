"""The training's origins and its time-based split, by hand (no Spark, no warehouse)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from retail.ml.slow_movers.data import origins
from retail.ml.slow_movers.model import split

D = date(2026, 10, 18)


def days(*offsets: int) -> list[date]:
    return [D - timedelta(days=k) for k in offsets]


def test_origins_are_at_least_a_step_apart_from_the_newest():
    assert origins(days(0, 1, 3, 7, 8, 14, 20), step_days=7) == days(14, 7, 0)
    assert origins(days(0, 1, 2), step_days=1) == days(2, 1, 0)


def test_the_split_holds_out_the_newest_and_purges_overlapping_labels():
    labelled = days(35, 28, 21, 14, 7)
    train, held = split(labelled, eval_origins=2, label_days=14)
    assert held == days(14, 7)
    # a training origin's 14-day window ends by the first evaluated day
    assert train == days(35, 28)


def test_too_few_origins_say_what_to_change():
    with pytest.raises(ValueError, match="RETAIL_SLOW_MOVERS__EVAL_ORIGINS / LABEL_DAYS"):
        split(days(14, 7), eval_origins=2, label_days=7)
    with pytest.raises(ValueError, match="cannot hold 3 evaluation"):
        split(days(21, 14, 7), eval_origins=3, label_days=7)
