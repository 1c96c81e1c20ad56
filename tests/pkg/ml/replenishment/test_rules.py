"""The replenishment rules against hand-computed cases.

One pair's numbers, used throughout: d = 8 units/day, sigma_d = 3, L = 4 days,
sigma_L = 1 day, review period R = 7, class B (95 %, z = 1.6449):
  SS  = z * sqrt(L*sigma_d^2 + d^2*sigma_L^2) = z * sqrt(36 + 64) = 10 z = 16.449
  ROP = d*L + SS = 32 + 16.449 = 48.449
  S   = d*(L + R) + SS = 88 + 16.449 = 104.449
Demand over the lead time ~ N(32, 10^2).
"""

from __future__ import annotations

from datetime import date
from statistics import NormalDist

import pytest
from pyspark.sql import DataFrame, SparkSession
from scipy.stats import norm

from retail.transforms.replenishment import recommend_orders

D = date(2026, 11, 30)
Z_B = NormalDist().inv_cdf(0.95)
SS = 10 * Z_B
ROP = 32 + SS
S = 88 + SS
LEVELS = {"A": 0.98, "B": 0.95, "C": 0.90}
DEMAND = ("store_key long, product_key long, horizon_days long, demand_mean double, "
          "demand_sd double, demand_peak double, promotion_planned boolean")
POSITIONS = ("store_key long, product_key long, on_hand int, on_order int, abc_class string, "
             "pack_size int, shelf_life_days int, shelf_capacity long, lead_time_days double, "
             "lead_time_sd_days double, baseline_demand double")


def _pair(on_hand: int, on_order: int, *, capacity: int | None = None,
          life: int | None = None, pack: int = 12, baseline: float | None = 8.0,
          peak: float = 8.0, d: float = 8.0, sd: float = 3.0, klass: str | None = "B",
          lead_sd: float = 1.0, planned: bool | None = None) -> tuple[tuple, tuple]:
    return ((1, 1, 7, d, sd, peak, planned),
            (1, 1, on_hand, on_order, klass, pack, life, capacity, 4.0, lead_sd, baseline))


def _plan(spark: SparkSession, demand: tuple, position: tuple, **kw) -> dict:
    rows = recommend_orders(spark.createDataFrame([demand], DEMAND),
                            spark.createDataFrame([position], POSITIONS),
                            service_levels=kw.get("levels", LEVELS), review_period_days=7,
                            promo_uplift=1.3, as_of=D).collect()
    assert len(rows) == 1
    return rows[0].asDict()


def test_levels_follow_the_formulas(spark):
    row = _plan(spark, *_pair(20, 10))
    assert row["z"] == pytest.approx(Z_B)
    assert row["service_level"] == 0.95
    assert row["safety_stock"] == pytest.approx(SS)
    assert row["reorder_point"] == pytest.approx(ROP)
    assert row["order_up_to"] == pytest.approx(S)
    assert row["inventory_position"] == 30
    assert row["forecast_lead_review"] == pytest.approx(88)
    assert row["pack_size"] == 12


def test_below_the_reorder_point_orders_up_to_s_in_whole_packs(spark):
    # S - position = 74.449 -> 6.2 packs of 12 -> 7 packs
    row = _plan(spark, *_pair(20, 10))
    assert row["order_qty"] == 84
    assert row["reasons"] == ["below_reorder_point"]
    assert row["order_by_date"] == D


def test_an_exact_number_of_packs_is_not_rounded_up(spark):
    # z = 0 (service level 0.5): S = d*(L + R) = 88; position 28 -> 60 = 5 packs exactly
    row = _plan(spark, *_pair(20, 8), levels={"B": 0.5})
    assert row["order_up_to"] == pytest.approx(88)
    assert row["order_qty"] == 60


def test_the_shelf_capacity_caps_the_order_in_whole_packs(spark):
    # room = 90 - 30 = 60 = 5 packs, below the 84 wanted
    row = _plan(spark, *_pair(20, 10, capacity=90))
    assert row["order_qty"] == 60
    assert row["reasons"] == ["below_reorder_point", "capacity_cap"]


def test_a_capacity_that_does_not_bind_leaves_no_reason(spark):
    row = _plan(spark, *_pair(20, 10, capacity=200))
    assert (row["order_qty"], row["reasons"]) == (84, ["below_reorder_point"])


def test_the_shelf_life_caps_what_sells_before_it_spoils(spark):
    # 5 days of life sell 40 units; at arrival (after L = 4 days) nothing of the 30 is
    # left (30 - 32 < 0), so 40 -> 3 packs = 36
    row = _plan(spark, *_pair(20, 10, life=5))
    assert row["order_qty"] == 36
    assert row["reasons"] == ["below_reorder_point", "shelf_life_cap"]


def test_the_shelf_life_cap_counts_the_stock_left_at_arrival(spark):
    # position 44 (< ROP): 12 left at arrival; 7 days sell 56 -> 44 -> 3 packs = 36
    row = _plan(spark, *_pair(34, 10, life=7))
    assert row["order_qty"] == 36
    assert "shelf_life_cap" in row["reasons"]


def test_zero_demand_orders_nothing_and_risks_nothing(spark):
    row = _plan(spark, *_pair(0, 0, d=0.0, sd=0.0, peak=0.0, life=5, capacity=10))
    assert (row["safety_stock"], row["reorder_point"], row["order_up_to"]) == (0, 0, 0)
    assert row["order_qty"] == 0
    assert row["reasons"] == []
    assert row["stock_out_risk"] == 0.0
    assert row["order_by_date"] is None


def test_enough_stock_orders_nothing_and_says_when_to_order(spark):
    # position 120 > S; it falls to the ROP in (120 - 48.449) / 8 = 8.9 days -> D + 8
    row = _plan(spark, *_pair(100, 20))
    assert row["order_qty"] == 0
    assert row["reasons"] == []
    assert row["order_by_date"] == date(2026, 12, 8)
    assert row["stock_out_risk"] == pytest.approx(norm.sf(120, loc=32, scale=10), abs=1e-7)


def test_a_promotion_ahead_orders_above_the_reorder_point(spark):
    # peak 12 >= 1.3 * baseline 8: position 60 (> ROP, < S) -> 44.449 -> 4 packs = 48
    row = _plan(spark, *_pair(50, 10, peak=12.0))
    assert row["order_qty"] == 48
    assert row["reasons"] == ["promotion_ahead"]
    assert row["order_by_date"] == D


def test_a_planned_promotion_is_ahead_whatever_the_uplift(spark):
    row = _plan(spark, *_pair(50, 10, peak=8.0, planned=True))
    assert (row["order_qty"], row["reasons"]) == (48, ["promotion_ahead"])


def test_without_a_promotion_the_same_position_waits(spark):
    # peak 10 < 1.3 * 8; and without a baseline nothing is detected
    for pair in (_pair(50, 10, peak=10.0), _pair(50, 10, peak=12.0, baseline=None)):
        row = _plan(spark, *pair)
        assert (row["order_qty"], row["reasons"]) == (0, [])
        assert row["order_by_date"] == D + (date(2026, 12, 1) - D)  # floor(11.55 / 8) = 1 day


def test_a_promotion_below_the_reorder_point_gives_both_reasons(spark):
    row = _plan(spark, *_pair(20, 10, peak=12.0, capacity=90, life=5))
    assert row["reasons"] == ["below_reorder_point", "promotion_ahead", "capacity_cap",
                              "shelf_life_cap"]
    assert row["order_qty"] == 36  # the tighter cap


def test_a_pair_without_a_class_gets_class_c(spark):
    row = _plan(spark, *_pair(20, 10, klass=None))
    assert (row["abc_class"], row["service_level"]) == ("C", 0.90)
    assert row["safety_stock"] == pytest.approx(10 * NormalDist().inv_cdf(0.90))


def test_the_stock_out_risk_is_the_normal_tail_of_lead_time_demand(spark):
    positions = [0, 10, 25, 30, 32, 40, 55, 80]
    demand = spark.createDataFrame(
        [(1, p, 7, 8.0, 3.0, 8.0, None) for p in range(len(positions))], DEMAND)
    held = spark.createDataFrame(
        [(1, p, on_hand, 0, "B", 1, None, None, 4.0, 1.0, None)
         for p, on_hand in enumerate(positions)], POSITIONS)
    got = {r.product_key: r.stock_out_risk for r in recommend_orders(
        demand, held, service_levels=LEVELS, review_period_days=7, promo_uplift=1.3,
        as_of=D).collect()}
    for p, on_hand in enumerate(positions):
        assert got[p] == pytest.approx(norm.sf(on_hand, loc=32, scale=10), abs=1e-6)


def test_certain_demand_is_a_certain_risk(spark):
    # sigma_d = sigma_L = 0: demand over L is exactly d*L = 32
    short = _plan(spark, *_pair(20, 10, sd=0.0, lead_sd=0.0))
    covered = _plan(spark, *_pair(22, 10, sd=0.0, lead_sd=0.0))
    assert (short["stock_out_risk"], covered["stock_out_risk"]) == (1.0, 0.0)
    # sigma_L alone spreads it: sd = d * sigma_L = 8
    spread = _plan(spark, *_pair(30, 10, sd=0.0))
    assert spread["stock_out_risk"] == pytest.approx(norm.sf(40, loc=32, scale=8), abs=1e-6)


def test_the_output_columns_are_the_contract(spark):
    out: DataFrame = recommend_orders(
        spark.createDataFrame([_pair(1, 1)[0]], DEMAND),
        spark.createDataFrame([_pair(1, 1)[1]], POSITIONS), service_levels=LEVELS,
        review_period_days=7, promo_uplift=1.3, as_of=D)
    assert out.columns == [
        "store_key", "product_key", "as_of_date", "abc_class", "service_level", "z",
        "demand_mean", "demand_sd", "lead_time_days", "lead_time_sd_days", "on_hand",
        "on_order", "inventory_position", "forecast_lead_review", "safety_stock",
        "reorder_point", "order_up_to", "pack_size", "order_qty", "order_by_date", "reasons",
        "stock_out_risk"]
    assert out.schema["order_qty"].dataType.simpleString() == "bigint"
    assert out.schema["reasons"].dataType.simpleString() == "array<string>"
