"""Sales metrics over sliding event-time windows.

Windows are emitted as partial sums: each micro-batch contributes the units and revenue of
its own events, and the warehouse table (a SummingMergeTree) adds the partials of a window
together. So nothing has to be held back until a window closes, a window is visible (and
grows) within seconds, and a late partial simply adds to its window.
"""

from __future__ import annotations

from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

STORE_LEVEL = ""  # product_id of the per-store rows


def sales_window_metrics(sales: DataFrame, *, window_minutes: int = 5,
                         slide_minutes: int = 1) -> DataFrame:
    """Units, revenue and lines per window x store x product, plus per-store rows.

    ``sales`` has ``store_id, product_id, quantity`` (signed: returns negative),
    ``revenue`` (signed) and ``event_time``. Velocity and revenue are also given per hour
    (linear in the partials, so they add up like the sums).
    """
    window, sums, per_store, out = _window_columns(window_minutes, slide_minutes)
    windowed = sales.select("*", window)
    by_product = windowed.groupBy("w", "store_id", "product_id").agg(*sums)
    by_store = windowed.groupBy("w", "store_id").agg(*sums).select("*", per_store)
    return by_product.unionByName(by_store).select(*out)


@cache
def _window_columns(window_minutes: int, slide_minutes: int
                    ) -> tuple[Column, list[Column], Column, list[Column]]:
    per_hour = 60.0 / window_minutes
    window = F.window("event_time", f"{window_minutes} minutes",
                      f"{slide_minutes} minutes").alias("w")
    sums = [F.sum("quantity").cast("long").alias("units"),
            F.sum("revenue").cast("decimal(18,2)").alias("revenue"),
            F.count(F.lit(1)).cast("long").alias("lines")]
    out = [F.col("w.start").alias("window_start"), F.col("w.end").alias("window_end"),
           F.col("store_id"), F.col("product_id"), F.col("units"), F.col("revenue"),
           F.col("lines"), (F.col("units") * per_hour).alias("velocity_per_hour"),
           (F.col("revenue") * per_hour).cast("decimal(18,2)").alias("revenue_per_hour")]
    return window, sums, F.lit(STORE_LEVEL).alias("product_id"), out
