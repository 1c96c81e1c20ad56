"""The anomaly detector's signals on inline rows: demand and the unexplained stock change,
the expected range (forecast first, else the trailing 28 days), the velocity change, the
price ratio, the kind attribution, the top-k, the deduplication against the stream's alerts,
the labelled days and the robust z-score baseline."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from retail.transforms import anomaly_signals as sig

D = date(2026, 3, 2)
KEY = "store_id string, product_id string, date date"


def _days(spark, demands, *, pair=("S1", "P1"), sold=None):
    """One pair's days ending D: demand (= units sold unless ``sold`` says otherwise)."""
    n = len(demands)
    rows = [(*pair, D - timedelta(days=n - 1 - i), float(sold[i] if sold else d), 0.0,
             float(d), 0.0, 0.0, None) for i, d in enumerate(demands)]
    return spark.createDataFrame(rows, f"{KEY}, units_sold double, lost_units double, "
                                       "demand double, stock_change double, "
                                       "unexplained_stock_change double, "
                                       "avg_unit_price double")


def _no_forecasts(spark):
    return spark.createDataFrame([], f"{KEY}, forecast double, forecast_low double, "
                                     "forecast_high double")


def _on(frame, day=D):
    return frame.filter(frame.date == day).first()


def test_demand_adds_lost_units_and_unexplained_stock_is_what_sales_returns_and_deliveries_leave(
        spark):
    # P3's first movement is after D: no row before it
    pairs = spark.createDataFrame([("S1", "P1", D - timedelta(days=5)), ("S1", "P2", D),
                                   ("S1", "P3", D + timedelta(days=1))],
                                  "store_id string, product_id string, first_day date")
    grid = sig.pair_days(pairs, spark.createDataFrame([(D,)], "date date"))
    sales = spark.createDataFrame([("S1", "P1", D, 5, 1, 2.5)],
                                  f"{KEY}, units_sold long, units_returned long, "
                                  "avg_unit_price double")
    lost = spark.createDataFrame([("S1", "P1", D, 3)], f"{KEY}, lost_units long")
    # P1: -5 sold, +1 returned, +10 delivered, -4 stolen = +2; P2: only -6 gone
    moves = spark.createDataFrame([("S1", "P1", D, 2, 10), ("S1", "P2", D, -6, 0)],
                                  f"{KEY}, stock_change long, delivered_units long")
    got = {r.product_id: r for r in sig.daily_demand(grid, sales, lost, moves).collect()}
    assert set(got) == {"P1", "P2"}
    assert (got["P1"].demand, got["P1"].unexplained_stock_change) == (8.0, -4.0)
    assert got["P1"].avg_unit_price == 2.5
    # a day without a sale still has its row: no demand, 6 units gone unexplained
    assert (got["P2"].demand, got["P2"].unexplained_stock_change) == (0.0, -6.0)
    assert got["P2"].avg_unit_price is None


def test_the_expected_range_is_the_trailing_mean_and_sd_without_the_day_itself(spark):
    days = _days(spark, [4, 6] * 14 + [50])  # 28 days of mean 5, then D
    row = _on(sig.with_expected_range(days, _no_forecasts(spark), width=2.0))
    sd = math.sqrt(28 / 27)  # sample sd of fourteen 4s and fourteen 6s
    assert row.expected_demand == pytest.approx(5.0)
    assert (row.expected_low, row.expected_high) == (pytest.approx(5 - 2 * sd),
                                                     pytest.approx(5 + 2 * sd))


def test_a_forecast_of_the_day_wins_over_the_trailing_range_and_short_history_has_none(spark):
    days = _days(spark, [4, 6] * 14 + [50])
    forecasts = spark.createDataFrame([("S1", "P1", D, 9.0, 7.0, 11.0)],
                                      f"{KEY}, forecast double, forecast_low double, "
                                      "forecast_high double")
    ranged = sig.with_expected_range(days, forecasts)
    row = _on(ranged)
    assert (row.expected_demand, row.expected_low, row.expected_high) == (9.0, 7.0, 11.0)
    sixth = _on(ranged, D - timedelta(days=28 - 6))  # 6 days before it: no range yet
    assert sixth.expected_demand is None


def test_velocity_change_is_the_log_ratio_of_the_last_7_days_to_the_28_before(spark):
    days = _days(spark, [2] * 28 + [9] * 7)
    got = sig.with_velocity_change(days)
    assert _on(got).velocity_change == pytest.approx(math.log(9.1 / 2.1))
    # one day short of 7 + 28 days: not measured
    assert _on(got, D - timedelta(days=1)).velocity_change is None


def test_features_put_demand_against_expected_stock_against_demand_and_price_against_reference(
        spark):
    rows = spark.createDataFrame(
        [("S1", "P1", D, 30.0, 4.0, 4.0, 13.0, -9.0, 25.0, 2.5),
         ("S1", "P2", D, 1.0, 4.0, 3.0, 1.0, 0.0, None, 2.5),
         ("S1", "P3", D, 3.0, None, None, None, 0.0, 2.5, 2.5)],
        f"{KEY}, demand double, expected_demand double, median_demand double, "
        "robust_z double, unexplained_stock_change double, avg_unit_price double, "
        "reference_price double")
    got = {r.product_id: r for r in sig.anomaly_features(rows).collect()}
    assert set(got) == {"P1", "P2"}  # no expected range, no features
    p1, p2 = got["P1"], got["P2"]
    assert p1.demand_log_ratio == pytest.approx(math.log(31 / 5))
    assert (p1.demand_z, p2.demand_z) == (13.0, -1.0)  # above the median, below it
    assert p1.unexplained_rate == pytest.approx(-9 / 5)
    assert p1.price_log_ratio == pytest.approx(math.log(10)) and p2.price_log_ratio == 0.0


def test_the_kind_is_the_signal_furthest_from_normal(spark):
    rows = spark.createDataFrame(
        [("drop", -2.0, 0.0, 0.0), ("spike", 2.5, 0.0, 0.1), ("theft", 0.1, -4.0, 0.0),
         ("price", -1.0, 0.0, -2.3)],
        "product_id string, demand_log_ratio double, unexplained_rate double, "
        "price_log_ratio double")
    scales = {"demand_log_ratio": (0.0, 0.5), "unexplained_rate": (0.0, 0.5),
              "price_log_ratio": (0.0, 0.05)}
    got = {r.product_id: r.kind for r in sig.with_kind(rows, scales).collect()}
    assert got == {"drop": "sales_drop", "spike": "demand_spike",
                   "theft": "inventory_discrepancy", "price": "pricing_error"}


def test_top_k_keeps_the_highest_scores_of_each_store_and_day(spark):
    rows = spark.createDataFrame(
        [("S1", "A", D, 0.9), ("S1", "B", D, 0.7), ("S1", "C", D, 0.8), ("S1", "D", D, 0.7),
         ("S1", "A", D + timedelta(days=1), 0.1), ("S2", "A", D, 0.2), ("S2", "B", D, None)],
        f"{KEY}, score double")
    got = {(r.store_id, r.date, r.product_id): r.rank
           for r in sig.top_k(rows, k=3).collect()}
    assert got == {("S1", D, "A"): 1, ("S1", D, "C"): 2, ("S1", D, "B"): 3,  # B before D
                   ("S1", D + timedelta(days=1), "A"): 1, ("S2", D, "A"): 1}
    with pytest.raises(ValueError, match="k >= 1"):
        sig.top_k(rows, k=0)


def test_an_anomaly_the_stream_already_alerted_on_that_local_day_names_the_alert(spark):
    flagged = spark.createDataFrame(
        [("S1", "P1", D, "demand_spike"), ("S1", "P2", D, "inventory_discrepancy"),
         ("S1", "P3", D, "pricing_error")], f"{KEY}, kind string")
    alerts = spark.createDataFrame([
        # 03:00 UTC on D + 1 is still D in New York
        ("a2", "sales_spike", "S1", "P1", datetime(2026, 3, 3, 3, 0), "America/New_York"),
        ("a1", "sales_spike", "S1", "P1", datetime(2026, 3, 2, 15, 0), "America/New_York"),
        ("a3", "sales_drop", "S1", "P2", datetime(2026, 3, 2, 15, 0), "America/New_York"),
        ("a4", "suspicious_price_change", "S1", "P3", datetime(2026, 3, 3, 15, 0),
         "America/New_York")],
        "alert_id string, alert_type string, store_id string, product_id string, "
        "event_time timestamp, timezone string")
    got = {r.product_id: r.duplicate_alert_id
           for r in sig.with_duplicate_alerts(flagged, alerts).collect()}
    # P2's alert is of another type, P3's of another day
    assert got == {"P1": "a1", "P2": None, "P3": None}


def test_label_days_are_the_labelled_days_inside_the_window(spark):
    from pyspark.sql import functions as F

    labels = spark.createDataFrame(
        [("demand_spike", "S1", "P1", D - timedelta(days=3), D + timedelta(days=1)),
         ("pricing_error", "S1", "P2", D - timedelta(days=9), D - timedelta(days=8))],
        "kind string, store_id string, product_id string, start date, `end` date")
    got = sig.label_days(labels, F.lit(D - timedelta(days=1)), F.lit(D)).collect()
    assert sorted((r.product_id, r.date) for r in got) == [
        ("P1", D - timedelta(days=1)), ("P1", D)]


def test_the_baseline_z_score_is_the_distance_from_the_trailing_median_in_mads(spark):
    days = _days(spark, [1, 2, 3, 4, 5, 6, 7, 30])
    row = _on(sig.with_robust_z(days))
    # median 4 of 1..7, MAD = median of |x - 4| = 2
    assert (row.median_demand, row.robust_z) == (4.0, pytest.approx(26 / 2))
    flat = _on(sig.with_robust_z(_days(spark, [3] * 7 + [4])))
    assert flat.robust_z == pytest.approx(1 / sig.MAD_FLOOR)  # MAD 0: the floor
    short = _on(sig.with_robust_z(_days(spark, [3] * 6 + [4])))
    assert short.robust_z is None
    kinds = sig.with_robust_z(_days(spark, [3] * 7 + [0])).select(
        sig.baseline_kind().alias("kind")).collect()
    assert kinds[-1].kind == "sales_drop"
