"""Sales spikes and drops, high-value baskets and suspicious price moves, as alerts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from retail.streaming.alerts import ALERT_COLUMNS
from retail.streaming.sales import (
    MAD_TO_SIGMA,
    high_value_transactions,
    sales_anomalies,
    suspicious_price_changes,
)

UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS = pa.timestamp("ms", "UTC")
WINDOWS = pa.schema([("store_id", pa.string()), ("window_start", TS),
                     ("revenue", pa.float64())])
SALES = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()), ("transaction_id", pa.string()),
    ("transaction_type", pa.string()), ("quantity", pa.int32()),
    ("revenue", pa.decimal128(18, 2)), ("event_time", TS)])
CHANGES = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()), ("old_price", pa.float64()),
    ("new_price", pa.float64()), ("change_type", pa.string()), ("event_time", TS)])
PRODUCTS = pa.schema([("product_id", pa.string()), ("unit_cost", pa.decimal128(18, 2))])
SUMMARY = pa.schema([
    ("alert_type", pa.string()), ("severity", pa.string()), ("status", pa.string()),
    ("store_id", pa.string()), ("product_id", pa.string()), ("metric_value", pa.float64()),
    ("threshold", pa.float64()), ("event_time", TS)])


def t(minute: int) -> datetime:
    return datetime(2024, 3, 1, 10, minute, tzinfo=UTC)


def table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows],
                                schema)


def summary(alerts: pa.Table) -> pa.Table:
    return alerts.select(SUMMARY.names)


def summary_rows(rows: list[tuple]) -> pa.Table:
    return table(rows, SUMMARY)


def assert_tables_equal(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema == expected.schema
    assert sorted(actual.to_pylist(), key=repr) == sorted(expected.to_pylist(), key=repr)


def assert_alert_shape(alerts: pa.Table) -> None:
    assert tuple(alerts.column_names) == ALERT_COLUMNS
    ids = alerts["alert_id"].to_pylist()
    assert ids and all(UUID_SHAPE.match(i) for i in ids), ids


def distinct_ids(alerts: pa.Table) -> int:
    return len(set(alerts["alert_id"].to_pylist()))


# --- sales spikes and drops -----------------------------------------------------------------

def history(store: str, *revenues: float) -> list[tuple]:
    """Baseline windows of ``store`` at 10:00, 10:01, ..."""
    return [(store, t(m), r) for m, r in enumerate(revenues)]


def history_with_spread(store: str, scale: float = 1.0) -> list[tuple]:
    # median 100, absolute deviations 0, 10, 10, 5, 5 -> MAD 5 (times the scale)
    return history(store, *(r * scale for r in (100.0, 110.0, 90.0, 105.0, 95.0)))


def test_a_window_far_above_the_stores_baseline_is_a_sales_spike():
    baseline = table(history_with_spread("S00001"), WINDOWS)
    windows = table([("S00001", t(10), 200.0)], WINDOWS)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    z = MAD_TO_SIGMA * (200.0 - 100.0) / 5.0  # 13.49, more than twice the threshold
    assert_tables_equal(summary(alerts), summary_rows([
        ("sales_spike", "high", "open", "S00001", "", z, 3.5, t(10))]))
    assert json.loads(alerts["details"][0].as_py()) == {
        "window_start": "2024-03-01T10:10:00.000Z", "revenue": 200.0,
        "baseline_median": 100.0, "mad": 5.0, "z": z, "baseline_windows": 5}
    assert_alert_shape(alerts)


def test_a_window_far_below_the_stores_baseline_is_a_sales_drop():
    baseline = table(history_with_spread("S00001"), WINDOWS)
    windows = table([("S00001", t(10), 60.0)], WINDOWS)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    z = MAD_TO_SIGMA * (60.0 - 100.0) / 5.0  # -5.4: past the threshold, not twice
    assert_tables_equal(summary(alerts), summary_rows([
        ("sales_drop", "medium", "open", "S00001", "", z, -3.5, t(10))]))
    assert_alert_shape(alerts)


def test_a_window_within_the_usual_spread_raises_nothing():
    baseline = table(history_with_spread("S00001"), WINDOWS)
    windows = table([("S00001", t(10), 120.0)], WINDOWS)  # z = 2.7

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assert_tables_equal(summary(alerts), summary_rows([]))


def test_a_store_with_too_little_history_is_not_judged():
    baseline = table(history("S00002", 100.0, 120.0), WINDOWS)
    windows = table([("S00002", t(10), 10_000.0)], WINDOWS)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assert_tables_equal(summary(alerts), summary_rows([]))


def test_a_store_whose_baseline_has_no_spread_is_not_judged():
    # median 100 and four of five windows on it: MAD 0
    baseline = table(history("S00003", 100.0, 100.0, 100.0, 100.0, 130.0), WINDOWS)
    windows = table([("S00003", t(10), 10_000.0)], WINDOWS)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assert_tables_equal(summary(alerts), summary_rows([]))


def test_each_store_is_judged_against_its_own_baseline():
    baseline = table(history_with_spread("S00001") + history_with_spread("S00002", scale=10),
                     WINDOWS)
    # 200 is a spike for S00001 (median 100) and a drop for S00002 (median 1000, MAD 50)
    windows = table([("S00001", t(10), 200.0), ("S00002", t(10), 200.0),
                     ("S00009", t(10), 200.0)], WINDOWS)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assert_tables_equal(summary(alerts), summary_rows([
        ("sales_spike", "high", "open", "S00001", "", MAD_TO_SIGMA * 100 / 5, 3.5, t(10)),
        ("sales_drop", "high", "open", "S00002", "", MAD_TO_SIGMA * -800 / 50, -3.5, t(10)),
    ]))


def test_sales_anomaly_ids_are_the_same_when_the_same_input_is_run_again():
    baseline = table(history_with_spread("S00001"), WINDOWS)
    windows = table([("S00001", t(10), 200.0), ("S00001", t(11), 20.0)], WINDOWS)

    first = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)
    again = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    assert_tables_equal(first, again)
    assert distinct_ids(first) == 2


def test_an_even_baseline_takes_the_mean_of_its_two_middle_windows_as_median():
    # beyond the Spark tests: median (100 + 110) / 2 = 105, deviations 5, 5, 15, 25 -> MAD 10
    baseline = table(history("S00001", 90.0, 100.0, 110.0, 130.0), WINDOWS)
    windows = table([("S00001", t(10), 200.0), ("S00001", t(11), None)], WINDOWS)

    alerts = sales_anomalies(windows, baseline, z_threshold=3.5, min_history=3)

    details = json.loads(alerts["details"][0].as_py())
    assert (alerts.num_rows, details["baseline_median"], details["mad"]) == (1, 105.0, 10.0)


# --- high-value baskets ---------------------------------------------------------------------

def test_baskets_worth_more_than_the_threshold_are_flagged_and_returns_are_ignored():
    sales = table([
        ("S00001", "P000001", "T-1", "sale", 3, Decimal("300.00"), t(1)),
        ("S00001", "P000002", "T-1", "sale", 1, Decimal("250.00"), t(2)),   # T-1: 550
        ("S00001", "P000001", "T-2", "sale", 10, Decimal("1200.00"), t(3)),  # T-2: 1200
        ("S00001", "P000001", "T-3", "sale", 4, Decimal("400.00"), t(4)),   # T-3: 400
        ("S00001", "P000002", "T-4", "return", -9, Decimal("-900.00"), t(5)),
        ("S00002", "P000001", "T-5", "sale", 3, Decimal("300.00"), t(6)),
        ("S00002", "P000002", "T-5", "return", -6, Decimal("-600.00"), t(6)),
        ("S00002", "P000003", "T-5", "return", 6, Decimal("600.00"), t(6)),  # a return
    ], SALES)

    alerts = high_value_transactions(sales, threshold=500)

    assert_tables_equal(summary(alerts), summary_rows([
        ("high_value_transaction", "medium", "open", "S00001", "", 550.0, 500.0, t(2)),
        ("high_value_transaction", "high", "open", "S00001", "", 1200.0, 500.0, t(3)),
    ]))
    details = {json.loads(d)["transaction_id"]: json.loads(d)
               for d in alerts["details"].to_pylist()}
    assert details == {"T-1": {"transaction_id": "T-1", "total": 550.0, "lines": 2},
                       "T-2": {"transaction_id": "T-2", "total": 1200.0, "lines": 1}}
    assert_alert_shape(alerts)


def test_a_basket_exactly_at_the_threshold_is_not_flagged():
    sales = table([
        ("S00001", "P000001", "T-1", "sale", 5, Decimal("500.00"), t(1)),
    ], SALES)

    assert_tables_equal(summary(high_value_transactions(sales, threshold=500)),
                        summary_rows([]))


def test_high_value_alert_ids_are_the_same_when_the_same_input_is_run_again():
    sales = table([
        ("S00001", "P000001", "T-1", "sale", 3, Decimal("600.00"), t(1)),
        ("S00001", "P000001", "T-2", "sale", 3, Decimal("700.00"), t(1)),
    ], SALES)

    first = high_value_transactions(sales, threshold=500)
    again = high_value_transactions(sales, threshold=500)

    assert_tables_equal(first, again)
    assert distinct_ids(first) == 2


def test_a_basket_total_is_the_double_nearest_its_exact_sum():
    # beyond the Spark tests: Arrow's decimal cast gives 19021.850000000002
    sales = table([("S00001", "P000001", "T-1", "sale", 1, Decimal("19021.85"), t(1))], SALES)

    assert high_value_transactions(sales, threshold=500)["metric_value"].to_pylist() \
        == [19021.85]


# --- price changes --------------------------------------------------------------------------

def test_large_price_moves_and_prices_below_cost_are_suspicious_but_a_small_move_is_not():
    products = table([
        ("P000001", Decimal("2.00")), ("P000002", Decimal("2.00")),
        ("P000003", Decimal("6.00")), ("P000004", Decimal("1.00")),
    ], PRODUCTS)
    changes = table([
        ("S00001", "P000001", 10.0, 9.0, "regular", t(1)),           # -10%
        ("S00001", "P000002", 10.0, 4.0, "promotion_start", t(2)),   # -60%
        ("S00001", "P000003", 10.0, 5.0, "promotion_start", t(3)),   # -50% and below cost
        ("S00001", "P000004", 10.0, 25.0, "regular", t(4)),          # +150%
        ("S00001", "P000009", 10.0, 16.0, "regular", t(5)),          # +60%, unknown cost
    ], CHANGES)

    alerts = suspicious_price_changes(changes, products, max_change_pct=50)

    assert_tables_equal(summary(alerts), summary_rows([
        ("suspicious_price_change", "medium", "open", "S00001", "P000002", -60.0, 50.0, t(2)),
        ("suspicious_price_change", "high", "open", "S00001", "P000003", -50.0, 50.0, t(3)),
        ("suspicious_price_change", "high", "open", "S00001", "P000004", 150.0, 50.0, t(4)),
        ("suspicious_price_change", "medium", "open", "S00001", "P000009", 60.0, 50.0, t(5)),
    ]))
    below_cost = {r["product_id"]: json.loads(r["details"])["below_cost"]
                  for r in alerts.to_pylist()}
    assert below_cost == {"P000002": False, "P000003": True, "P000004": False,
                          "P000009": False}
    assert_alert_shape(alerts)


def test_price_change_alert_ids_are_the_same_when_the_same_input_is_run_again():
    products = table([("P000001", Decimal("2.00"))], PRODUCTS)
    changes = table([
        ("S00001", "P000001", 10.0, 4.0, "promotion_start", t(2)),
        ("S00002", "P000001", 10.0, 1.0, "promotion_start", t(2)),
    ], CHANGES)

    first = suspicious_price_changes(changes, products, max_change_pct=50)
    again = suspicious_price_changes(changes, products, max_change_pct=50)

    assert_tables_equal(first, again)
    assert [bool(UUID_SHAPE.match(i)) for i in first["alert_id"].to_pylist()] == [True, True]
    assert distinct_ids(first) == 2


def test_a_price_change_without_a_new_price_is_not_judged_and_one_from_zero_fails():
    # beyond the Spark tests: null comparisons are false; Spark (ANSI) fails dividing by 0
    products = table([("P000001", Decimal("2.00"))], PRODUCTS)
    unknown = table([("S00001", "P000001", 10.0, None, "regular", t(2))], CHANGES)
    from_zero = table([("S00001", "P000001", 0.0, 4.0, "regular", t(2))], CHANGES)

    assert suspicious_price_changes(unknown, products, max_change_pct=50).num_rows == 0
    with pytest.raises(ZeroDivisionError):
        suspicious_price_changes(from_zero, products, max_change_pct=50)
