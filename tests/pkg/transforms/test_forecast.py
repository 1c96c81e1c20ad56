"""The forecast's demand history: the 28-day level with and without the promotion days in
it, and the inputs relative to the pair's scale."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from retail.transforms.forecast import forecast_inputs, with_demand_history

D0 = date(2026, 3, 2)


def _store(spark, days: int, promo_days: set[int], *, on_promotion_null: int | None = None):
    """One pair: demand 10 a day, 30 on the promotion days."""
    rows = [(1, 1, D0 + timedelta(days=i), 30 if i in promo_days else 10,
             None if i == on_promotion_null else i in promo_days) for i in range(days)]
    return spark.createDataFrame(rows, "store_key long, product_key long, date date, "
                                 "demand long, on_promotion boolean")


def test_the_base_level_leaves_out_the_promotion_days_of_the_28(spark):
    # days 0 .. 39; promotion on days 30 .. 33 (4 days); row of day 39: window days 12 .. 39
    got = {r["date"]: r for r in with_demand_history(
        _store(spark, 40, {30, 31, 32, 33})).collect()}
    last = got[D0 + timedelta(days=39)]
    assert last["promo_days_28"] == 4
    assert last["demand_mean_28"] == pytest.approx((24 * 10 + 4 * 30) / 28)
    assert last["base_demand_mean_28"] == pytest.approx(10.0)
    before = got[D0 + timedelta(days=29)]  # the day before the promotion
    assert before["promo_days_28"] == 0 and before["base_demand_mean_28"] == 10.0


def test_a_window_all_on_promotion_has_no_base_level_and_null_is_off_promotion(spark):
    rows = {r["date"]: r for r in with_demand_history(
        _store(spark, 3, {0, 1, 2})).collect()}
    assert rows[D0 + timedelta(days=2)]["base_demand_mean_28"] is None
    unknown = {r["date"]: r for r in with_demand_history(
        _store(spark, 3, {0, 2}, on_promotion_null=1)).collect()}
    assert unknown[D0 + timedelta(days=2)]["promo_days_28"] == 2
    assert unknown[D0 + timedelta(days=2)]["base_demand_mean_28"] == 10.0


def test_inputs_are_relative_to_the_scale_and_the_planned_price_to_todays(spark):
    rows = spark.createDataFrame(
        [(8.0, 4.0, 6.0, 10.0, 8.0, True)],
        "demand_mean_28 double, base_demand_mean_28 double, demand double, "
        "shelf_price double, target_shelf_price double, on_promotion boolean")
    for c in ("demand_lag_1", "demand_lag_7", "demand_lag_14", "demand_lag_28",
              "demand_mean_7", "demand_mean_14", "demand_mean_30", "demand_mean_90",
              "demand_std_7", "demand_std_30", "same_weekday_last", "same_weekday_mean_4"):
        rows = rows.withColumn(c, F.lit(None).cast("double"))
    out = forecast_inputs(rows).collect()[0]
    assert out["scale"] == 8.0
    assert (out["rel_demand"], out["rel_base_demand_mean_28"]) == (0.75, 0.5)
    assert out["target_price_change"] == 0.8
    assert out["on_promotion"] == 1.0  # booleans as doubles
    small = forecast_inputs(rows.withColumn("demand_mean_28", F.lit(0.1))).collect()[0]
    assert small["scale"] == 0.5  # at least half a unit
