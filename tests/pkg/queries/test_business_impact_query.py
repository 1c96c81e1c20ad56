"""business_impact_latest: the newest closed-loop run on or before as_of (the platform as it
is, not an attribution variant), its four figures (hand-checked), through
bi_business_impact on the real local warehouse; and the report's attribution table, read
from business_impact and rewritten in place in a report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from retail.business.experiment import Experiment
from retail.business.report import attribution, refresh_attribution
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


# the attribution's runs: one chain and period (EXP's), created after every as_of above
EXP = Experiment(stores=10, products=200, seed=42, start=date(2026, 1, 5), warmup_weeks=5,
                 compare_weeks=1, feature_days=35)  # compares 2026-02-09 .. 02-15
ATTRIBUTION = [  # run, variant, period from, created day, stockout rate baseline/platform
    ("a-old", "", date(2026, 2, 9), 1, 0.10, 0.08),
    ("a-new", "", date(2026, 2, 9), 2, 0.10, 0.06),
    ("a-fc", "oracle:forecast", date(2026, 2, 9), 3, 0.10, 0.04),
    ("a-other", "oracle:caps", date(2026, 2, 16), 4, 0.10, 0.01),  # another period
]


def load_attribution(wh) -> None:
    rows = [{"run_id": run, "arm": arm, "variant": variant, "metric": "stockout_rate",
             "value": value, "period_from": first, "period_to": date(2026, 2, 15),
             "stores": 10, "products": 200, "seed": 42,
             "created_at": datetime(2026, 4, day, tzinfo=timezone.utc)}
            for run, variant, first, day, base, plat in ATTRIBUTION
            for arm, value in (("baseline", base), ("platform", plat))]
    wh.insert_arrow("business_impact", pa.Table.from_pylist(rows, schema=IMPACT_SCHEMA))


@pytest.fixture(scope="module")
def db(warehouse_settings) -> Iterator:
    with hand_built(warehouse_settings, load, load_attribution) as wh:
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


def test_the_attribution_takes_the_newest_run_of_each_variant_of_the_period(db):
    got = attribution(db, EXP)
    assert list(got) == ["", "oracle:forecast"]
    assert (got[""]["run"], got["oracle:forecast"]["run"]) == ("a-new", "a-fc")
    assert got[""]["stockout_rate"] == pytest.approx(0.6)
    assert got["oracle:forecast"]["stockout_rate"] == pytest.approx(0.4)
    assert got[""]["turnover"] != got[""]["turnover"]  # no such metric: nan, shown as "-"


def test_a_reports_attribution_section_is_rewritten_in_place(db, tmp_path):
    doc = tmp_path / "business-impact.md"
    doc.write_text("# Business impact\n\n## Results\n\nkept\n\n## Plots\n\n![a](img/a.png)\n")
    assert refresh_attribution(doc, db, EXP)
    once = doc.read_text()
    assert once.index("## Results") < once.index("## Attribution") < once.index("## Plots")
    assert "| oracle:forecast | `a-fc` | 0.40x | - |" in once and "kept" in once
    assert "![a](img/a.png)" in once
    assert refresh_attribution(doc, db, EXP) and doc.read_text() == once  # replaced, not added
    other = tmp_path / "other.md"
    other.write_text("no report here\n")
    assert not refresh_attribution(other, db, EXP) and other.read_text() == "no report here\n"
    assert not refresh_attribution(tmp_path / "missing.md", db, EXP)
