"""The rules' inputs: ABC classes, the forecast window, shelf capacity, the settings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from retail.ml.replenishment import abc_classes, plan_orders, service_levels, shelf_capacity
from retail.ml.settings import ReplenishmentSettings
from retail.transforms.replenishment import Z_95, classify_abc, summarize_forecast

FORECAST = ("store_key long, product_key long, target_date date, horizon int, forecast double, "
            "lower_80 double, upper_80 double, lower_95 double, upper_95 double")
D = date(2026, 11, 30)


def test_abc_classes_follow_the_revenue_share_before_each_product(spark):
    # total 100: shares before P1..P5 are 0, .5, .8, .9, .96
    revenue = spark.createDataFrame(
        [(1, 50.0), (2, 30.0), (3, 10.0), (4, 6.0), (5, 4.0), (6, 0.0)],
        "product_key long, revenue double")
    got = classify_abc(revenue, a_share=0.8, b_share=0.95)
    assertDataFrameEqual(got.select("product_key", "abc_class"), [
        Row(product_key=1, abc_class="A"), Row(product_key=2, abc_class="A"),
        Row(product_key=3, abc_class="B"), Row(product_key=4, abc_class="B"),
        Row(product_key=5, abc_class="C"), Row(product_key=6, abc_class="C")])
    shares = {r.product_key: r.revenue_share for r in got.collect()}
    assert shares[1] == pytest.approx(0.5) and shares[6] == 0.0


def test_one_product_with_all_the_revenue_is_class_a(spark):
    revenue = spark.createDataFrame([(1, 99.0), (2, 1.0)], "product_key long, revenue double")
    got = {r.product_key: r.abc_class for r in classify_abc(
        revenue, a_share=0.8, b_share=0.95).collect()}
    assert got == {1: "A", 2: "C"}


def test_equal_revenues_are_classed_by_key_so_reruns_agree(spark):
    revenue = spark.createDataFrame([(k, 10.0) for k in range(1, 11)],
                                    "product_key long, revenue double")
    got = {r.product_key: r.abc_class for r in abc_classes(
        revenue, ReplenishmentSettings()).collect()}
    # shares before: 0, .1, ..., .9 -> A for the first 8, B for the 9th and 10th (< .95)
    assert got == {**{k: "A" for k in range(1, 9)}, 9: "B", 10: "B"}


def test_the_forecast_window_has_the_mean_and_the_daily_sd_from_the_95_interval(spark):
    # daily sds 2 and 4: sigma_d^2 = (4 + 16) / 2 = 10
    rows = [(1, 1, D + timedelta(days=h), h, f, f - s, f + s, f - s * Z_95, f + s * Z_95)
            for h, f, s in ((1, 10.0, 2.0), (2, 20.0, 4.0))]
    got = summarize_forecast(spark.createDataFrame(rows, FORECAST)).first()
    assert got.horizon_days == 2
    assert got.promotion_planned is None
    assert (got.demand_mean, got.demand_peak) == (15.0, 20.0)
    assert got.demand_sd == pytest.approx(10 ** 0.5)


def test_a_promotion_planned_on_any_day_of_the_window_is_ahead(spark):
    rows = [(1, p, D + timedelta(days=h), h, 5.0, 4.0, 6.0, 3.0, 7.0, p == 1 and h == 6)
            for p in (1, 2) for h in range(1, 8)]
    got = summarize_forecast(spark.createDataFrame(rows, FORECAST + ", on_promotion boolean"))
    assert {r.product_key: r.promotion_planned for r in got.collect()} == {1: True, 2: False}


def test_shelf_capacity_is_headroom_over_the_most_held(spark):
    snaps = spark.createDataFrame(
        [(1, 1, 40), (1, 1, 12), (1, 2, 7), (1, 3, 0), (1, 3, 0)],
        "store_key long, product_key long, on_hand int")
    got = shelf_capacity(snaps, ReplenishmentSettings())
    assertDataFrameEqual(got, [Row(store_key=1, product_key=1, shelf_capacity=60),
                               Row(store_key=1, product_key=2, shelf_capacity=11),
                               Row(store_key=1, product_key=3, shelf_capacity=None)])


def test_settings_defaults_and_their_order():
    s = ReplenishmentSettings()
    assert service_levels(s) == {"A": 0.98, "B": 0.95, "C": 0.90}
    assert (s.abc_a_share, s.abc_b_share, s.promo_uplift) == (0.80, 0.95, 1.3)
    assert (s.capacity_headroom, s.lead_time_holdout_weeks, s.review_period_days) == (1.5, 2, 7)
    with pytest.raises(ValidationError, match="ABC_A_SHARE"):
        ReplenishmentSettings(abc_a_share=0.9, abc_b_share=0.8)


def test_plan_orders_applies_the_settings_to_the_forecast_rows(spark):
    # 7 days of 8 units with sd 3 -> d = 8, sigma_d = 3; class A at 98 %
    rows = [(1, 1, D + timedelta(days=h), h, 8.0, 4.0, 12.0, 8 - 3 * Z_95, 8 + 3 * Z_95)
            for h in range(1, 8)]
    positions = spark.createDataFrame(
        [(1, 1, 20, 10, "A", 12, None, None, 4.0, 1.0, 8.0)],
        "store_key long, product_key long, on_hand int, on_order int, abc_class string, "
        "pack_size int, shelf_life_days int, shelf_capacity long, lead_time_days double, "
        "lead_time_sd_days double, baseline_demand double")
    got = plan_orders(spark.createDataFrame(rows, FORECAST), positions,
                      ReplenishmentSettings(review_period_days=3), as_of=D).first()
    z = 2.053748910631823  # NormalDist().inv_cdf(0.98)
    assert got.safety_stock == pytest.approx(10 * z)
    assert got.order_up_to == pytest.approx(8 * 7 + 10 * z)
    # 76.54 - 30 = 46.54 -> 4 packs
    assert (got.order_qty, got.reasons) == (48, ["below_reorder_point"])
