"""What the slow-mover classifier reads from the warehouse, as Spark DataFrames: the feature
store's rows of chosen days with the sums around each (:mod:`.windows`, computed in the
warehouse) and the categories' elasticities, as the model's rows (:func:`model_rows`).
Every query is bounded by its days; the label's days are read only up to the run date
(nothing after it exists)."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.build import TABLE as FEATURES
from retail.features.training import read_store
from retail.io.warehouse import Warehouse
from retail.ml.slow_movers import windows
from retail.ml.slow_movers.settings import SlowMoverSettings
from retail.transforms.slow_movers import (estimate_elasticity, rule_flags,
                                           slow_mover_features, with_horizon,
                                           with_label_window, with_restock_age,
                                           with_sales_windows)

# the feature-store columns the model reads
COLUMNS = ("date", "store_key", "product_key", "store_id", "product_id", "on_hand", "on_order",
           "days_of_cover", "demand_mean_90", "zero_sales_share", "days_since_last_sale",
           "shelf_life_days", "discount_depth", "price_ratio_28", "category_trend_7_28",
           "store_trend_7_28", "stockout_days_28", "category", "season")
NO_HISTORY = 90  # days before the oldest row's day read for its 28-day and restock windows


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


def elasticities(spark: SparkSession, wh: Warehouse, settings: SlowMoverSettings,
                 run_date: date) -> DataFrame:
    """Each category's elasticity from the promotions of the ``history_days`` up to
    ``run_date`` (:func:`~retail.transforms.slow_movers.estimate_elasticity`)."""
    first = run_date - timedelta(days=settings.history_days - 1)
    # the days with sales on record: a chain younger than history_days has no zeros before
    # its first day (they would lower every pair's regular rate and inflate the lift)
    first = max(first, windows.first_sales_day(wh, first, run_date) or first)
    pairs = windows.stocked_pairs(spark, wh, first, run_date)
    return estimate_elasticity(
        windows.promotion_sales(spark, wh, first, run_date),
        windows.sales_totals(spark, wh, first, run_date), pairs,
        windows.promotions(spark, wh, first, run_date), first=first, last=run_date,
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
    store = read_store(spark, wh, min(days), max(days), columns=COLUMNS).filter(
        F.col("date").isin(list(days)))
    rows = with_label_window(with_horizon(store, max_horizon_days=settings.max_horizon_days),
                             label_days=settings.label_days).cache()
    # each product's label window (its shelf life, capped): one per product
    by_product = {r.product_key: r.label_window for r in rows.groupBy("product_key").agg(
        F.min("label_window").alias("label_window")).collect()}
    # sales after run_date are not on record yet: the windows that reach past it count
    # only what is (their rows are not labelled; see slow_mover_labels)
    sums = windows.sales_windows(spark, wh, list(days), by_product,
                                 label_days=settings.label_days, through=run_date)
    first = min(days) - timedelta(days=NO_HISTORY)
    rows = with_sales_windows(rows, sums,
                              first_day=windows.first_sales_day(wh, first, run_date))
    rows = with_restock_age(rows, windows.restock_ages(spark, wh, list(days)))
    elasticity = elasticities(spark, wh, settings, run_date)
    return rule_flags(slow_mover_features(rows, elasticity)), elasticity
