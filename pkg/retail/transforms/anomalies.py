"""Anomalies in the stream: sales spikes and drops, high-value baskets, price moves.

Inventory discrepancies live with the inventory transforms (they need the running level).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail.transforms.alerts import as_alerts

MAD_TO_SIGMA = 0.6745  # robust z = 0.6745 (x - median) / MAD (Iglewicz & Hoaglin)


def sales_anomalies(windows: DataFrame, history: DataFrame, *, z_threshold: float,
                    min_history: int) -> DataFrame:
    """Spikes and drops of a store's revenue in a window against its recent windows.

    ``windows`` (to judge) and ``history`` (the baseline) have ``store_id, window_start,
    revenue``. A store needs ``min_history`` baseline windows and some spread (MAD > 0).
    """
    baseline = history.groupBy("store_id").agg(
        F.median("revenue").cast("double").alias("median"),
        F.count(F.lit(1)).alias("n"))
    spread = (history.join(baseline, on="store_id", how="inner")
              .groupBy("store_id")
              .agg(F.median(F.abs(F.col("revenue") - F.col("median"))).alias("mad")))
    judged = (windows.join(baseline, on="store_id", how="inner")
              .join(spread, on="store_id", how="inner")
              .withColumn("z", F.lit(MAD_TO_SIGMA) * (F.col("revenue") - F.col("median"))
                          / F.col("mad")))
    enough = (F.col("n") >= min_history) & (F.col("mad") > 0)
    unusual = F.abs(F.col("z")) > z_threshold
    flagged = judged.where(enough & unusual).withColumn("event_time", F.col("window_start"))
    severity = F.when(F.abs(F.col("z")) > 2 * z_threshold, "high").otherwise("medium")
    details = {"window_start": F.col("window_start"), "revenue": F.col("revenue"),
               "baseline_median": F.col("median"), "mad": F.col("mad"), "z": F.col("z"),
               "baseline_windows": F.col("n")}
    spikes = as_alerts(flagged.where(F.col("z") > 0), alert_type="sales_spike",
                       severity=severity, metric=F.col("z"), threshold=z_threshold,
                       details=details, product=F.lit(""))
    drops = as_alerts(flagged.where(F.col("z") < 0), alert_type="sales_drop",
                      severity=severity, metric=F.col("z"), threshold=-z_threshold,
                      details=details, product=F.lit(""))
    return spikes.unionByName(drops)


def high_value_transactions(sales: DataFrame, *, threshold: float) -> DataFrame:
    """Baskets (sale lines of one ``transaction_id``) worth more than ``threshold``.

    ``sales``: ``store_id, transaction_id, transaction_type, revenue, event_time``. A basket
    whose lines straddle two micro-batches is judged per part.
    """
    sold = sales.where(F.col("transaction_type") == "sale")
    baskets = sold.groupBy("store_id", "transaction_id").agg(
        F.sum("revenue").cast("double").alias("total"), F.count(F.lit(1)).alias("lines"),
        F.max("event_time").alias("event_time"))
    big = baskets.where(F.col("total") > threshold)
    severity = F.when(F.col("total") > 2 * threshold, "high").otherwise("medium")
    return as_alerts(big, alert_type="high_value_transaction", severity=severity,
                     metric=F.col("total"), threshold=threshold, product=F.lit(""),
                     details={"transaction_id": F.col("transaction_id"),
                              "total": F.col("total"), "lines": F.col("lines")})


def suspicious_price_changes(changes: DataFrame, products: DataFrame, *,
                             max_change_pct: float) -> DataFrame:
    """Price moves larger than ``max_change_pct`` either way, or a new price below cost.

    ``changes``: ``store_id, product_id, old_price, new_price, change_type, event_time``;
    ``products``: ``product_id, unit_cost``.
    """
    priced = changes.join(F.broadcast(products.select("product_id", "unit_cost")),
                          on="product_id", how="left")
    pct = (F.col("new_price") - F.col("old_price")) / F.col("old_price") * 100
    with_pct = priced.withColumn("change_pct", pct)
    too_far = F.abs(F.col("change_pct")) > max_change_pct
    below_cost = F.col("unit_cost").isNotNull() & (F.col("new_price") < F.col("unit_cost"))
    flagged = with_pct.where(too_far | below_cost)
    very_far = F.abs(F.col("change_pct")) > 2 * max_change_pct
    severity = F.when(below_cost | very_far, "high").otherwise("medium")
    return as_alerts(flagged, alert_type="suspicious_price_change", severity=severity,
                     metric=F.col("change_pct"), threshold=max_change_pct,
                     details={"old_price": F.col("old_price"), "new_price": F.col("new_price"),
                              "unit_cost": F.col("unit_cost"),
                              "change_type": F.col("change_type"),
                              "below_cost": below_cost})
