"""What the feature store reads from the warehouse for the days D1..Dn, as Spark frames.

Every query is bounded by Dn (nothing dated after it is read), its windows reach back from
D1, and it takes its values as query parameters. The daily aggregates
(``agg_sales_daily``, ``agg_store_daily``, ``agg_inventory_daily``, ``stock_as_of``)
answer where they hold what is needed; the facts
without an aggregate (lost sales, price changes) are read ``FINAL``, one row per event.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from retail.io.warehouse import Warehouse
from retail.transforms.features import (HISTORY_DAYS, PRICE_DAYS, STOCKOUT_WINDOWS,
                                        WEATHER_DAYS, FeatureInputs)
from retail.warehouse.keys import date_key


class DayNotReady(RuntimeError):
    """A day cannot be built yet: it is not closed, or its calendar is not loaded."""


_DAY = "YYYYMMDDToDate(date_key) AS day"
_PAIR_DAY = "GROUP BY store_key, product_key, date_key"
_QUERIES = {
    "snapshot": (
        f"SELECT store_key, product_key, {_DAY}, store_id, product_id, "
        "quantity_on_hand AS on_hand, on_order, toFloat64(days_of_cover) AS days_of_cover "
        "FROM fact_inventory FINAL WHERE record_type = 'snapshot' "
        "AND date_key BETWEEN {d1:UInt32} AND {d:UInt32}"),
    "stores": (
        "SELECT store_key, store_type, toInt32(square_footage) AS square_footage, region "
        "FROM dim_store FINAL"),
    "products": (
        "SELECT p.product_key AS product_key, p.category AS category, "
        "p.sub_category AS sub_category, p.brand AS brand, "
        "toInt32(p.shelf_life_days) AS shelf_life_days, "
        "round(toFloat64(s.lead_time_mean_days), 2) AS lead_time_days, "
        "toFloat64(p.list_price) AS list_price "
        "FROM dim_product AS p FINAL LEFT JOIN dim_supplier AS s FINAL "
        "ON p.supplier_id = s.supplier_id SETTINGS join_use_nulls = 1"),
    "history": (
        "SELECT store_key, YYYYMMDDToDate(min(date_key)) AS first_day FROM agg_store_daily "
        "WHERE date_key <= {d:UInt32} GROUP BY store_key"),
    # sold units: net units plus the returned ones (returns are negative in the facts)
    "sales": (
        f"SELECT store_key, product_key, {_DAY}, toInt64(sum(units) + sum(return_units)) "
        "AS units_sold FROM agg_sales_daily WHERE date_key BETWEEN {first:UInt32} AND "
        f"{{d:UInt32}} {_PAIR_DAY}"),
    "lost": (
        f"SELECT store_key, product_key, {_DAY}, toInt64(sum(lost_quantity)) AS lost_units "
        "FROM fact_lost_sales FINAL WHERE date_key BETWEEN {first:UInt32} AND {d:UInt32} "
        f"{_PAIR_DAY}"),
    # the changes of the price window, and the last one before it (the price it opens at)
    "changes": (
        f"SELECT store_key, product_key, {_DAY}, event_time, price_change_id AS change_id, "
        "toFloat64(old_price) AS old_price, toFloat64(new_price) AS new_price, "
        "toString(change_type) AS change_type FROM fact_price_changes FINAL "
        "WHERE date_key BETWEEN {price_first:UInt32} AND {d:UInt32} "
        "UNION ALL SELECT store_key, product_key, YYYYMMDDToDate(tupleElement(c, 1)) AS day, "
        "tupleElement(c, 2) AS event_time, tupleElement(c, 3) AS change_id, "
        "toFloat64(tupleElement(c, 4)) AS old_price, toFloat64(tupleElement(c, 5)) AS "
        "new_price, toString(tupleElement(c, 6)) AS change_type FROM ("
        "SELECT store_key, product_key, argMax((date_key, event_time, price_change_id, "
        "old_price, new_price, change_type), (event_time, price_change_id)) AS c "
        "FROM fact_price_changes WHERE date_key < {price_first:UInt32} "
        "GROUP BY store_key, product_key)"),
    "closing": (
        f"SELECT store_key, product_key, {_DAY}, "
        "toInt64(argMaxMerge(closing_on_hand)) AS on_hand FROM agg_inventory_daily "
        f"WHERE date_key BETWEEN {{stock_first:UInt32}} AND {{d:UInt32}} {_PAIR_DAY}"),
    "opening": (
        "SELECT store_key, product_key, toInt64(on_hand) AS on_hand "
        "FROM stock_as_of(as_of = {stock_before:Date})"),
    "calendar": (
        "SELECT date AS day, toInt32(day_of_week) AS day_of_week, toInt32(week) AS "
        "week_of_year, toInt32(month) AS month, toString(season) AS season, is_weekend, "
        "is_holiday, special_day IS NOT NULL AS is_special_day, "
        "toInt32(days_to_next_holiday) AS days_to_next_holiday, is_payday "
        "FROM dim_date FINAL WHERE date BETWEEN {day:Date} AND {calendar_last:Date}"),
    "events": (
        "SELECT store_key, date AS day, toString(kind) AS kind FROM store_events FINAL "
        "WHERE date BETWEEN {day:Date} AND {calendar_last:Date}"),
    "weather": (
        "SELECT toString(region) AS region, date AS day, temp_c, precip_mm "
        "FROM weather_daily FINAL WHERE date BETWEEN {weather_first:Date} AND "
        "{weather_last:Date}"),
}


def parameters(day: date, last: date | None = None) -> dict[str, object]:
    """The query parameters of the days ``day``..``last`` (``day`` alone by default): the
    last day, the first, and the first day of each window ending the first."""
    last = last or day
    stock_first = day - timedelta(days=max(STOCKOUT_WINDOWS) - 1)
    return {"d": date_key(last), "d1": date_key(day), "day": day, "calendar_last": last,
            "first": date_key(day - timedelta(days=HISTORY_DAYS - 1)),
            "price_first": date_key(day - timedelta(days=PRICE_DAYS - 1)),
            "stock_first": date_key(stock_first), "stock_before": stock_first - timedelta(days=1),
            "weather_first": day - timedelta(days=WEATHER_DAYS - 1), "weather_last": last}


def check_ready(wh: Warehouse, days: list[date]) -> None:
    """Every day is closed (the daily ETL, or ``close_imported``, wrote its end-of-day
    snapshot) and in ``dim_date``.

    Raises:
        DayNotReady: naming the days and the command that makes them ready.
    """
    keys = [date_key(d) for d in days]
    closed = {r[0] for r in wh.query_rows(
        "SELECT DISTINCT date_key FROM fact_inventory WHERE record_type = 'snapshot' "
        "AND date_key IN {keys:Array(UInt32)}", {"keys": keys})}
    dated = {r[0] for r in wh.query_rows(
        "SELECT date_key FROM dim_date FINAL WHERE date_key IN {keys:Array(UInt32)}",
        {"keys": keys})}
    open_days = [str(d) for d, k in zip(days, keys) if k not in closed]
    if open_days:
        raise DayNotReady(
            f"{', '.join(open_days)} not closed: fact_inventory in {wh.database} has no "
            "end-of-day snapshot for it; close the day first (`retail batch daily-etl "
            "--date D`, or `retail batch close-imported --date D` for a day whose facts were "
            "loaded straight into the warehouse)")
    undated = [str(d) for d, k in zip(days, keys) if k not in dated]
    if undated:
        raise DayNotReady(f"dim_date in {wh.database} has no row for {', '.join(undated)}: "
                          "load the calendar (`retail warehouse load-dims`)")


def read_inputs(spark: SparkSession, wh: Warehouse, day: date, last: date | None = None
                ) -> FeatureInputs:
    """The warehouse's rows for the days ``day``..``last`` (``day`` alone by default) as
    Spark frames (see the module docstring)."""
    params = parameters(day, last)
    return FeatureInputs(**{name: query_frame(spark, wh, sql, params)
                            for name, sql in _QUERIES.items()})


def read_calendar(spark: SparkSession, wh: Warehouse, first: date, last: date
                  ) -> tuple[DataFrame, DataFrame]:
    """The ``calendar`` and ``events`` inputs of the days ``first``..``last``: what
    :func:`read_inputs` reads of a day, for a range (the days a forecast looks ahead to)."""
    params = {"day": first, "calendar_last": last}
    return (query_frame(spark, wh, _QUERIES["calendar"], params),
            query_frame(spark, wh, _QUERIES["events"], params))


def query_frame(spark: SparkSession, wh: Warehouse, sql: str, params: dict) -> DataFrame:
    """A warehouse query's rows as a Spark DataFrame (through Arrow, in the driver: for
    results already aggregated or bounded)."""
    return spark.createDataFrame(arrow_for_spark(wh.query_arrow(sql, params)))


def arrow_for_spark(table: pa.Table) -> pa.Table:
    """Types Spark takes from Arrow: dictionary strings decoded, unsigned ints widened,
    times in microseconds."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_unsigned_integer(t):
            t = pa.int64()
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", t.tz)
        if pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))
