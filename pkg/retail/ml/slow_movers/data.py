"""What the slow-mover classifier reads from the warehouse, as Spark DataFrames: the feature
store's rows of chosen days, daily units sold, restock days and the promotion calendar;
and the model's rows built from them (:func:`model_rows`). Every query is bounded by its
days; the label's days are read only up to the run date (nothing after it exists)."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.build import TABLE as FEATURES
from retail.features.sources import arrow_for_spark
from retail.features.training import read_store
from retail.io.warehouse import Warehouse
from retail.ml.slow_movers.settings import SlowMoverSettings
from retail.transforms.slow_movers import (estimate_elasticity, rule_flags,
                                           slow_mover_features, with_horizon,
                                           with_restock_age, with_sales_windows)

# the feature-store columns the model reads
COLUMNS = ("date", "store_key", "product_key", "store_id", "product_id", "on_hand", "on_order",
           "days_of_cover", "demand_mean_90", "zero_sales_share", "days_since_last_sale",
           "shelf_life_days", "discount_depth", "price_ratio_28", "category_trend_7_28",
           "store_trend_7_28", "stockout_days_28", "category", "season")
# a ClickHouse Date from a YYYYMMDD date_key (the aggregates carry keys only)
NO_HISTORY = 90  # days before the oldest row's day read for its 28-day and restock windows
DAY = "makeDate(intDiv(date_key, 10000), intDiv(date_key, 100) % 100, date_key % 100)"


def key(day: date) -> int:
    return int(f"{day:%Y%m%d}")


def feature_days(wh: Warehouse, first: date, last: date) -> list[date]:
    """The days of ``first`` .. ``last`` the feature store holds, oldest first."""
    rows = wh.query_rows(f"SELECT DISTINCT date FROM {FEATURES} "
                         "WHERE date BETWEEN {first:Date} AND {last:Date} ORDER BY date",
                         {"first": first, "last": last})
    return [r[0] for r in rows]


def origins(days: list[date], *, step_days: int) -> list[date]:
    """From the newest of ``days`` backwards, the days at least ``step_days`` apart, oldest
    first."""
    chosen: list[date] = []
    for day in sorted(days, reverse=True):
        if not chosen or (chosen[-1] - day).days >= step_days:
            chosen.append(day)
    return chosen[::-1]


def first_sales_day(wh: Warehouse, first: date, last: date) -> date | None:
    """The first day of ``first`` .. ``last`` with sales on record (None: none)."""
    found = wh.query_rows("SELECT min(date_key) FROM agg_sales_daily WHERE date_key "
                          "BETWEEN {first:UInt32} AND {last:UInt32}",
                          {"first": key(first), "last": key(last)})[0][0]
    return date(found // 10000, found // 100 % 100, found % 100) if found else None


def _frame(spark: SparkSession, wh: Warehouse, sql: str, params: dict) -> DataFrame:
    return spark.createDataFrame(arrow_for_spark(wh.query_arrow(sql, params)))


def daily_sales(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """store_key, product_key, date, units: the units sold each day (sale lines: net units
    plus returned units, as the feature store's units_sold)."""
    return _frame(spark, wh, f"SELECT store_key, product_key, {DAY} AS date, "
                  "toInt64(sum(units) + sum(return_units)) AS units FROM agg_sales_daily "
                  "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} "
                  "GROUP BY store_key, product_key, date_key",
                  {"first": key(first), "last": key(last)})


def restocks(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """store_key, product_key, date: the days a pair was restocked."""
    return _frame(spark, wh, f"SELECT store_key, product_key, {DAY} AS date "
                  "FROM agg_inventory_daily "
                  "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} "
                  "GROUP BY store_key, product_key, date_key HAVING max(last_restock_key) > 0",
                  {"first": key(first), "last": key(last)})


def promotions(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """product_key, start_date, end_date, discount: the promotions overlapping the days."""
    return _frame(spark, wh, "SELECT product_key, start_date, end_date, discount "
                  "FROM promotion_calendar FINAL "
                  "WHERE end_date >= {first:Date} AND start_date <= {last:Date}",
                  {"first": first, "last": last})


def elasticities(spark: SparkSession, wh: Warehouse, settings: SlowMoverSettings,
                 run_date: date, daily: DataFrame) -> DataFrame:
    """Each category's elasticity from the promotions of the ``history_days`` up to
    ``run_date`` (:func:`~retail.transforms.slow_movers.estimate_elasticity`)."""
    first = run_date - timedelta(days=settings.history_days - 1)
    # the days with sales on record: a chain younger than history_days has no zeros before
    # its first day (they would lower every pair's regular rate and inflate the lift)
    first = max(first, first_sales_day(wh, first, run_date) or first)
    pairs = read_store(spark, wh, first, run_date,
                       columns=("store_key", "product_key", "category")).distinct()
    return estimate_elasticity(daily, pairs, promotions(spark, wh, first, run_date),
                               first=first, last=run_date,
                               min_promotions=settings.min_promotions).cache()


def model_rows(spark: SparkSession, wh: Warehouse, settings: SlowMoverSettings,
               days: list[date], run_date: date) -> tuple[DataFrame, DataFrame]:
    """(the rows of the feature store's ``days`` with every model input, the rule's score
    and ``sold_ahead`` (sales up to ``run_date`` only); the categories' elasticities as of
    ``run_date``).

    Raises:
        ValueError: no day given.
    """
    if not days:
        raise ValueError("no feature-store day to read: build the features first "
                         "(retail features build --date D)")
    first = min(days) - timedelta(days=NO_HISTORY)
    sales = daily_sales(spark, wh, min(first, run_date - timedelta(
        days=settings.history_days)), run_date).cache()
    store = read_store(spark, wh, min(days), max(days), columns=COLUMNS).filter(
        F.col("date").isin(list(days)))
    rows = with_horizon(store, max_horizon_days=settings.max_horizon_days)
    rows = with_sales_windows(rows, sales, label_days=settings.label_days,
                              first_day=first_sales_day(wh, first, run_date))
    rows = with_restock_age(rows, restocks(spark, wh, first, max(days)))
    elasticity = elasticities(spark, wh, settings, run_date, sales)
    return rule_flags(slow_mover_features(rows, elasticity)), elasticity

