"""The slow-mover classifier's sums over daily sales, restocks and promotions, computed in
the warehouse so that only one row per store x product x origin reaches Spark.

A chain of 200 stores x 2,000 SKUs has 400,000 pairs: 210 days of their daily sales are
tens of millions of rows, more than a driver should hold. Each query here returns at most
one row per pair and origin (or per pair and promotion). Every value is a typed
parameter; no SQL is built from data.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession

from retail.features.build import TABLE as FEATURES
from retail.features.sources import query_frame
from retail.io.warehouse import Warehouse
from retail.warehouse.keys import date_key

# a ClickHouse Date from a YYYYMMDD date_key (the aggregates carry keys only)
DAY = "makeDate(intDiv(date_key, 10000), intDiv(date_key, 100) % 100, date_key % 100)"
# units sold per pair and day: net units plus returned units, as the feature store's
# units_sold
DAILY_SALES = (f"SELECT store_key, product_key, {DAY} AS d, "
               "toInt64(sum(units) + sum(return_units)) AS u FROM agg_sales_daily "
               "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} "
               "GROUP BY store_key, product_key, date_key")
VELOCITY_DAYS = 28  # the longest trailing window (velocity_28)
RESTOCK_DAYS = 91  # a restock older than 90 days does not count (NO_RESTOCK_DAYS)


def sales_windows(spark: SparkSession, wh: Warehouse, origins: list[date],
                  windows: dict[int, int], *, label_days: int,
                  through: date | None = None) -> DataFrame:
    """store_key, product_key, date (an origin D), s7, s28, ahead: units sold on the 7 and
    28 days ending D and on D + 1 .. D + w, w the product's label window (``windows``:
    product_key -> days; a product not in it: ``label_days``), counting no sale after
    ``through`` (None: every day on record). Pairs without a sale in D - 27 .. D +
    ``label_days`` have no row (their sums are 0)."""
    if not origins:
        raise ValueError("no origin day to sum the sales around")
    if windows and max(windows.values()) > label_days:
        raise ValueError(f"a label window is longer than label_days ({label_days})")
    sql = f"""
SELECT store_key, product_key, o AS date,
       toInt64(sumIf(u, d > o - 7 AND d <= o)) AS s7,
       toInt64(sumIf(u, d > o - {VELOCITY_DAYS} AND d <= o)) AS s28,
       toInt64(sumIf(u, d > o AND d <= o + transform(product_key, {{wp:Array(Int64)}},
                                                     {{wd:Array(Int64)}}, {{label:Int64}})))
           AS ahead
FROM ({DAILY_SALES})
ARRAY JOIN arrayFilter(x -> d > x - {VELOCITY_DAYS} AND d <= x + {{label:Int64}},
                       {{origins:Array(Date)}}) AS o
GROUP BY store_key, product_key, o"""
    first = min(origins).toordinal() - VELOCITY_DAYS + 1
    last = max(origins).toordinal() + label_days
    if through is not None:
        last = min(last, through.toordinal())
    return query_frame(spark, wh, sql, {
        "first": date_key(date.fromordinal(first)), "last": date_key(date.fromordinal(last)),
        "origins": sorted(origins), "label": label_days,
        "wp": list(windows), "wd": [windows[p] for p in windows]})


def restock_ages(spark: SparkSession, wh: Warehouse, origins: list[date]) -> DataFrame:
    """store_key, product_key, date (an origin D), days_since_restock: days from the
    pair's last restock on or before D to D, for the pairs restocked within the
    :data:`RESTOCK_DAYS` days ending D (others have no row)."""
    if not origins:
        raise ValueError("no origin day to find the restocks before")
    sql = f"""
SELECT store_key, product_key, o AS date, toInt32(min(dateDiff('day', d, o)))
       AS days_since_restock
FROM (SELECT store_key, product_key, {DAY} AS d FROM agg_inventory_daily
      WHERE date_key BETWEEN {{first:UInt32}} AND {{last:UInt32}}
      GROUP BY store_key, product_key, date_key HAVING max(last_restock_key) > 0)
ARRAY JOIN arrayFilter(x -> d > x - {RESTOCK_DAYS} AND d <= x, {{origins:Array(Date)}}) AS o
GROUP BY store_key, product_key, o"""
    first = date.fromordinal(min(origins).toordinal() - RESTOCK_DAYS + 1)
    return query_frame(spark, wh, sql, {"first": date_key(first), "last": date_key(max(origins)),
                                   "origins": sorted(origins)})


def promotions(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """product_key, start_date, end_date, discount: the promotions overlapping the days."""
    return query_frame(spark, wh, "SELECT product_key, start_date, end_date, discount "
                       "FROM promotion_calendar FINAL "
                       "WHERE end_date >= {first:Date} AND start_date <= {last:Date}",
                       {"first": first, "last": last})


def promotion_sales(spark: SparkSession, wh: Warehouse, first: date, last: date
                    ) -> DataFrame:
    """store_key, product_key, p_start, p_end, discount, units: the units each pair sold
    during each promotion of its product, its days clipped to ``first`` .. ``last``
    (pairs that sold nothing during one have no row)."""
    sql = f"""
SELECT s.store_key AS store_key, s.product_key AS product_key, p.p_start AS p_start,
       p.p_end AS p_end, p.discount AS discount, toInt64(sum(s.u)) AS units
FROM ({DAILY_SALES}) AS s
INNER JOIN (SELECT product_key, greatest(start_date, {{from:Date}}) AS p_start,
                   least(end_date, {{to:Date}}) AS p_end, discount
            FROM promotion_calendar FINAL
            WHERE end_date >= {{from:Date}} AND start_date <= {{to:Date}}) AS p
        ON s.product_key = p.product_key
WHERE s.d BETWEEN p.p_start AND p.p_end
GROUP BY store_key, product_key, p_start, p_end, discount"""
    return query_frame(spark, wh, sql, {"first": date_key(first), "last": date_key(last),
                                   "from": first, "to": last})


def sales_totals(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """store_key, product_key, total_units: each pair's units sold on ``first`` ..
    ``last``."""
    return query_frame(spark, wh, "SELECT store_key, product_key, toInt64(sum(units) + "
                       "sum(return_units)) AS total_units FROM agg_sales_daily "
                       "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} "
                       "GROUP BY store_key, product_key",
                       {"first": date_key(first), "last": date_key(last)})


def stocked_pairs(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """store_key, product_key, category: the pairs the feature store holds on ``first`` ..
    ``last``."""
    return query_frame(spark, wh, f"SELECT DISTINCT store_key, product_key, category FROM "
                       f"{FEATURES} WHERE date BETWEEN {{first:Date}} AND {{last:Date}}",
                       {"first": first, "last": last})


def first_sales_day(wh: Warehouse, first: date, last: date) -> date | None:
    """The first day of ``first`` .. ``last`` with sales on record (None: none)."""
    found = wh.query_rows("SELECT min(date_key) FROM agg_sales_daily WHERE date_key "
                          "BETWEEN {first:UInt32} AND {last:UInt32}",
                          {"first": date_key(first), "last": date_key(last)})[0][0]
    return date(found // 10000, found // 100 % 100, found % 100) if found else None
