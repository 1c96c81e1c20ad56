"""The business-impact report (retail.business.report) on hand-built ledgers: the targets
read as bounds on platform / baseline, the document's table and the three PNG plots."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from retail.business.accuracy import ForecastAccuracy
from retail.business.experiment import Arm, Experiment, Outcome
from retail.business.platform_arm import JobSeconds
from retail.business.report import markdown, plot, targets_met
from retail.business.runner import BusinessRun
from retail.settings import Settings
from tests.pkg.business.test_metrics import D1, D2, ROWS, ledger

# the same pairs and days, ordered better: one lost sale, less overstock
BETTER = [  # day, pair, closing, sold, expired, lost units, lost value, orders, units ordered
    (D1, 0, 5, 4, 0, 0, 0.0, 1, 10), (D2, 0, 6, 4, 0, 0, 0.0, 0, 0),
    (D1, 1, 2, 5, 0, 1, 15.0, 1, 8), (D2, 1, 3, 2, 0, 0, 0.0, 0, 0),
    (D1, 2, 5, 0, 0, 0, 0.0, 0, 0), (D2, 2, 5, 0, 0, 0, 0.0, 0, 0),
]
EXP = Experiment(stores=2, products=10, seed=7, warmup_weeks=5, compare_weeks=1,
                 feature_days=35)
ACCURACY = ForecastAccuracy([{"horizon": 1, "n": 6, "actual": 20.0, "forecast_error": 3.0,
                              "naive_error": 10.0}])


def business_run(baseline_rows, platform_rows) -> BusinessRun:
    jobs = SimpleNamespace(settings=Settings(forecast={"train_fraction": 0.25}),
                           seconds=JobSeconds({"features": 120.0, "predict": 60.0}),
                           trainings=[{"as_of": D1, "forecast_version": "3",
                                       "forecast_promoted": True, "forecast_wape": 0.41,
                                       "lead_time_promoted": False}])
    outcome = Outcome(EXP, Arm("baseline", [ledger(baseline_rows)]),
                      Arm("platform", [ledger(platform_rows)]), jobs, expected=None,
                      baseline_expected=None)
    return BusinessRun("20261207t100000-2x10-s7", outcome, ACCURACY, 754.0,
                       datetime(2026, 12, 7, 10, tzinfo=timezone.utc))


def test_the_targets_are_bounds_on_the_ratio_and_the_document_says_which_are_met():
    run = business_run(ROWS, BETTER)
    # stock-outs 1/6 vs 3/6 (0.33x), overstock value 5 vs 100, turnover 86/41 vs 34/170,
    # lost value 15 vs 78, WAPE 0.15 vs 0.5 (0.3x)
    assert targets_met(run) == {"stockout_rate": True, "overstock_value": True,
                                "turnover": True, "lost_value": True, "forecast_wape": True}
    text = markdown(run, "img/business-impact")
    assert ("| stock-out rate (pair-days with a lost sale) | 50.00% | 16.67% | 0.33x | "
            "stock-outs -50 % | yes |") in text
    assert "| inventory turnover (COGS / average inventory) | 0.20 | 2.10 | 10.49x |" in text
    assert "| forecast WAPE (baseline: seasonal naive) | 0.500 | 0.150 | 0.30x |" in text
    assert "**all met**" in text and "run time 12.6 min" in text
    assert "forecast train_fraction 0.25, backtest_origins 4" in text
    assert "| 1 | 6 | 0.150 | 0.500 | 0.30x |" in text
    assert "![Daily stock-out rate of both arms](img/business-impact/stockout-rate.png)" in text

    worse = business_run(BETTER, ROWS)
    assert targets_met(worse) == {"stockout_rate": False, "overstock_value": False,
                                  "turnover": False, "lost_value": False,
                                  "forecast_wape": True}
    text = markdown(worse, "img")
    assert "**not all met**" in text and "| 3.00x | stock-outs -50 % | **no** |" in text


def test_the_plots_are_pngs_of_both_arms(tmp_path):
    paths = plot(business_run(ROWS, BETTER), tmp_path / "img")
    assert [p.name for p in paths] == ["stockout-rate.png", "inventory-value.png",
                                       "lost-sales-by-category.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000


def test_a_run_without_a_compared_day_has_no_report():
    with pytest.raises(ValueError, match="no day was compared"):
        markdown(business_run([], BETTER), "img")
