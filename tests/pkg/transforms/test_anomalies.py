"""Sales spikes and drops, high-value baskets and suspicious price moves, as alerts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from retail.transforms.alerts import ALERT_COLUMNS
from retail.transforms.anomalies import (
    MAD_TO_SIGMA,
    high_value_transactions,
    sales_anomalies,
    suspicious_price_changes,
)

UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WINDOWS_DDL = "store_id string, window_start timestamp, revenue double"
SALES_DDL = ("store_id string, product_id string, transaction_id string, "
             "transaction_type string, quantity int, revenue decimal(18,2), "
             "event_time timestamp")
CHANGES_DDL = ("store_id string, product_id string, old_price double, new_price double, "
               "change_type string, event_time timestamp")
PRODUCTS_DDL = "product_id string, unit_cost decimal(18,2)"
SUMMARY = ("alert_type", "severity", "status", "store_id", "product_id", "metric_value",
           "threshold", "event_time")


def t(minute: int) -> datetime:
    return datetime(2024, 3, 1, 10, minute, tzinfo=UTC)


def summary(alerts: DataFrame) -> DataFrame:
    return alerts.select(*SUMMARY)


def summary_rows(spark, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(
        rows, "alert_type string, severity string, status string, store_id string, "
              "product_id string, metric_value double, threshold double, "
              "event_time timestamp")


def assert_alert_shape(alerts: DataFrame) -> None:
    assert tuple(alerts.columns) == ALERT_COLUMNS
    ids = [r.alert_id for r in alerts.collect()]
    assert ids and all(UUID_SHAPE.match(i) for i in ids), ids


# --- sales spikes and drops -----------------------------------------------------------------

def history(store: str, *revenues: float) -> list[tuple]:
    """Baseline windows of ``store`` at 10:00, 10:01, ..."""
    return [(store, t(m), r) for m, r in enumerate(revenues)]


def history_with_spread(store: str, scale: float = 1.0) -> list[tuple]:
    # median 100, absolute deviations 0, 10, 10, 5, 5 -> MAD 5 (times the scale)
    return history(store, *(r * scale for r in (100.0, 110.0, 90.0, 105.0, 95.0)))


def test_a_window_far_above_the_stores_baseline_is_a_sales_spike(spark):
    baseline = spark.createDataFrame(history_with_spread("S00001"), WINDOWS_DDL)
    windows = spark.createDataFrame([("S00001", t(10), 200.0)], WINDOWS_DDL)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3).cache()

    z = MAD_TO_SIGMA * (200.0 - 100.0) / 5.0  # 13.49, more than twice the threshold
    assertDataFrameEqual(summary(alerts), summary_rows(spark, [
        ("sales_spike", "high", "open", "S00001", "", z, 3.5, t(10))]))
    assert json.loads(alerts.first().details) == {
        "window_start": "2024-03-01T10:10:00.000Z", "revenue": 200.0,
        "baseline_median": 100.0, "mad": 5.0, "z": z, "baseline_windows": 5}
    assert_alert_shape(alerts)


def test_a_window_far_below_the_stores_baseline_is_a_sales_drop(spark):
    baseline = spark.createDataFrame(history_with_spread("S00001"), WINDOWS_DDL)
    windows = spark.createDataFrame([("S00001", t(10), 60.0)], WINDOWS_DDL)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3).cache()

    z = MAD_TO_SIGMA * (60.0 - 100.0) / 5.0  # -5.4: past the threshold, not twice
    assertDataFrameEqual(summary(alerts), summary_rows(spark, [
        ("sales_drop", "medium", "open", "S00001", "", z, -3.5, t(10))]))
    assert_alert_shape(alerts)


def test_a_window_within_the_usual_spread_raises_nothing(spark):
    baseline = spark.createDataFrame(history_with_spread("S00001"), WINDOWS_DDL)
    windows = spark.createDataFrame([("S00001", t(10), 120.0)], WINDOWS_DDL)  # z = 2.7

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assertDataFrameEqual(summary(alerts), summary_rows(spark, []))


def test_a_store_with_too_little_history_is_not_judged(spark):
    baseline = spark.createDataFrame(history("S00002", 100.0, 120.0), WINDOWS_DDL)
    windows = spark.createDataFrame([("S00002", t(10), 10_000.0)], WINDOWS_DDL)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assertDataFrameEqual(summary(alerts), summary_rows(spark, []))


def test_a_store_whose_baseline_has_no_spread_is_not_judged(spark):
    # median 100 and four of five windows on it: MAD 0
    baseline = spark.createDataFrame(history("S00003", 100.0, 100.0, 100.0, 100.0, 130.0),
                                    WINDOWS_DDL)
    windows = spark.createDataFrame([("S00003", t(10), 10_000.0)], WINDOWS_DDL)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assertDataFrameEqual(summary(alerts), summary_rows(spark, []))


def test_each_store_is_judged_against_its_own_baseline(spark):
    baseline = spark.createDataFrame(
        history_with_spread("S00001") + history_with_spread("S00002", scale=10),
        WINDOWS_DDL)
    # 200 is a spike for S00001 (median 100) and a drop for S00002 (median 1000, MAD 50)
    windows = spark.createDataFrame([("S00001", t(10), 200.0), ("S00002", t(10), 200.0),
                                     ("S00009", t(10), 200.0)], WINDOWS_DDL)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assertDataFrameEqual(summary(alerts), summary_rows(spark, [
        ("sales_spike", "high", "open", "S00001", "", MAD_TO_SIGMA * 100 / 5, 3.5, t(10)),
        ("sales_drop", "high", "open", "S00002", "", MAD_TO_SIGMA * -800 / 50, -3.5, t(10)),
    ]))


def test_sales_anomaly_ids_are_the_same_when_the_same_input_is_run_again(spark):
    baseline = spark.createDataFrame(history_with_spread("S00001"), WINDOWS_DDL)
    windows = spark.createDataFrame([("S00001", t(10), 200.0), ("S00001", t(11), 20.0)],
                                    WINDOWS_DDL)

    first = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)
    again = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assertDataFrameEqual(first, again)
    assert first.select("alert_id").distinct().count() == 2


# --- high-value baskets ---------------------------------------------------------------------

def test_baskets_worth_more_than_the_threshold_are_flagged_and_returns_are_ignored(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", "T-1", "sale", 3, Decimal("300.00"), t(1)),
        ("S00001", "P000002", "T-1", "sale", 1, Decimal("250.00"), t(2)),   # T-1: 550
        ("S00001", "P000001", "T-2", "sale", 10, Decimal("1200.00"), t(3)),  # T-2: 1200
        ("S00001", "P000001", "T-3", "sale", 4, Decimal("400.00"), t(4)),   # T-3: 400
        ("S00001", "P000002", "T-4", "return", -9, Decimal("-900.00"), t(5)),
        ("S00002", "P000001", "T-5", "sale", 3, Decimal("300.00"), t(6)),
        ("S00002", "P000002", "T-5", "return", -6, Decimal("-600.00"), t(6)),
        ("S00002", "P000003", "T-5", "return", 6, Decimal("600.00"), t(6)),  # a return
    ], SALES_DDL)

    alerts = high_value_transactions(sales, threshold=500).cache()

    assertDataFrameEqual(summary(alerts), summary_rows(spark, [
        ("high_value_transaction", "medium", "open", "S00001", "", 550.0, 500.0, t(2)),
        ("high_value_transaction", "high", "open", "S00001", "", 1200.0, 500.0, t(3)),
    ]))
    details = {json.loads(r.details)["transaction_id"]: json.loads(r.details)
               for r in alerts.collect()}
    assert details == {"T-1": {"transaction_id": "T-1", "total": 550.0, "lines": 2},
                       "T-2": {"transaction_id": "T-2", "total": 1200.0, "lines": 1}}
    assert_alert_shape(alerts)


def test_a_basket_exactly_at_the_threshold_is_not_flagged(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", "T-1", "sale", 5, Decimal("500.00"), t(1)),
    ], SALES_DDL)

    assertDataFrameEqual(summary(high_value_transactions(sales, threshold=500)),
                         summary_rows(spark, []))


def test_high_value_alert_ids_are_the_same_when_the_same_input_is_run_again(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", "T-1", "sale", 3, Decimal("600.00"), t(1)),
        ("S00001", "P000001", "T-2", "sale", 3, Decimal("700.00"), t(1)),
    ], SALES_DDL)

    first = high_value_transactions(sales, threshold=500)
    again = high_value_transactions(sales, threshold=500)

    assertDataFrameEqual(first, again)
    assert first.select("alert_id").distinct().count() == 2


# --- price changes --------------------------------------------------------------------------

def test_large_price_moves_and_prices_below_cost_are_suspicious_but_a_small_move_is_not(
        spark):
    products = spark.createDataFrame([
        ("P000001", Decimal("2.00")), ("P000002", Decimal("2.00")),
        ("P000003", Decimal("6.00")), ("P000004", Decimal("1.00")),
    ], PRODUCTS_DDL)
    changes = spark.createDataFrame([
        ("S00001", "P000001", 10.0, 9.0, "regular", t(1)),           # -10%
        ("S00001", "P000002", 10.0, 4.0, "promotion_start", t(2)),   # -60%
        ("S00001", "P000003", 10.0, 5.0, "promotion_start", t(3)),   # -50% and below cost
        ("S00001", "P000004", 10.0, 25.0, "regular", t(4)),          # +150%
        ("S00001", "P000009", 10.0, 16.0, "regular", t(5)),          # +60%, unknown cost
    ], CHANGES_DDL)

    alerts = suspicious_price_changes(changes, products, max_change_pct=50).cache()

    assertDataFrameEqual(summary(alerts), summary_rows(spark, [
        ("suspicious_price_change", "medium", "open", "S00001", "P000002", -60.0, 50.0, t(2)),
        ("suspicious_price_change", "high", "open", "S00001", "P000003", -50.0, 50.0, t(3)),
        ("suspicious_price_change", "high", "open", "S00001", "P000004", 150.0, 50.0, t(4)),
        ("suspicious_price_change", "medium", "open", "S00001", "P000009", 60.0, 50.0, t(5)),
    ]))
    below_cost = {r.product_id: json.loads(r.details)["below_cost"] for r in alerts.collect()}
    assert below_cost == {"P000002": False, "P000003": True, "P000004": False,
                          "P000009": False}
    assert_alert_shape(alerts)


def test_price_change_alert_ids_are_the_same_when_the_same_input_is_run_again(spark):
    products = spark.createDataFrame([("P000001", Decimal("2.00"))], PRODUCTS_DDL)
    changes = spark.createDataFrame([
        ("S00001", "P000001", 10.0, 4.0, "promotion_start", t(2)),
        ("S00002", "P000001", 10.0, 1.0, "promotion_start", t(2)),
    ], CHANGES_DDL)

    first = suspicious_price_changes(changes, products, max_change_pct=50)
    again = suspicious_price_changes(changes, products, max_change_pct=50)

    assertDataFrameEqual(first, again)
    assertDataFrameEqual(first.select(F.col("alert_id").rlike(UUID_SHAPE.pattern).alias("ok")),
                         [Row(ok=True), Row(ok=True)])
    assert first.select("alert_id").distinct().count() == 2
