"""The daily predictions' rows: each forecast of D + h with its stock-out risk, shaped as
``fact_ml_predictions`` holds them. Nothing here reads IO.

Stock-out risk of the row of T = D + h: the probability that the demand of D + 1 .. T
exceeds the units on hand at the end of D, the demand of each day normal with the forecast
as mean and the sd its 95 % interval implies ((upper_95 - lower_95) / (2 x 1.96)), days
independent (so the variances add). Deliveries due before T are not counted: the risk says
how soon the shelf runs out without them. The replenishment's risk (over the lead time,
against on hand + on order) is the one an order is judged by (docs/models.md, "Stock-out
risk, two ways").
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from retail.transforms.replenishment import Z_95, normal_upper_tail

KEY = ["store_key", "product_key"]


def with_stock_out_risk(forecasts: DataFrame, stock: DataFrame) -> DataFrame:
    """``forecasts`` (``store_key, product_key, horizon, forecast, lower_95, upper_95``) with
    ``stock_out_risk`` from ``stock`` (``store_key, product_key, on_hand`` at the end of
    D). A pair without a stock row is treated as holding nothing (its risk is that of any
    demand at all)."""
    daily_sd = (F.col("upper_95") - F.col("lower_95")) / (2 * Z_95)
    upto = Window.partitionBy(*KEY).orderBy("horizon").rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    joined = forecasts.join(stock.select(*KEY, "on_hand"), on=KEY, how="left")
    cumulative = joined.select(
        "*", F.sum("forecast").over(upto).alias("_mean"),
        F.sqrt(F.sum(daily_sd * daily_sd).over(upto)).alias("_sd"))
    on_hand = F.greatest(F.coalesce(F.col("on_hand").cast("double"), F.lit(0.0)), F.lit(0.0))
    return cumulative.select(
        *forecasts.columns, _risk(F.col("_mean"), F.col("_sd"), on_hand).alias("stock_out_risk"))


def _risk(mean: Column, sd: Column, on_hand: Column) -> Column:
    """P(N(mean, sd) > on_hand); a certain demand (sd 0) is 1 above the stock, else 0."""
    certain = F.when(mean > on_hand, 1.0).otherwise(0.0)
    return F.when(sd > 0, normal_upper_tail((on_hand - mean) / sd)).otherwise(certain)


def prediction_rows(scored: DataFrame, *, model_name: str, model_version: str) -> DataFrame:
    """``fact_ml_predictions`` rows of the scored forecasts (with ``stock_out_risk``):
    the 80 % pair as ``confidence_low/high``, the 95 % pair beside it, a prediction id
    derived from the row's key (a re-run writes the same ids), no order yet (0 until
    ``optimize_stock`` runs)."""
    key = F.concat_ws("|", F.col("store_id"), F.col("product_id"),
                      F.date_format("target_date", "yyyyMMdd"), F.col("horizon"),
                      F.lit(model_version))
    digest = F.md5(key)
    uuid = F.concat_ws("-", *(F.substring(digest, start, n) for start, n in
                              ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))))
    return scored.select(
        uuid.alias("prediction_id"),
        F.date_format("target_date", "yyyyMMdd").cast("int").alias("date_key"),
        "store_id", "product_id", "store_key", "product_key",
        F.col("horizon").cast("int").alias("horizon"),
        F.col("forecast").cast("double").alias("predicted_demand"),
        F.col("lower_80").cast("double").alias("confidence_low"),
        F.col("upper_80").cast("double").alias("confidence_high"),
        F.col("lower_95").cast("double").alias("confidence_low_95"),
        F.col("upper_95").cast("double").alias("confidence_high_95"),
        F.col("stock_out_risk").cast("float").alias("stock_out_risk_score"),
        F.lit(0).cast("int").alias("recommended_order_qty"),
        F.lit(model_name).alias("model_name"), F.lit(model_version).alias("model_version"))
