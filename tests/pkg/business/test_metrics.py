"""Each business metric on a hand-built two-day history of three store x SKU pairs."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from retail.business.ledger import LEDGER_COLUMNS
from retail.business.metrics import METRICS, arm_metrics, compare

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
# pair 0: cost 2, order-up-to 10; pair 1: cost 10, up-to 4; pair 2: cost 1, up-to 3, no demand
ROWS = [  # day, pair, closing, sold, expired, lost units, lost value, orders, units ordered
    (D1, 0, 5, 4, 0, 0, 0.0, 1, 10),
    (D2, 0, 25, 3, 2, 1, 3.0, 0, 0),
    (D1, 1, 0, 2, 0, 3, 45.0, 1, 8),
    (D2, 1, 8, 0, 0, 2, 30.0, 0, 0),
    (D1, 2, 100, 0, 0, 0, 0.0, 0, 0),
    (D2, 2, 100, 0, 0, 0, 0.0, 0, 0),
]
COST, UP_TO = {0: 2.0, 1: 10.0, 2: 1.0}, {0: 10, 1: 4, 2: 3}


def ledger(rows=ROWS) -> pa.Table:
    data = {c: [] for c in LEDGER_COLUMNS}
    for day, pair, closing, sold, expired, lost, lost_value, orders, ordered in rows:
        row = dict(day=day, pair=pair, opening=0, delivered=0, returned=0, adjusted=0,
                   sold=sold, expired=expired, shrunk=0, closing=closing, lost_units=lost,
                   lost_value=lost_value, demand_units=sold + lost, orders=orders,
                   ordered_units=ordered, unit_cost=COST[pair], order_up_to=UP_TO[pair])
        for c in LEDGER_COLUMNS:
            data[c].append(row[c])
    return pa.table(data)


@pytest.mark.parametrize("metric, expected", [
    ("stockout_rate", 3 / 6),  # pair 0 on day 2, pair 1 on both days
    ("lost_units", 6), ("lost_value", 78.0),
    ("fill_rate", 9 / 15),  # sold 4+3+2, asked 4+4+5+2
    ("avg_inventory_value", (5 * 2 + 0 * 10 + 100 + 25 * 2 + 8 * 10 + 100) / 2),  # 170
    # 60 days cover 240 units of pair 0 (4 a day) and 210 of pair 1: pair 2's stock,
    # which nobody asks for, is all overstock
    ("overstock_units", 200), ("overstock_value", 200 * 1 / 2),
    ("cover_over_60_share", 2 / 6),  # pair 2 holds stock and sells nothing
    ("over_2x_up_to_units", (25 - 20) + 2 * (100 - 6)),  # pair 1's 8 is exactly 2 x 4
    ("expired_units", 2), ("expired_value", 4.0),
    ("cogs", 7 * 2 + 2 * 10), ("turnover", 34 / 170),
    ("orders", 2), ("units_ordered", 18),
])
def test_each_metric_on_a_two_day_history(metric, expected):
    assert arm_metrics(ledger())[metric] == pytest.approx(expected)


def test_every_metric_is_computed_and_an_empty_ledger_is_refused():
    assert set(arm_metrics(ledger())) == set(METRICS)
    with pytest.raises(ValueError, match="no day was compared"):
        arm_metrics(ledger([]))


def test_days_of_cover_use_the_pairs_mean_daily_demand():
    # pair 0 asks for 1 unit over the two days: 0.5 a day, so 31 units cover 62 days
    rows = [(D1, 0, 31, 1, 0, 0, 0.0, 0, 0), (D2, 0, 30, 0, 0, 0, 0.0, 0, 0)]
    got = arm_metrics(ledger(rows))
    assert got["cover_over_60_share"] == 0.5
    # 30 units cover 60 days: 1 unit beyond on day 1, none on day 2
    assert (got["overstock_units"], got["overstock_value"]) == (1, 1 * 2.0 / 2)


def test_the_comparison_knows_which_way_is_better():
    base = arm_metrics(ledger())
    better = dict(base, stockout_rate=base["stockout_rate"] / 2, turnover=base["turnover"] * 2,
                  fill_rate=base["fill_rate"] - 0.1)
    rows = {c.metric: c for c in compare(base, better)}
    assert rows["stockout_rate"].better and rows["stockout_rate"].ratio == pytest.approx(0.5)
    assert rows["turnover"].better and rows["turnover"].ratio == pytest.approx(2.0)
    assert not rows["fill_rate"].better
    assert not rows["lost_units"].better  # equal is not better
    assert [c.metric for c in compare(base, better)] == list(METRICS)
