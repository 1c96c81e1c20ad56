"""``optimize_stock``: the lead-time regression's weekly training (``--train``) and the daily
recommendations of D from D's forecasts and stock (``--date D``). docs/models.md,
"Replenishment".

Inputs, all from the warehouse: the forecasts of run date D (``fact_ml_predictions``, the
newest model version written for D), the stock at the end of D, the recent mean demand and
the shelf life (``feature_store_daily``), pack size and supplier (``dim_product``), revenue
of the last 90 days for the ABC classes (``agg_product_daily``), the most each pair held in
that window for the shelf capacity, the planned promotions of D + 1 .. D + 7 and the lead
times from the registered regression.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.sources import arrow_for_spark
from retail.io.warehouse import Warehouse
from retail.ml.forecast.targets import target_rows
from retail.ml.registry import Registry, Training, VersionInfo
from retail.ml.replenishment import abc_classes, plan_orders, shelf_capacity
from retail.ml.replenishment.lead_time import LeadTimeModel, fit_lead_time, predict_lead_times
from retail.ml.settings import ReplenishmentSettings
from retail.transforms.replenishment import lead_time_rows
from retail.warehouse.keys import date_key

LEAD_TIME = "supplier_lead_time"
JOB = "optimize_stock"
WINDOW_DAYS = 90  # revenue (ABC), shelf capacity and typical order size look this far back
SHIPMENT_WEEKS = 26  # the lead-time regression learns from this many weeks of orders
SPREAD = "lead_time/spread.parquet"
# The simulator's (and many a chain's) lead times depend on the supplier alone, and then the
# regression is the supplier mean plus noise-sized terms: a new fit is promoted when its
# holdout MAE is within this share of the supplier mean's, or better.
TOLERANCE = 0.01


def _frame(spark: SparkSession, table: pa.Table) -> DataFrame:
    return spark.createDataFrame(arrow_for_spark(table))


# --- the lead-time regression ----------------------------------------------------------------
_SHIPMENTS = """
SELECT shipment_id, status, date_key, supplier_id, store_id, quantity, ordered_at, event_time
FROM fact_supplier_shipments FINAL
WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32}"""


@dataclass(frozen=True)
class LeadTimeTraining:
    fit: LeadTimeModel
    training: Training
    promoted: bool
    reason: str
    inputs: str  # the regression's inputs kept


def train_lead_time(spark: SparkSession, wh: Warehouse, registry: Registry,
                    settings: ReplenishmentSettings, as_of: date) -> LeadTimeTraining:
    """Fit the regression on the orders of the ``SHIPMENT_WEEKS`` weeks to ``as_of``; when
    on the holdout weeks it is more than ``TOLERANCE`` worse than the supplier-mean
    baseline (region, weekday and order size fitting noise, on a short history), fit the
    supplier-only regression instead, which is that baseline as a model; log and register
    the one kept (``inputs`` says which) and make it the champion when its holdout MAE is at
    most ``TOLERANCE`` above the baseline's on the same weeks (the regression has no
    parameters to tune: a newer fit of the same recipe is the point; the baseline is the bar
    it must clear)."""
    first = as_of - timedelta(weeks=SHIPMENT_WEEKS)
    shipments = _frame(spark, wh.query_arrow(
        _SHIPMENTS, {"first": date_key(first), "last": date_key(as_of + timedelta(days=60))}))
    stores = _frame(spark, wh.query_arrow("SELECT store_id, region FROM dim_store FINAL"))
    rows = lead_time_rows(shipments, stores).filter(F.col("order_date") <= F.lit(as_of))
    rows = rows.cache()
    inputs = "supplier, region, weekday, order size"
    fit = fit_lead_time(rows, holdout_weeks=settings.lead_time_holdout_weeks)
    if fit.metrics["mae"] > fit.metrics["baseline_mae"] * (1 + TOLERANCE):
        inputs = "supplier"
        fit = fit_lead_time(rows, holdout_weeks=settings.lead_time_holdout_weeks,
                            categorical=("supplier_id",), numeric=())
    with tempfile.TemporaryDirectory(prefix="retail-lead-time-") as tmp:
        spread = Path(tmp) / "spread.parquet"
        pq.write_table(fit.spread.toArrow(), spread)
        training = registry.log_training(
            LEAD_TIME, {"as_of": str(as_of), "weeks": SHIPMENT_WEEKS, "inputs": inputs,
                        "holdout_weeks": settings.lead_time_holdout_weeks},
            fit.metrics, fit.model, artifacts={"lead_time": spread},
            tags={"as_of": str(as_of)})
    mae, baseline = fit.metrics["mae"], fit.metrics["baseline_mae"]
    promoted = mae <= baseline * (1 + TOLERANCE)
    word = "is within" if promoted else "is not within"
    reason = (f"inputs {inputs}: holdout MAE {mae:.4g} days {word} {TOLERANCE:.0%} of the "
              f"supplier mean's {baseline:.4g} on the same {settings.lead_time_holdout_weeks} "
              "weeks, or below")
    if promoted:
        registry.promote(LEAD_TIME, training.version, reason, by="optimize_stock --train")
    return LeadTimeTraining(fit, training, promoted, reason, inputs)


def lead_time_champion(registry: Registry) -> VersionInfo:
    """The lead-time regression's champion (:class:`~retail.ml.registry.NoChampion` if
    none)."""
    return registry.require_champion(LEAD_TIME, "retail stock train-lead-time, or the job "
                                                "optimize_stock --train")


def load_lead_time(spark: SparkSession, registry: Registry) -> LeadTimeModel:
    """The champion regression with its per-supplier spread."""
    current = lead_time_champion(registry)
    with tempfile.TemporaryDirectory(prefix="retail-spread-") as tmp:
        spread = pq.read_table(registry.download(current, SPREAD, tmp))
    metrics = {k: float(v) for k, v in current.metrics.items()}
    return LeadTimeModel(registry.load_model(current), metrics, _frame(spark, spread))


# --- the daily recommendations ---------------------------------------------------------------
_FORECASTS = """
SELECT store_key, product_key, toDate(YYYYMMDDToDate(date_key)) AS target_date, horizon,
       predicted_demand AS forecast, confidence_low_95 AS lower_95,
       confidence_high_95 AS upper_95, model_version
FROM fact_ml_predictions FINAL
WHERE model_name = 'demand_forecast' AND run_date = {day:Date}
  AND model_version = (SELECT argMax(model_version, predicted_at) FROM fact_ml_predictions
                       WHERE model_name = 'demand_forecast' AND run_date = {day:Date})"""
_POSITIONS = """
SELECT f.store_key AS store_key, f.product_key AS product_key, f.store_id AS store_id,
       f.product_id AS product_id, f.on_hand AS on_hand, f.on_order AS on_order,
       f.shelf_life_days AS shelf_life_days, f.region AS region,
       f.demand_mean_30 AS baseline_demand, p.supplier_id AS supplier_id,
       toInt32(p.pack_size) AS pack_size
FROM feature_store_daily AS f FINAL
LEFT JOIN (SELECT product_id, supplier_id, pack_size FROM dim_product FINAL) AS p
    ON p.product_id = f.product_id
WHERE f.date = {day:Date}"""
_HELD = """
SELECT store_key, product_key, on_hand FROM feature_store_daily FINAL
WHERE date BETWEEN {first:Date} AND {day:Date}"""
_REVENUE = """
SELECT product_key, toFloat64(sum(revenue)) AS revenue FROM agg_product_daily
WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} GROUP BY product_key"""
_ORDER_SIZE = """
SELECT store_key, product_key, avg(quantity) AS order_qty FROM fact_supplier_shipments FINAL
WHERE status = 'ordered' AND date_key BETWEEN {first:UInt32} AND {last:UInt32}
GROUP BY store_key, product_key"""


class NoForecasts(ValueError):
    """No forecast of the run date in fact_ml_predictions."""


@dataclass(frozen=True)
class ReplenishmentDay:
    day: date
    model_version: str
    pairs: int
    orders: int
    units: int
    seconds: float

    def as_details(self) -> dict:
        return {"day": str(self.day), "model_version": self.model_version, "pairs": self.pairs,
                "orders": self.orders, "units": self.units, "seconds": round(self.seconds, 1)}


def positions(spark: SparkSession, wh: Warehouse, lead: LeadTimeModel,
              settings: ReplenishmentSettings, day: date) -> DataFrame:
    """The rules' ``positions`` of the end of D (:mod:`retail.transforms.replenishment`)."""
    first = day - timedelta(days=WINDOW_DAYS - 1)
    window = {"first": date_key(first), "last": date_key(day)}
    pos = _frame(spark, wh.query_arrow(_POSITIONS, {"day": day}))
    held = _frame(spark, wh.query_arrow(_HELD, {"first": first, "day": day}))
    revenue = _frame(spark, wh.query_arrow(_REVENUE, window))
    sizes = _frame(spark, wh.query_arrow(_ORDER_SIZE, window))
    pairs = (pos.join(sizes, on=["store_key", "product_key"], how="left")
             .withColumn("order_qty", F.coalesce("order_qty", F.col("pack_size").cast("double")))
             .withColumn("order_weekday", F.lit(day.isoweekday())))
    return (predict_lead_times(lead, pairs)
            .join(abc_classes(revenue, settings).select("product_key", "abc_class"),
                  on="product_key", how="left")
            .join(shelf_capacity(held, settings), on=["store_key", "product_key"], how="left"))


def optimize_day(spark: SparkSession, wh: Warehouse, lead: LeadTimeModel,
                 settings: ReplenishmentSettings, day: date) -> ReplenishmentDay:
    """The recommendations of D into ``fact_replenishment``, and each pair's order into
    its horizon-1 prediction row's ``recommended_order_qty`` (the order is placed on D; the
    other horizons keep 0, so a sum over rows counts each order once)."""
    started = time.monotonic()
    forecast = wh.query_arrow(_FORECASTS, {"day": day})
    if forecast.num_rows == 0:
        raise NoForecasts(f"fact_ml_predictions has no forecast made on {day}: run "
                          f"predict_daily first (retail forecast predict --date {day})")
    version = forecast["model_version"][0].as_py()
    # the planned promotions of the days the forecasts cover
    horizon = int(pc.max(forecast["horizon"]).as_py())
    planned = target_rows(spark, wh, day, horizon).select(
        "store_key", "product_key", F.col("date").alias("target_date"), "on_promotion")
    forecasts = _frame(spark, forecast.drop(["model_version"])).join(
        planned, on=["store_key", "product_key", "target_date"], how="left")
    pos = positions(spark, wh, lead, settings, day).cache()
    plan = plan_orders(forecasts, pos, settings, as_of=day).join(
        pos.select("store_key", "product_key", "store_id", "product_id"),
        on=["store_key", "product_key"])
    rows = _replenishment_rows(plan, day, version).toArrow()
    pos.unpersist()
    wh.insert_arrow("fact_replenishment", rows)
    _set_orders(wh, day, version, rows)
    return ReplenishmentDay(day, version, rows.num_rows,
                            int(pc.sum(pc.greater(rows["order_qty"], 0)).as_py() or 0),
                            int(pc.sum(rows["order_qty"]).as_py() or 0),
                            time.monotonic() - started)


def _replenishment_rows(plan: DataFrame, day: date, version: str) -> DataFrame:
    return plan.select(
        F.lit(date_key(day)).cast("int").alias("date_key"), F.lit(day).alias("run_date"),
        "order_by_date", "store_id", "product_id", "store_key", "product_key",
        F.col("on_hand").cast("int").alias("on_hand"),
        F.coalesce(F.col("on_order"), F.lit(0)).cast("int").alias("on_order"),
        "forecast_lead_review", "safety_stock", "reorder_point", "order_up_to",
        F.col("order_qty").cast("int").alias("order_qty"),
        F.col("pack_size").cast("int").alias("pack_size"), "reasons",
        F.col("stock_out_risk").cast("float").alias("stock_out_risk"),
        F.col("lead_time_days").cast("float").alias("lead_time_days"),
        F.col("lead_time_sd_days").cast("float").alias("lead_time_sd_days"),
        F.col("service_level").cast("float").alias("service_level"), "abc_class",
        F.lit(version).alias("model_version"))


_HORIZON_1 = """
SELECT * EXCEPT (recommended_order_qty, predicted_at) FROM fact_ml_predictions FINAL
WHERE model_name = 'demand_forecast' AND run_date = {day:Date} AND horizon = 1
  AND model_version = {version:String}"""


def _set_orders(wh: Warehouse, day: date, version: str, rows: pa.Table) -> None:
    current = wh.query_arrow(_HORIZON_1, {"day": day, "version": version})
    orders = rows.select(["store_key", "product_key", "order_qty"])
    joined = current.join(orders, ["store_key", "product_key"], join_type="left outer")
    qty = pc.fill_null(joined["order_qty"], 0).cast(pa.int64())
    wh.insert_arrow("fact_ml_predictions", joined.drop(["order_qty"]).append_column(
        "recommended_order_qty", qty))
