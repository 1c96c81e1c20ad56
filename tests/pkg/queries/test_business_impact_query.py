"""business_impact_latest: the newest closed-loop run on or before as_of (the platform as it
is, not an attribution variant), its four figures (hand-checked), through
bi_business_impact on the real local warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from retail.business.runner import IMPACT_SCHEMA
from retail.queries import run_query
from tests.pkg.queries.test_queries import hand_built

# run, variant, created, {arm: {metric: value}}
RUNS = [
    ("r-old", "", datetime(2026, 3, 1, 9, tzinfo=timezone.utc),
     {"baseline": {"stockout_rate": 0.1, "overstock_value": 100.0, "lost_value": 50.0,
                   "turnover": 2.0},
      "platform": {"stockout_rate": 0.09, "overstock_value": 90.0, "lost_value": 45.0,
                   "turnover": 2.1}}),
    ("r-new", "", datetime(2026, 3, 5, 23, 30, tzinfo=timezone.utc),
     {"baseline": {"stockout_rate": 0.08, "overstock_value": 1000.0, "lost_value": 5000.0,
                   "turnover": 2.0},
      "platform": {"stockout_rate": 0.02, "overstock_value": 600.0, "lost_value": 1200.0,
                   "turnover": 2.7}}),
    ("r-later", "", datetime(2026, 3, 6, 0, 30, tzinfo=timezone.utc),  # after as_of 03-05
     {"baseline": {"stockout_rate": 0.0, "overstock_value": 0.0, "lost_value": 0.0,
                   "turnover": 0.0},
      "platform": {"stockout_rate": 0.01, "overstock_value": 1.0, "lost_value": 1.0,
                   "turnover": 1.0}}),
    # an attribution run (a part replaced by the truth): never the panel's
    ("r-oracle", "oracle:forecast", datetime(2026, 3, 5, 23, 45, tzinfo=timezone.utc),
     {"baseline": {"stockout_rate": 0.08}, "platform": {"stockout_rate": 0.01}}),
]


def load(wh) -> None:
    rows = [{"run_id": run, "arm": arm, "variant": variant, "metric": metric, "value": value,
             "period_from": date(2026, 2, 1), "period_to": date(2026, 2, 28), "stores": 10,
             "products": 200, "seed": 42, "created_at": created}
            for run, variant, created, arms in RUNS for arm, metrics in arms.items()
            for metric, value in metrics.items()]
    wh.insert_arrow("business_impact", pa.Table.from_pylist(rows, schema=IMPACT_SCHEMA))


@pytest.fixture(scope="module")
def db(warehouse_settings) -> Iterator:
    with hand_built(warehouse_settings, load) as wh:
        yield wh


def test_the_newest_run_created_by_the_end_of_as_of(db):
    (row,) = run_query(db, "business_impact_latest", as_of=date(2026, 3, 5)).to_pylist()
    assert row == {
        "run_id": "r-new", "period_from": date(2026, 2, 1), "period_to": date(2026, 2, 28),
        "stores": 10, "products": 200,
        "stockouts_prevented_pct": 75.0,  # 1 - 0.02 / 0.08
        "overstock_reduction_pct": 40.0,  # 1 - 600 / 1000
        "lost_sales_avoided": 3800.0,  # 5000 - 1200
        "turnover_change_pct": 35.0}  # 2.7 / 2 - 1


def test_a_zero_baseline_gives_no_ratio_and_no_run_gives_no_row(db):
    (row,) = run_query(db, "business_impact_latest", as_of=date(2026, 3, 6)).to_pylist()
    assert row["run_id"] == "r-later"
    assert (row["stockouts_prevented_pct"], row["overstock_reduction_pct"],
            row["turnover_change_pct"], row["lost_sales_avoided"]) == (None, None, None, -1.0)
    assert run_query(db, "business_impact_latest", as_of=date(2026, 2, 28)).num_rows == 0
