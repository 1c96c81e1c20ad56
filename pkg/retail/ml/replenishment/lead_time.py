"""Supplier lead time: an MLlib linear regression of days from order to delivery on
supplier, region, order size and weekday; its residual spread is the lead-time
uncertainty the safety stock uses.

Scored on a time-based holdout (the orders of the last weeks, never a random split)
against the baseline every planner already has, the supplier's mean lead time; then
refitted on every row, so the model the rules use has seen the latest weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.regression import LinearRegression
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

CATEGORICAL = ("supplier_id", "region", "order_weekday")
NUMERIC = ("order_qty",)
LABEL = "lead_time_days"
# A supplier's spread needs a few deliveries; with fewer it takes everyone's.
MIN_SPREAD_ROWS = 5


@dataclass(frozen=True)
class LeadTimeModel:
    """The fitted pipeline, its holdout metrics and the residual spread per supplier.

    ``metrics``: ``mae, rmse`` of the model and ``baseline_mae, baseline_rmse`` of the
    supplier's mean on the holdout, ``residual_sd`` (every row, refitted model),
    ``n_train, n_test``. ``spread``: ``supplier_id, lead_time_sd_days, deliveries``.
    """

    model: PipelineModel
    metrics: dict[str, float]
    spread: DataFrame


def lead_time_pipeline(categorical: tuple[str, ...] = CATEGORICAL,
                       numeric: tuple[str, ...] = NUMERIC) -> Pipeline:
    """One-hot supplier, region and weekday (an unseen or null value is all zeros: the
    baseline of its block), the order size as is, and a least-squares LinearRegression.
    ``categorical=("supplier_id",), numeric=()`` is the supplier mean as a regression."""
    indexed = [f"{c}_index" for c in categorical]
    onehot = [f"{c}_onehot" for c in categorical]
    return Pipeline(stages=[
        StringIndexer(inputCols=list(categorical), outputCols=indexed, handleInvalid="keep",
                      stringOrderType="alphabetAsc"),
        OneHotEncoder(inputCols=indexed, outputCols=onehot),
        VectorAssembler(inputCols=[*onehot, *numeric], outputCol="features"),
        # A one-hot block keeps every category seen (its "unseen" slot is the one dropped),
        # so with the intercept the columns are collinear: a touch of ridge keeps the
        # normal equations solvable without moving the fit.
        LinearRegression(featuresCol="features", labelCol=LABEL, predictionCol="prediction",
                         regParam=1e-6, elasticNetParam=0.0),
    ])


def fit_lead_time(rows: DataFrame, *, holdout_weeks: int,
                  categorical: tuple[str, ...] = CATEGORICAL,
                  numeric: tuple[str, ...] = NUMERIC) -> LeadTimeModel:
    """Fit on the orders before the last ``holdout_weeks`` weeks, score on those weeks,
    refit on all rows (``categorical``, ``numeric``: the inputs, :func:`lead_time_pipeline`).

    ``rows``: :func:`retail.transforms.replenishment.lead_time_rows`.

    Raises:
        ValueError: the history does not cover both a training part and the holdout.
    """
    last = rows.agg(F.max("order_date")).first()[0]
    if last is None:
        raise ValueError("no delivered shipments to learn lead times from: load "
                         "fact_supplier_shipments (ordered and delivered rows) first")
    start = last - timedelta(days=7 * holdout_weeks - 1)
    in_holdout = F.col("order_date") >= F.lit(start)
    train, test = rows.where(~in_holdout).cache(), rows.where(in_holdout).cache()
    n_train, n_test = train.count(), test.count()
    if n_train == 0 or n_test == 0:
        raise ValueError(f"the lead-time holdout starts {start}: the orders need history "
                         f"before it (train {n_train} rows, holdout {n_test}); load more "
                         "weeks or lower RETAIL_REPLENISHMENT__LEAD_TIME_HOLDOUT_WEEKS")
    pipeline = lead_time_pipeline(categorical, numeric)
    scored = pipeline.fit(train).transform(test)
    baseline = _supplier_mean(train)
    scored = scored.join(F.broadcast(baseline), on="supplier_id", how="left").withColumn(
        "baseline", F.coalesce("supplier_mean", F.lit(_mean(train))))
    metrics = {**_errors(scored, "prediction", ""), **_errors(scored, "baseline", "baseline_"),
               "n_train": float(n_train), "n_test": float(n_test)}
    train.unpersist()
    test.unpersist()
    model = pipeline.fit(rows)
    residual = F.col(LABEL) - F.col("prediction")
    fitted = model.transform(rows).select("supplier_id", residual.alias("residual")).cache()
    overall = fitted.agg(F.stddev_samp("residual")).first()[0] or 0.0
    metrics["residual_sd"] = float(overall)
    spread = _spread(fitted, overall)
    return LeadTimeModel(model=model, metrics=metrics, spread=spread)


def predict_lead_times(fit: LeadTimeModel, pairs: DataFrame) -> DataFrame:
    """Add ``lead_time_days`` (the model's, at least 0) and ``lead_time_sd_days`` (the
    supplier's residual spread, or everyone's) to ``pairs``, which carries the features
    ``supplier_id, region, order_qty, order_weekday``."""
    predicted = fit.model.transform(pairs)
    extra = [c for c in predicted.columns if c not in pairs.columns]
    spread = F.coalesce("lead_time_sd_days", F.lit(fit.metrics["residual_sd"]))
    return (predicted.withColumn(LABEL, F.greatest("prediction", F.lit(0.0))).drop(*extra)
            .join(F.broadcast(fit.spread.drop("deliveries")), on="supplier_id", how="left")
            .withColumn("lead_time_sd_days", spread))


def _supplier_mean(rows: DataFrame) -> DataFrame:
    return rows.groupBy("supplier_id").agg(F.avg(LABEL).alias("supplier_mean"))


def _mean(rows: DataFrame) -> float:
    return float(rows.agg(F.avg(LABEL)).first()[0])


def _errors(scored: DataFrame, prediction: str, prefix: str) -> dict[str, float]:
    error = F.col(LABEL) - F.col(prediction)
    mae, mse = scored.agg(F.avg(F.abs(error)), F.avg(error * error)).first()
    return {f"{prefix}mae": float(mae), f"{prefix}rmse": float(mse) ** 0.5}


def _spread(fitted: DataFrame, overall: float) -> DataFrame:
    enough = F.count(F.lit(1)) >= MIN_SPREAD_ROWS
    sd = F.when(enough, F.stddev_samp("residual")).otherwise(F.lit(overall))
    return fitted.groupBy("supplier_id").agg(
        sd.alias("lead_time_sd_days"), F.count(F.lit(1)).alias("deliveries"))
