"""The slow-mover transforms on inline rows: horizon, sales windows, label, features, rule,
restock age, elasticity estimate and markdown formula (expected values by hand)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from retail.transforms.slow_movers import (NO_RESTOCK_DAYS, NO_SALES_COVER,
                                           estimate_elasticity, rule_flags,
                                           slow_mover_features, slow_mover_labels,
                                           slow_mover_rows, suggest_markdowns, with_horizon,
                                           with_label_window, with_restock_age,
                                           with_sales_windows)

D = date(2026, 6, 15)


def day(offset: int) -> date:
    return D + timedelta(days=offset)


def by_key(frame, key="product_key"):
    return {r[key]: r for r in frame.collect()}


def test_horizon_is_the_shelf_life_capped(spark):
    rows = spark.createDataFrame([(1, 7), (2, 365), (3, None)],
                                 "product_key long, shelf_life_days int")
    got = by_key(with_horizon(rows, max_horizon_days=60))
    assert [got[k].horizon_days for k in (1, 2, 3)] == [7, 60, 60]


def test_sales_windows_are_the_sums_per_day_of_record(spark):
    rows = spark.createDataFrame([(1, 1, D, 7), (1, 2, D, 60), (1, 3, D, 60)],
                                 "store_key long, product_key long, date date, label_window int")
    sums = spark.createDataFrame([(1, 1, D, 14, 28, 7), (1, 2, D, 0, 0, 5),
                                  (2, 3, D, 9, 9, 9)],  # another store
                                 "store_key long, product_key long, date date, s7 long, "
                                 "s28 long, ahead long")
    got = by_key(with_sales_windows(rows, sums))
    assert (got[1].velocity_7, got[1].velocity_28, got[1].sold_ahead) == (2.0, 1.0, 7)
    assert (got[2].velocity_28, got[2].sold_ahead) == (0.0, 5)
    assert (got[3].velocity_7, got[3].velocity_28, got[3].sold_ahead) == (0.0, 0.0, 0)
    # sales on record from D - 13: the 28-day mean is over those 14 days
    young = by_key(with_sales_windows(rows, sums, first_day=day(-13)))
    assert (young[1].velocity_7, young[1].velocity_28) == (2.0, 2.0)


def test_label_window_is_the_horizon_capped_by_the_label_days(spark):
    rows = spark.createDataFrame([(1, 7), (2, 60)], "product_key long, horizon_days int")
    got = by_key(with_label_window(rows, label_days=14))
    assert (got[1].label_window, got[2].label_window) == (7, 14)


def test_label_judges_the_stock_on_the_observed_window_share(spark):
    rows = spark.createDataFrame([
        (1, D, 10, 7, 7, 9),     # 9 of 10 sold within its 7-day horizon: slow
        (2, D, 10, 7, 7, 10),    # all sold: not slow
        (3, D, 60, 60, 14, 13),  # 60 days projected on 14: share 14, sold 13: slow
        (4, D, 60, 60, 14, 14),  # sold its share: not slow
        (5, D, 0, 7, 7, 0),      # no stock: no label
        (6, day(8), 10, 7, 7, 0),  # window ends after the observed day: no label
    ], "product_key long, date date, on_hand int, horizon_days int, label_window int, "
       "sold_ahead long")
    got = by_key(slow_mover_labels(rows, observed_through=day(14)))
    assert {k: got[k].label for k in got} == {1: 1.0, 2: 0.0, 3: 1.0, 4: 0.0}


def test_restock_age_defaults_to_no_restock(spark):
    rows = spark.createDataFrame([(1, 1, D), (1, 2, D)],
                                 "store_key long, product_key long, date date")
    ages = spark.createDataFrame([(1, 1, D, 3), (1, 2, day(-7), 1)],
                                 "store_key long, product_key long, date date, "
                                 "days_since_restock int")
    got = by_key(with_restock_age(rows, ages))
    assert [got[k].days_since_restock for k in (1, 2)] == [3, NO_RESTOCK_DAYS]


FEATURE_SCHEMA = (
    "store_key long, product_key long, date date, on_hand int, on_order int, "
    "days_of_cover double, demand_mean_90 double, zero_sales_share double, "
    "days_since_last_sale int, shelf_life_days int, discount_depth double, "
    "price_ratio_28 double, category_trend_7_28 double, store_trend_7_28 double, "
    "stockout_days_28 int, category string, season string, horizon_days int, "
    "velocity_7 double, velocity_28 double, days_since_restock int")


def feature_rows(spark, *changes: dict):
    """Feature rows in :data:`FEATURE_SCHEMA`, each a default row with its changes."""
    base = dict(store_key=1, product_key=1, date=D, on_hand=20, on_order=0,
                days_of_cover=None, demand_mean_90=1.0, zero_sales_share=0.5,
                days_since_last_sale=None, shelf_life_days=365, discount_depth=0.0,
                price_ratio_28=None, category_trend_7_28=None, store_trend_7_28=0.9,
                stockout_days_28=0, category="Snacks", season=None, horizon_days=60,
                velocity_7=0.5, velocity_28=1.0, days_since_restock=4)
    return spark.createDataFrame([tuple({**base, **c}.values()) for c in changes],
                                 FEATURE_SCHEMA)


def test_features_fill_nulls_and_derive_cover_and_trend(spark):
    rows = feature_rows(spark, dict(product_key=1),
                        dict(product_key=2, velocity_28=0.0, velocity_7=0.0, category="Toys",
                             days_of_cover=3.0))
    elasticity = spark.createDataFrame([("Snacks", -2.0, 5)],
                                       "category string, elasticity double, promotions long")
    got = by_key(slow_mover_features(rows, elasticity))
    assert got[1].cover_ratio == pytest.approx(20 / 1.0 / 60)
    assert got[1].cover_ratio_7 == pytest.approx(20 / 0.5 / 60)
    assert (got[1].rule_score, got[2].rule_score) == (NO_SALES_COVER, pytest.approx(3 / 60))
    assert got[1].velocity_trend == pytest.approx(0.6 / 1.1)
    assert (got[1].elasticity, got[2].elasticity) == (-2.0, 0.0)
    assert (got[1].days_since_last_sale, got[1].price_ratio_28, got[1].season) == (
        91.0, 1.0, "unknown")
    assert (got[2].cover_ratio, got[2].velocity_trend) == (NO_SALES_COVER, 1.0)


def test_rule_flags_days_of_cover_above_the_horizon(spark):
    rows = spark.createDataFrame([(1, 70.0, 60), (2, 50.0, 60), (3, None, 7)],
                                 "product_key long, days_of_cover double, horizon_days int")
    got = by_key(rule_flags(rows))
    assert [(got[k].rule_score, got[k].rule_flag) for k in (1, 2, 3)] == [
        (pytest.approx(70 / 60), True), (pytest.approx(50 / 60), False),
        (NO_SALES_COVER, True)]


def test_elasticity_recovers_the_promotion_lift(spark):
    """Regular days sell 10 a day; a promotion at 20 % off with elasticity -2 sells
    10 x 0.8 ^ -2 = 15.625 a day. Category B has one promotion only: no estimate."""
    first, last = day(-27), day(0)
    lifted = 10 * 0.8 ** -2
    totals, promo_sales, pairs = {}, [], []
    promos = [(1, day(-20), day(-14), 0.2), (2, day(-13), day(-7), 0.2),
              (3, day(-6), day(0), 0.2)]
    for product in (1, 2, 3, 9):
        for store in (1, 2):
            pairs.append((store, product, "B" if product == 9 else "A"))
            window = next(((s, e) for p, s, e, _ in promos if p == product), None)
            for k in range(28):
                on_promo = window is not None and window[0] <= day(-27 + k) <= window[1]
                totals[store, product] = totals.get((store, product), 0) + (
                    lifted if on_promo else 10.0)
            if window is not None:
                promo_sales.append((store, product, *window, 0.2, lifted * 7))
    promos.append((9, day(-6), day(0), 0.3))  # product 9 sold nothing during it
    got = by_key(estimate_elasticity(
        spark.createDataFrame(promo_sales, "store_key long, product_key long, p_start date, "
                                           "p_end date, discount double, units double"),
        spark.createDataFrame([(*k, v) for k, v in totals.items()],
                              "store_key long, product_key long, total_units double"),
        spark.createDataFrame(pairs, "store_key long, product_key long, category string"),
        spark.createDataFrame(promos, "product_key long, start_date date, end_date date, "
                                      "discount double"),
        first=first, last=last, min_promotions=3), key="category")
    assert set(got) == {"A"}
    assert got["A"].promotions == 6
    assert got["A"].elasticity == pytest.approx(-2.0, abs=0.02)


def test_markdown_is_the_smallest_step_that_sells_the_stock(spark):
    rows = spark.createDataFrame([
        # v = min(1, 2) = 1, H = 10: 10 units; 15 on hand at e = -2 needs
        # d >= 1 - 1.5 ^ -0.5 = 0.1835: 4 steps of 0.05
        (1, True, 15, 1.0, 2.0, 10, -2.0),
        (2, True, 100, 1.0, 1.0, 10, -2.0),  # needs 0.68: capped at 0.5
        (3, True, 5, 1.0, 1.0, 10, -2.0),    # sells at its rate: one step
        (4, True, 15, 0.0, 1.0, 10, -2.0),   # sells nothing: the cap
        (5, True, 15, 1.0, 1.0, 10, None),   # no estimate: the default -1.5
        (6, False, 15, 1.0, 1.0, 10, -2.0),  # not a slow mover: nothing
    ], "product_key long, is_slow_mover boolean, on_hand int, velocity_7 double, "
       "velocity_28 double, horizon_days int, elasticity double").withColumn(
        "date", F.lit(D))
    got = by_key(suggest_markdowns(rows, step=0.05, max_depth=0.5, default_elasticity=-1.5))
    assert got[1].markdown_depth == pytest.approx(0.20)
    assert got[1].expected_units_markdown == pytest.approx(10 * 0.8 ** -2)
    assert got[1].markdown_start == D
    assert (got[2].markdown_depth, got[3].markdown_depth, got[4].markdown_depth) == (
        pytest.approx(0.5), pytest.approx(0.05), pytest.approx(0.5))
    assert got[4].expected_units_markdown == 0.0
    needed = 1 - 1.5 ** (1 / -1.5)  # 0.2371: 5 steps
    assert (got[5].elasticity_used, got[5].markdown_depth) == (
        -1.5, pytest.approx(math.ceil(needed / 0.05) * 0.05))
    assert (got[6].markdown_depth, got[6].markdown_start, got[6].expected_units_markdown) == (
        0.0, None, None)


def test_output_rows_have_the_tables_columns(spark):
    rows = feature_rows(spark, {}).selectExpr(
        "*", "0.7 AS probability", "true AS is_slow_mover", "0.2 AS markdown_depth",
        "date AS markdown_start", "12.5 AS expected_units_markdown",
        "-2.0 AS elasticity_used", "'S001' AS store_id", "'P001' AS product_id")
    got = slow_mover_rows(rows, model_version="3").collect()[0]
    assert got.date_key == 20260615 and got.run_date == D and got.model_version == "3"
    assert (got.on_hand, got.horizon_days, got.is_slow_mover) == (20, 60, True)
    assert got.markdown_depth == pytest.approx(0.2) and got.elasticity == -2.0
