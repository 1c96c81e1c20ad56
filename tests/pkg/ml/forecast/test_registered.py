"""What a training logs: the model's metrics and each baseline's, flattened for MLflow, and
the feature importance as shares of 1 in the warehouse."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from retail.ml.forecast.registered import run_metrics, write_importance
from retail.ml.forecast.training import TrainingResult


def _row(model, wape, *, sample="all", horizon=None, level="store_product_day"):
    return {"level": level, "sample": sample, "horizon": horizon, "model": model, "rows": 10,
            "wape": wape, "mae": wape * 2, "bias": -0.01, "rmsse": float("nan")}


def _result(**kw) -> TrainingResult:
    metrics = [_row("gbt", 0.30), _row("seasonal_naive", 0.40), _row("mean_28", 0.35),
               _row("oracle", 0.25), _row("gbt", 0.28, horizon=1), _row("gbt", 0.33, horizon=7),
               _row("gbt", 0.20, level="store_category_week"),
               _row("ets", 0.45, sample="ets_sample"), _row("gbt", 0.31, sample="ets_sample")]
    ratios = {"gbt": {"wape": 0.30, "to_seasonal_naive": 0.75, "to_oracle": 1.2},
              "seasonal_naive": {"wape": 0.40, "to_seasonal_naive": 1.0, "to_oracle": 1.6},
              "ets": {"wape": 0.45, "to_seasonal_naive": 1.1, "to_oracle": float("nan")}}
    return TrainingResult(model=None, params={}, as_of=date(2026, 9, 13), folds=[],
                          tuning=[], metrics=metrics, ratios=ratios, quantiles=pa.table({}),
                          coverage={"80": 0.79, "95": 0.94}, feature_importance=[],
                          backtest=pa.table({}), seconds=12.0, score=0.29, **kw)


def test_the_run_logs_the_promotion_score_the_pooled_wape_and_each_horizon():
    metrics, baselines = run_metrics(_result())
    assert metrics["wape"] == 0.29 and metrics["wape_all"] == 0.30  # mean over origins, pooled
    assert metrics["mae"] == 0.60 and "rmsse" not in metrics  # NaN is left out
    assert (metrics["wape_h1"], metrics["wape_h7"]) == (0.28, 0.33)
    assert metrics["coverage_80"] == 0.79 and metrics["train_seconds"] == 12.0
    assert metrics["wape_to_seasonal_naive"] == 0.75 and metrics["wape_to_oracle"] == 1.2


def test_each_baseline_is_logged_with_its_ratios_the_statistical_one_on_its_sample():
    _, baselines = run_metrics(_result())
    assert set(baselines) == {"seasonal_naive", "mean_28", "oracle", "ets"}
    assert baselines["ets"]["wape"] == 0.45 and baselines["ets"]["wape_to_seasonal_naive"] == 1.1
    assert "wape_to_oracle" not in baselines["ets"]  # NaN
    assert baselines["seasonal_naive"]["wape_to_oracle"] == 1.6


def test_the_feature_importance_is_stored_as_ranked_shares(migrated):
    written = write_importance(migrated, "7", [{"feature": "rel_demand_mean_7", "importance": 3.0},
                                                {"feature": "target_on_promotion", "importance": 1.0}])
    assert written == 2
    rows = migrated.query_rows("SELECT feature, importance, rank, importance_type FROM "
                               "model_feature_importance FINAL WHERE model_version = '7' "
                               "ORDER BY rank")
    assert rows == [("rel_demand_mean_7", 0.75, 1, "gain"), ("target_on_promotion", 0.25, 2,
                                                            "gain")]
