"""Anomalies in the stream: sales spikes and drops, high-value baskets, price moves.

Inventory discrepancies live with the inventory transforms (they need the running level).
"""

from __future__ import annotations

from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retail.transforms.alerts import alert_columns

MAD_TO_SIGMA = 0.6745  # robust z = 0.6745 (x - median) / MAD (Iglewicz & Hoaglin)


def sales_anomalies(windows: DataFrame, history: DataFrame, *, z_threshold: float,
                    min_history: int) -> DataFrame:
    """Spikes and drops of a store's revenue in a window against its recent windows.

    ``windows`` (to judge) and ``history`` (the baseline) have ``store_id, window_start,
    revenue``. A store needs ``min_history`` baseline windows and some spread (MAD > 0).
    """
    base_aggs, mad_agg, z, enough, spike_cols, drop_cols = _spike_columns(z_threshold,
                                                                           min_history)
    baseline = history.groupBy("store_id").agg(*base_aggs)
    spread = (history.join(baseline, on="store_id", how="inner")
              .groupBy("store_id").agg(mad_agg))
    judged = (windows.join(baseline, on="store_id", how="inner")
              .join(spread, on="store_id", how="inner")
              .select("*", z, F.col("window_start").alias("event_time")))
    flagged = judged.where(enough)
    spikes = flagged.where(F.col("z") > 0).select(*spike_cols)
    drops = flagged.where(F.col("z") < 0).select(*drop_cols)
    return spikes.unionByName(drops)


@cache
def _spike_columns(z_threshold: float, min_history: int):
    base_aggs = [F.median("revenue").cast("double").alias("median"),
                 F.count(F.lit(1)).alias("n")]
    mad_agg = F.median(F.abs(F.col("revenue") - F.col("median"))).alias("mad")
    z = (F.lit(MAD_TO_SIGMA) * (F.col("revenue") - F.col("median")) / F.col("mad")).alias("z")
    enough = (F.col("n") >= min_history) & (F.col("mad") > 0) \
        & (F.abs(F.col("z")) > z_threshold)
    severity = F.when(F.abs(F.col("z")) > 2 * z_threshold, "high").otherwise("medium")
    details = {"window_start": F.col("window_start"), "revenue": F.col("revenue"),
               "baseline_median": F.col("median"), "mad": F.col("mad"), "z": F.col("z"),
               "baseline_windows": F.col("n")}
    common = {"severity": severity, "metric": F.col("z"), "details": details,
              "product": F.lit("")}
    spike_cols = alert_columns(alert_type="sales_spike", threshold=z_threshold, **common)
    drop_cols = alert_columns(alert_type="sales_drop", threshold=-z_threshold, **common)
    return base_aggs, mad_agg, z, enough, spike_cols, drop_cols


def high_value_transactions(sales: DataFrame, *, threshold: float) -> DataFrame:
    """Baskets (sale lines of one ``transaction_id``) worth more than ``threshold``.

    ``sales``: ``store_id, transaction_id, transaction_type, revenue, event_time``. A basket
    whose lines straddle two micro-batches is judged per part.
    """
    sold, basket, big, alerts = _basket_columns(threshold)
    return (sales.where(sold).groupBy("store_id", "transaction_id").agg(*basket)
            .where(big).select(*alerts))


@cache
def _basket_columns(threshold: float) -> tuple[Column, list[Column], Column, list[Column]]:
    basket = [F.sum("revenue").cast("double").alias("total"), F.count(F.lit(1)).alias("lines"),
              F.max("event_time").alias("event_time")]
    severity = F.when(F.col("total") > 2 * threshold, "high").otherwise("medium")
    alerts = alert_columns(alert_type="high_value_transaction", severity=severity,
                           metric=F.col("total"), threshold=threshold, product=F.lit(""),
                           details={"transaction_id": F.col("transaction_id"),
                                    "total": F.col("total"), "lines": F.col("lines")})
    return F.col("transaction_type") == "sale", basket, F.col("total") > threshold, alerts


def suspicious_price_changes(changes: DataFrame, products: DataFrame, *,
                             max_change_pct: float) -> DataFrame:
    """Price moves larger than ``max_change_pct`` either way, or a new price below cost.

    ``changes``: ``store_id, product_id, old_price, new_price, change_type, event_time``;
    ``products``: ``product_id, unit_cost``.
    """
    cost, flagged, alerts = _price_columns(max_change_pct)
    priced = changes.join(F.broadcast(products.select(*cost)), on="product_id", how="left")
    return priced.where(flagged).select(*alerts)


@cache
def _price_columns(max_change_pct: float) -> tuple[list[Column], Column, list[Column]]:
    pct = (F.col("new_price") - F.col("old_price")) / F.col("old_price") * 100
    too_far = F.abs(pct) > max_change_pct
    below_cost = F.col("unit_cost").isNotNull() & (F.col("new_price") < F.col("unit_cost"))
    severity = F.when(below_cost | (F.abs(pct) > 2 * max_change_pct), "high") \
        .otherwise("medium")
    alerts = alert_columns(alert_type="suspicious_price_change", severity=severity,
                           metric=pct, threshold=max_change_pct,
                           details={"old_price": F.col("old_price"),
                                    "new_price": F.col("new_price"),
                                    "unit_cost": F.col("unit_cost"),
                                    "change_type": F.col("change_type"),
                                    "below_cost": below_cost})
    return [F.col("product_id"), F.col("unit_cost")], too_far | below_cost, alerts
