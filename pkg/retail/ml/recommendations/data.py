"""What the cross-sell models read from the warehouse over a window of days, as Spark frames:
the sale lines (sales only, no returns), what each store carried, and each store x
product's sold and lost units (the inputs of :mod:`retail.transforms.baskets`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession

from retail.features.sources import arrow_for_spark, query_frame
from retail.io.warehouse import Warehouse
from retail.warehouse.keys import date_key

_LINES = """
SELECT transaction_id, nullIf(customer_id, '') AS customer_id, toString(store_id) AS store_id,
       product_id, quantity, event_time
FROM fact_sales FINAL
WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32}
  AND transaction_type = 'sale' AND quantity > 0
"""

# a store carried a product when it held stock of it or sold it in the window
_STOCKED = """
SELECT DISTINCT toString(store_id) AS store_id, product_id FROM fact_inventory
WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} AND quantity_on_hand > 0
UNION DISTINCT
SELECT DISTINCT toString(store_id) AS store_id, product_id FROM fact_sales
WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} AND transaction_type = 'sale'
"""

_SHORTFALLS = """
SELECT store_id, product_id, sum(sold) AS sold_units, sum(lost) AS lost_units FROM (
    SELECT toString(store_id) AS store_id, product_id, toInt64(quantity) AS sold,
           toInt64(0) AS lost
    FROM fact_sales FINAL
    WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} AND transaction_type = 'sale'
    UNION ALL
    SELECT toString(store_id) AS store_id, product_id, toInt64(0) AS sold,
           toInt64(lost_quantity) AS lost
    FROM fact_lost_sales FINAL
    WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32}
)
GROUP BY store_id, product_id
"""


def window(day: date, days: int) -> tuple[date, date]:
    """The ``days`` days ending with ``day`` (inclusive)."""
    return day - timedelta(days=days - 1), day


@dataclass(frozen=True)
class WindowData:
    """The window's inputs (Spark frames)."""

    first: date
    last: date
    lines: DataFrame  # transforms.baskets.LINES
    stocked: DataFrame  # store_id, product_id
    shortfalls: DataFrame  # store_id, product_id, sold_units, lost_units


class NoSales(ValueError):
    """The window holds no sale."""


def read_lines(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """The sale lines of ``first``..``last``.

    Raises:
        NoSales: there is none.
    """
    params = {"first": date_key(first), "last": date_key(last)}
    table = wh.query_arrow(_LINES, params)
    if table.num_rows == 0:
        raise NoSales(f"fact_sales in {wh.database} has no sale from {first} to {last}: load "
                      "or simulate those days first (or pick another --date)")
    return spark.createDataFrame(arrow_for_spark(table))


def read_window(spark: SparkSession, wh: Warehouse, day: date, days: int) -> WindowData:
    """The sale lines, the carried pairs and the shortfalls of the ``days`` to ``day``."""
    first, last = window(day, days)
    params = {"first": date_key(first), "last": date_key(last)}
    return WindowData(first, last, read_lines(spark, wh, first, last),
                      query_frame(spark, wh, _STOCKED, params),
                      query_frame(spark, wh, _SHORTFALLS, params))
