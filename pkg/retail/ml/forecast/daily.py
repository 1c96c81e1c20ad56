"""``predict_daily --date D``: the champion's forecasts of D + 1 .. D + 7 for every store x
product in the feature store on D, with 80 % and 95 % intervals and the stock-out risk, into
``fact_ml_predictions`` (docs/models.md, "Daily predictions").

Idempotent per run date and model version: the table's key is (store, product, target day,
horizon, model version) and the run date is target day - horizon, so a re-run replaces its
rows (ReplacingMergeTree; exact reads use FINAL) and a new champion writes beside them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from retail.batch.runner import each_day
from retail.features.training import read_store
from retail.io.warehouse import Warehouse
from retail.ml.forecast.registered import MODEL, Forecaster, load_forecaster
from retail.ml.forecast.targets import target_rows
from retail.ml.forecast.training import predict
from retail.ml.registry import Registry
from retail.transforms.forecast import MEAN_DAYS, scoring_rows
from retail.transforms.predictions import prediction_rows, with_stock_out_risk

JOB = "predict_daily"
TABLE = "fact_ml_predictions"
# the history predictions read (on_promotion: the model's promo_days_28 and
# base_demand_mean_28 count the promotion days of the 28, retail.transforms.forecast)
HISTORY = ("store_key", "product_key", "date", "demand", "on_promotion")


class NoFeatures(ValueError):
    """The feature store has no row of the run date."""


@dataclass(frozen=True)
class PredictionDay:
    day: date
    model_version: str
    pairs: int
    rows: int
    seconds: float

    def as_details(self) -> dict:
        return {"day": str(self.day), "model": MODEL, "model_version": self.model_version,
                "pairs": self.pairs, "rows": self.rows, "seconds": round(self.seconds, 1)}


def predict_day(spark: SparkSession, wh: Warehouse, forecaster: Forecaster, day: date, *,
                horizon: int = 7) -> PredictionDay:
    """Forecast D + 1 .. D + ``horizon`` from the feature store's last 28 days to D and
    write them.

    Raises:
        NoFeatures: D is not in the feature store.
        ValueError: the target days' calendar or promotion plan is missing
            (:func:`~retail.ml.forecast.targets.target_rows`).
    """
    started = time.monotonic()
    today = read_store(spark, wh, day, day).cache()
    try:
        pairs = today.count()
        if pairs == 0:
            raise NoFeatures(f"feature_store_daily has no row of {day}: build it first "
                             f"(retail features build --date {day})")
        # 28 days: D's 28-day mean, and the 4 same weekdays before each target's week; of
        # the days before D only the demand is read (a tenth of the columns)
        before = read_store(spark, wh, day - timedelta(days=MEAN_DAYS - 1),
                            day - timedelta(days=1), columns=HISTORY)
        store = today.unionByName(before, allowMissingColumns=True)
        rows = scoring_rows(store, target_rows(spark, wh, day, horizon), day=day,
                            horizons=range(1, horizon + 1))
        scored = predict(forecaster.model, rows, forecaster.quantiles)
        risky = with_stock_out_risk(scored, today.select("store_key", "product_key",
                                                         "on_hand"))
        table = prediction_rows(risky, model_name=MODEL,
                                model_version=forecaster.version.version).toArrow()
    finally:
        today.unpersist()
    wh.insert_arrow(TABLE, table)
    return PredictionDay(day, forecaster.version.version, pairs, table.num_rows,
                         time.monotonic() - started)


def predict_days(spark: SparkSession, wh: Warehouse, registry: Registry, days: list[date], *,
                 horizon: int = 7, on_day: Callable[[PredictionDay], None] | None = None,
                 forecaster: Forecaster | None = None) -> list[PredictionDay]:
    """Load the champion once (unless given, as one already loaded), then predict each day
    in turn with a ``job_runs`` row each; stop at the first that fails."""
    forecaster = forecaster or load_forecaster(registry)
    return each_day(wh, JOB, days,
                    lambda d: predict_day(spark, wh, forecaster, d, horizon=horizon),
                    lambda r: ("succeeded", r.pairs, r.rows, r.as_details()), on_day)
