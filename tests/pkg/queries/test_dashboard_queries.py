"""The dashboards' model and alert queries on the hand-checked data set of test_queries.py,
with model outputs added below, and row-level security: every query bound to the reader's
stores answers with S1 alone exactly what it answers on a warehouse holding only S1's facts,
and with no store, no figures.

Model outputs (as_of = Friday 2024-03-15, as in test_queries.py):
  fact_ml_predictions  S1's 'demand_forecast' run of 03-13, version v2 (written 02:00):
                       P1 predicts h units at horizon h (80 % +-1, 95 % +-2), P3 2 units
                       (80 % +-1, no 95 % pair); v1 of the same day (written 01:00) and later
                       runs must not count. Horizon-1 rows: S1/P1 03-13 (run 03-12) 7,
                       S2/P1 03-14 4, S3/P2 03-15 3.5; another model's row counts nowhere.
  fact_replenishment   run 03-15 v2 (06:00) for S1 (P1, P3, P4) and S2 (P1, P3); v1 (05:00),
                       03-14 and 03-16 rows must not count.
  ml_slow_movers       run 03-15: S1/P2 and S3/P5 slow, S2/P2 not; 03-08 and 03-16 runs.
  model_evaluations, model_drift, model_feature_importance, stream_alerts: below.
Every expected value is worked out by hand in the test that checks it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from retail.io.warehouse import ClickHouseWarehouse
from retail.queries import all_stores, list_queries, run_query
from tests.pkg.queries.test_queries import AS_OF, hand_built, load, times, ts

pytestmark = pytest.mark.clickhouse_server

D = date.fromisoformat

# (store, product, target day, horizon, predicted, low_80, high_80, low_95, high_95, model,
#  version, predicted_at)
PREDICTIONS = [
    *[("S1", "P1", f"2024-03-{13 + h:02d}", h, h, h - 1, h + 1, h - 2, h + 2,
       "demand_forecast", "v2", "2024-03-13T02:00") for h in range(1, 8)],
    *[("S1", "P3", f"2024-03-{13 + h:02d}", h, 2, 1, 3, None, None,
       "demand_forecast", "v2", "2024-03-13T02:00") for h in range(1, 8)],
    ("S1", "P1", "2024-03-14", 1, 100, 90, 110, 80, 120, "demand_forecast", "v1",
     "2024-03-13T01:00"),  # the same run day, written first: v2 wins
    ("S1", "P1", "2024-03-17", 1, 50, 40, 60, 30, 70, "demand_forecast", "v2",
     "2024-03-16T02:00"),  # a run after as_of
    ("S1", "P1", "2024-03-13", 1, 7, 6, 8, 5, 9, "demand_forecast", "v2", "2024-03-12T02:00"),
    ("S1", "P1", "2024-03-15", 1, 999, 0, 999, 0, 999, "price_model", "v9",
     "2024-03-14T02:00"),  # another model
    ("S2", "P1", "2024-03-14", 1, 4, 3, 5, 2, 6, "demand_forecast", "v2", "2024-03-13T02:00"),
    ("S3", "P2", "2024-03-15", 1, 3.5, 2, 5, 1, 6, "demand_forecast", "v2",
     "2024-03-14T02:00"),
]
STALE = [  # S1/P3's horizon-1 row of the same key, replaced by the later write (FINAL)
    ("S1", "P3", "2024-03-14", 1, 50, 40, 60, 30, 70, "demand_forecast", "v2",
     "2024-03-13T01:30"),
]

# (store, product, run day, version, created hour, on_hand, on_order, safety, reorder point,
#  order-up-to, order qty, pack, order by, reasons, risk, abc)
REPLENISHMENT = [
    ("S1", "P1", "2024-03-15", "v2", 6, 2, 0, 3, 8.5, 20, 18, 6, "2024-03-15",
     ["below_reorder_point"], 0.62, "A"),
    ("S1", "P3", "2024-03-15", "v2", 6, 19, 0, 2, 6, 12, 0, 1, None, [], 0.05, "B"),
    ("S1", "P4", "2024-03-15", "v2", 6, 0, 2, 1, 4, 10, 8, 2, "2024-03-16",
     ["below_reorder_point"], 0.25, "A"),
    ("S2", "P1", "2024-03-15", "v2", 6, 15, 0, 4, 10, 30, 15, 5, "2024-03-17",
     ["below_reorder_point"], 0.1, "A"),
    ("S2", "P3", "2024-03-15", "v2", 6, 6, 0, 2, 8, 12, 6, 6, "2024-03-15",
     ["below_reorder_point", "pack_rounding"], 0.3, "B"),
    ("S1", "P1", "2024-03-15", "v1", 5, 2, 0, 3, 9, 99, 99, 1, "2024-03-15", [], 0.9, "A"),
    ("S1", "P2", "2024-03-14", "v2", 6, 198, 0, 1, 2, 5, 7, 1, "2024-03-14", [], 0.7, "C"),
    ("S1", "P3", "2024-03-16", "v2", 6, 19, 0, 2, 30, 80, 50, 1, "2024-03-16", [], 0.8, "B"),
]

# (store, product, run day, probability, slow, on_hand, velocity, cover, depth, start,
#  expected units)
SLOW_MOVERS = [
    ("S1", "P2", "2024-03-15", 0.91, True, 198, 0.07, 2828.57, 0.3, "2024-03-16", 60.5),
    ("S3", "P5", "2024-03-15", 0.8, True, 39, 0.04, 975.0, 0.2, "2024-03-18", 20.0),
    ("S2", "P2", "2024-03-15", 0.3, False, 10, 0.5, 20.0, 0.0, None, None),
    ("S2", "P3", "2024-03-08", 0.9, True, 9, 0.1, 90.0, 0.25, "2024-03-09", 5.0),
    ("S1", "P1", "2024-03-16", 0.95, True, 102, 0.1, 1020.0, 0.4, "2024-03-17", 50.0),
]

# (version, day, horizon, category, n, actual, forecast, abs error, coverage 80, coverage 95,
#  evaluated_at)
EVALUATIONS = [
    ("v2", "2024-03-14", 1, "Produce", 10, 100, 110, 30, 0.8, 0.9, "2024-03-15T03:00"),
    ("v2", "2024-03-14", 1, "Dairy", 5, 50, 40, 20, 0.6, None, "2024-03-15T03:00"),
    ("v2", "2024-03-14", 2, "Produce", 10, 100, 90, 25, 0.7, 1.0, "2024-03-15T03:00"),
    ("v2", "2024-03-13", 1, "Produce", 4, 10, 30, 20, 0.0, 0.0, "2024-03-14T02:00"),  # re-run:
    ("v2", "2024-03-13", 1, "Produce", 4, 0, 2, 2, 0.5, 0.75, "2024-03-14T03:00"),  # this wins
    ("v2", "2024-03-16", 1, "Produce", 1, 1, 1, 0, 1.0, 1.0, "2024-03-17T03:00"),  # after as_of
    ("v1", "2023-12-01", 1, "Produce", 1, 1, 1, 0, 1.0, 1.0, "2023-12-02T03:00"),  # too old
]

# (model, version, day, feature, psi, status, reference mean, recent mean, computed hour)
DRIFT = [
    ("demand_forecast", "v2", "2024-03-14", "units_lag_7", 0.3, "significant", 5.0, 7.0, 5),
    ("demand_forecast", "v2", "2024-03-10", "units_lag_7", 0.05, "stable", 5.0, 5.1, 5),
    ("demand_forecast", "v2", "2024-03-14", "price", 0.12, "moderate", 2.0, 2.1, 5),
    ("demand_forecast", "v1", "2024-03-14", "price", 0.01, "stable", 2.0, 2.0, 4),
    ("demand_forecast", "v2", "2024-03-16", "price", 0.9, "significant", 2.0, 9.0, 5),
    ("demand_forecast", "v2", "2024-03-14", "promo", None, "no_data", None, None, 5),
    ("slow_movers", "v1", "2024-03-12", "velocity", 0.02, "stable", 1.0, 1.0, 5),
]

# (model, version, trained_at, feature, importance, rank)
IMPORTANCE = [
    ("demand_forecast", "v1", "2024-03-01T00:00", "units_lag_7", 0.6, 1),
    ("demand_forecast", "v1", "2024-03-01T00:00", "price", 0.4, 2),
    ("demand_forecast", "v2", "2024-03-15T23:00", "units_lag_7", 0.5, 1),
    ("demand_forecast", "v2", "2024-03-15T23:00", "price", 0.3, 2),
    ("demand_forecast", "v2", "2024-03-15T23:00", "promo", 0.2, 3),
    ("demand_forecast", "v3", "2024-03-16T01:00", "price", 1.0, 1),
    ("slow_movers", "v1", "2024-02-01T00:00", "velocity", 1.0, 1),
]

# stream_alerts keeps 90 days (TTL), so the alerts are dated around yesterday (ALERT_DAY),
# not around AS_OF: (alert, type, severity, status, store, product, event day offset from
# ALERT_DAY, event hour, created minutes after the event)
ALERT_DAY = datetime.now(timezone.utc).date() - timedelta(days=1)
ALERTS = [
    ("A1", "sales_spike", "high", "open", "S1", "P1", 0, 10, 1),
    ("A2", "sales_drop", "critical", "open", "S1", "", -1, 9, 1),
    ("A3", "inventory_discrepancy", "medium", "open", "S2", "P3", 0, 11, 1),
    ("A4", "restock", "low", "open", "S1", "P3", 0, 12, 1),
    ("A5", "high_value_transaction", "critical", "open", "S1", "P4", 0, 13, 1),
    ("A5", "high_value_transaction", "critical", "resolved", "S1", "P4", 0, 13, 60),
    # ^ the newer version of A5: no longer open
    ("A6", "sales_spike", "high", "open", "S3", "P2", -7, 12, 1),
    ("A7", "sales_spike", "high", "open", "S1", "P1", 1, 1, 1),
    ("A8", "sales_spike", "high", "open", "S3", "P5", -6, 0, 1),
]


def alert_time(offset: int, hour: int, minutes: int = 0) -> datetime:
    return datetime.combine(ALERT_DAY + timedelta(days=offset), time(hour),
                            timezone.utc) + timedelta(minutes=minutes)


def alert_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, name))


def floats(values) -> pa.Array:
    return pa.array(values, pa.float64())


def predictions(rows) -> pa.Table:
    return pa.table({
        "prediction_id": [str(uuid.uuid4()) for _ in rows],
        "date_key": pa.array([int(r[2].replace("-", "")) for r in rows], pa.uint32()),
        "store_id": [r[0] for r in rows], "product_id": [r[1] for r in rows],
        "horizon": pa.array([r[3] for r in rows], pa.uint16()),
        "predicted_demand": floats(r[4] for r in rows),
        "confidence_low": floats(r[5] for r in rows),
        "confidence_high": floats(r[6] for r in rows),
        "confidence_low_95": floats(r[7] for r in rows),
        "confidence_high_95": floats(r[8] for r in rows),
        "stock_out_risk_score": pa.array([0.0] * len(rows), pa.float32()),
        "recommended_order_qty": pa.array([0] * len(rows), pa.uint32()),
        "model_name": [r[9] for r in rows], "model_version": [r[10] for r in rows],
        "predicted_at": times(ts(r[11]) for r in rows),
    })


def replenishment(rows) -> pa.Table:
    return pa.table({
        "date_key": pa.array([int(r[2].replace("-", "")) for r in rows], pa.uint32()),
        "run_date": pa.array([D(r[2]) for r in rows], pa.date32()),
        "order_by_date": pa.array([r[12] and D(r[12]) for r in rows], pa.date32()),
        "store_id": [r[0] for r in rows], "product_id": [r[1] for r in rows],
        "on_hand": pa.array([r[5] for r in rows], pa.int32()),
        "on_order": pa.array([r[6] for r in rows], pa.int32()),
        "forecast_lead_review": floats([1.0] * len(rows)),
        "safety_stock": floats(r[7] for r in rows),
        "reorder_point": floats(r[8] for r in rows),
        "order_up_to": floats(r[9] for r in rows),
        "order_qty": pa.array([r[10] for r in rows], pa.uint32()),
        "pack_size": pa.array([r[11] for r in rows], pa.uint32()),
        "reasons": [r[13] for r in rows],
        "stock_out_risk": pa.array([r[14] for r in rows], pa.float32()),
        "lead_time_days": pa.array([2.0] * len(rows), pa.float32()),
        "lead_time_sd_days": pa.array([0.5] * len(rows), pa.float32()),
        "service_level": pa.array([0.95] * len(rows), pa.float32()),
        "abc_class": [r[15] for r in rows], "model_version": [r[3] for r in rows],
        "created_at": times(ts(r[2], r[4]) for r in rows),
    })


def slow_movers(rows) -> pa.Table:
    return pa.table({
        "date_key": pa.array([int(r[2].replace("-", "")) for r in rows], pa.uint32()),
        "run_date": pa.array([D(r[2]) for r in rows], pa.date32()),
        "store_id": [r[0] for r in rows], "product_id": [r[1] for r in rows],
        "probability": floats(r[3] for r in rows), "is_slow_mover": [r[4] for r in rows],
        "on_hand": pa.array([r[5] for r in rows], pa.int32()),
        "velocity_28": floats(r[6] for r in rows), "days_of_cover": floats(r[7] for r in rows),
        "horizon_days": pa.array([60] * len(rows), pa.uint16()),
        "markdown_depth": pa.array([r[8] for r in rows], pa.float32()),
        "markdown_start": pa.array([r[9] and D(r[9]) for r in rows], pa.date32()),
        "expected_units_markdown": floats(r[10] for r in rows),
        "model_version": ["v1"] * len(rows),
        "created_at": times(ts(r[2], 4) for r in rows),
    })


def load_models(wh: ClickHouseWarehouse, stores: set[str] | None = None) -> None:
    """The model outputs and alerts above; with ``stores``, only those stores' rows (the
    evaluations, drift and importance have no store: always all of them)."""
    def mine(rows, store_at: int = 0) -> list:
        return [r for r in rows if stores is None or r[store_at] in stores]

    for table, rows, make in (("fact_ml_predictions", STALE, predictions),
                              ("fact_ml_predictions", PREDICTIONS, predictions),
                              ("fact_replenishment", REPLENISHMENT, replenishment),
                              ("ml_slow_movers", SLOW_MOVERS, slow_movers)):
        if mine(rows):
            wh.insert_arrow(table, make(mine(rows)))
    wh.insert_arrow("model_evaluations", pa.table({
        "model": ["demand_forecast"] * len(EVALUATIONS),
        "model_version": [r[0] for r in EVALUATIONS],
        "date": pa.array([D(r[1]) for r in EVALUATIONS], pa.date32()),
        "date_key": pa.array([int(r[1].replace("-", "")) for r in EVALUATIONS], pa.uint32()),
        "horizon": pa.array([r[2] for r in EVALUATIONS], pa.uint16()),
        "category": [r[3] for r in EVALUATIONS],
        "n": pa.array([r[4] for r in EVALUATIONS], pa.uint32()),
        "actual_sum": floats(r[5] for r in EVALUATIONS),
        "forecast_sum": floats(r[6] for r in EVALUATIONS),
        "abs_error_sum": floats(r[7] for r in EVALUATIONS),
        "mae": floats(r[7] / r[4] for r in EVALUATIONS),
        "coverage_80": floats(r[8] for r in EVALUATIONS),
        "coverage_95": floats(r[9] for r in EVALUATIONS),
        "evaluated_at": times(ts(r[10]) for r in EVALUATIONS)}))
    wh.insert_arrow("model_drift", pa.table({
        "model": [r[0] for r in DRIFT], "model_version": [r[1] for r in DRIFT],
        "date": pa.array([D(r[2]) for r in DRIFT], pa.date32()),
        "date_key": pa.array([int(r[2].replace("-", "")) for r in DRIFT], pa.uint32()),
        "feature": [r[3] for r in DRIFT], "psi": floats(r[4] for r in DRIFT),
        "status": [r[5] for r in DRIFT],
        "reference_mean": floats(r[6] for r in DRIFT),
        "recent_mean": floats(r[7] for r in DRIFT),
        "computed_at": times(ts(r[2], r[8]) for r in DRIFT)}))
    wh.insert_arrow("model_feature_importance", pa.table({
        "model": [r[0] for r in IMPORTANCE], "model_version": [r[1] for r in IMPORTANCE],
        "trained_at": times(ts(r[2]) for r in IMPORTANCE),
        "feature": [r[3] for r in IMPORTANCE], "importance": floats(r[4] for r in IMPORTANCE),
        "importance_type": ["gain"] * len(IMPORTANCE),
        "rank": pa.array([r[5] for r in IMPORTANCE], pa.uint16())}))
    alerts = mine(ALERTS, 4)
    if alerts:
        wh.insert_arrow("stream_alerts", pa.table({
            "alert_id": [alert_uuid(r[0]) for r in alerts], "alert_type": [r[1] for r in alerts],
            "severity": [r[2] for r in alerts], "status": [r[3] for r in alerts],
            "store_id": [r[4] for r in alerts], "product_id": [r[5] for r in alerts],
            "metric_value": floats([1.0] * len(alerts)), "threshold": floats([0.5] * len(alerts)),
            "details": ['{"why": "test"}'] * len(alerts),
            "event_time": times(alert_time(r[6], r[7]) for r in alerts),
            "created_at": times(alert_time(r[6], r[7], r[8]) for r in alerts)}))
    if mine([("S3",)]):  # the stream's own stock-out risk for S3/P5 (no replenishment row)
        wh.insert_arrow("inventory_levels_current", pa.table({
            "store_id": ["S3"], "product_id": ["P5"],
            "quantity_on_hand": pa.array([39], pa.int32()),
            "stock_out_risk": pa.array([0.21], pa.float32()),
            "last_event_time": times([ts("2024-03-16", 8)]),
            "updated_at": times([ts("2024-03-16T08:00")])}))


@pytest.fixture(scope="module")
def db(warehouse_settings) -> Iterator[ClickHouseWarehouse]:
    with hand_built(warehouse_settings, load, load_models) as wh:
        yield wh


@pytest.fixture(scope="module")
def s1_only(warehouse_settings) -> Iterator[ClickHouseWarehouse]:
    """Every dimension, and the facts and model outputs of S1 alone."""
    with hand_built(warehouse_settings, lambda wh: load(wh, {"S1"}),
                    lambda wh: load_models(wh, {"S1"})) as wh:
        yield wh


def rows(wh, name: str, **kw) -> list[dict]:
    default = ALERT_DAY if name == "urgent_alerts" else AS_OF
    return run_query(wh, name, as_of=kw.pop("as_of", default), **kw).to_pylist()


def pick(result: list[dict], *cols: str) -> list[tuple]:
    return [tuple(r[c] for c in cols) for r in result]


# --- Store Manager ---------------------------------------------------------------------
def test_store_forecast_7d_sums_the_latest_run_over_products(db):
    # run 03-13 v2: horizon h totals P1 h + P3 2; 80 % (h - 1) + 1 .. (h + 1) + 3;
    # 95 % (h - 2) + 1 .. (h + 2) + 3 (P3 has no 95 % pair: its 80 % bounds count)
    assert pick(rows(db, "store_forecast_7d", store_id="S1"),
                "date", "horizon", "run_date", "model_version", "predicted_units", "low_80",
                "high_80", "low_95", "high_95", "actual_units") == [
        (D(f"2024-03-{13 + h:02d}"), h, D("2024-03-13"), "v2", h + 2.0, float(h), h + 4.0,
         h - 1.0, h + 5.0,
         {1: 0, 2: 12}.get(h))  # 03-14 sold nothing; 03-15: 10 + 2 + 1 - 1; later: NULL
        for h in range(1, 8)]
    # as of 03-12 the newest run is 03-12's (S1/P1 horizon 1 only); 03-13 is not yet past
    assert pick(rows(db, "store_forecast_7d", store_id="S1", as_of=D("2024-03-12")),
                "date", "run_date", "predicted_units", "actual_units") == [
        (D("2024-03-13"), D("2024-03-12"), 7.0, None)]
    assert rows(db, "store_forecast_7d", store_id="S3", as_of=D("2024-03-13")) == []


def test_store_recommended_orders_of_the_latest_run(db):
    # S1's run 03-15 v2 (not v1's 99, not the 03-14 or 03-16 runs); P3 orders nothing
    assert pick(rows(db, "store_recommended_orders", store_id="S1"),
                "run_date", "product_id", "sku", "on_hand", "on_order", "reorder_point",
                "order_up_to", "order_qty", "pack_size", "order_by_date", "stock_out_risk",
                "abc_class", "reasons") == [
        (D("2024-03-15"), "P1", "SKU-1", 2, 0, 8.5, 20.0, 18, 6, D("2024-03-15"), 0.62, "A",
         "below_reorder_point"),
        (D("2024-03-15"), "P4", "SKU-4", 0, 2, 4.0, 10.0, 8, 2, D("2024-03-16"), 0.25, "A",
         "below_reorder_point"),
    ]
    # S2: both order by date, then risk; as of 03-14 S1's newest run is 03-14's (P2)
    assert pick(rows(db, "store_recommended_orders", store_id="S2"),
                "product_id", "reasons") == [("P3", "below_reorder_point, pack_rounding"),
                                             ("P1", "below_reorder_point")]
    assert pick(rows(db, "store_recommended_orders", store_id="S1", as_of=D("2024-03-14")),
                "product_id", "order_qty") == [("P2", 7)]


def test_store_stockout_risk_traffic_light(db):
    light = ("product_id", "on_hand", "stock_out_risk", "risk_source", "risk_light")
    assert pick(rows(db, "store_stockout_risk", store_id="S1"), *light) == [
        ("P1", 2, 0.62, "replenishment", "red"),  # risk >= 0.5
        ("P4", 0, 0.25, "replenishment", "red"),  # out of stock, whatever the risk
        ("P2", 198, None, "none", "unknown"),  # not in the 03-15 run, no stream risk
        ("P3", 19, 0.05, "replenishment", "green"),  # the stream's 0 is not used
    ]
    assert pick(rows(db, "store_stockout_risk", store_id="S2"), *light) == [
        ("P3", 6, 0.3, "replenishment", "amber"),
        ("P2", 10, None, "none", "unknown"),
        ("P1", 15, 0.1, "replenishment", "green"),
    ]
    assert pick(rows(db, "store_stockout_risk", store_id="S3"), *light) == [
        ("P4", -2, None, "none", "red"),
        ("P5", 39, 0.21, "stream", "amber"),  # the stream's risk, no replenishment run
        ("P2", 20, None, "none", "unknown"),
    ]


# --- Inventory Analyst -----------------------------------------------------------------
def test_slow_mover_markdowns_of_the_latest_run(db):
    cols = ("run_date", "store_id", "product_id", "probability", "on_hand", "stock_value",
            "velocity_28", "days_of_cover", "markdown_depth_pct", "markdown_start",
            "expected_units_markdown")
    assert pick(rows(db, "slow_mover_markdowns"), *cols) == [
        (D("2024-03-15"), "S3", "P5", 0.8, 39, 117.0, 0.04, 975.0, 20.0, D("2024-03-18"),
         20.0),  # 39 x 3.00
        (D("2024-03-15"), "S1", "P2", 0.91, 198, 99.0, 0.07, 2828.6, 30.0, D("2024-03-16"),
         60.5),  # 198 x 0.50
    ]  # S2/P2 is not slow; the 03-08 and 03-16 runs are not the latest on or before as_of
    assert pick(rows(db, "slow_mover_markdowns", as_of=D("2024-03-10")),
                "store_id", "product_id", "markdown_depth_pct") == [("S2", "P3", 25.0)]


def test_stock_cover_scatter(db):
    # cover = on_hand x 28 / net units over 02-17..03-15 (overstock_understock's pairs)
    assert pick(rows(db, "stock_cover_scatter"), "store_id", "product_id", "on_hand",
                "stock_value", "units_sold_28d", "days_of_cover", "stock_class") == [
        ("S3", "P5", 39, 117.0, 1, 1092.0, "overstock"),
        ("S1", "P2", 198, 99.0, 0, None, "overstock"),  # no sales: unbounded
        ("S1", "P3", 19, 38.0, 1, 532.0, "overstock"),
        ("S2", "P1", 15, 15.0, 5, 84.0, "overstock"),
        ("S2", "P3", 6, 12.0, 3, 56.0, "ok"),
        ("S3", "P2", 20, 10.0, 10, 56.0, "ok"),
        ("S2", "P2", 10, 5.0, 0, None, "overstock"),
        ("S1", "P1", 2, 2.0, 23, 2.4, "understock"),  # 56 / 23
        ("S1", "P4", 0, 0.0, 6, 0.0, "understock"),
        ("S3", "P4", -2, 0.0, 0, 0.0, "understock"),  # negative stock is worth 0
    ]


def test_forecast_vs_actual_by_day(db):
    result = rows(db, "forecast_vs_actual")
    assert len(result) == 28 and result[0]["date"] == D("2024-02-17")
    assert [r for r in result if r["forecast_units"] is not None or r["actual_units"]] == [
        {"date": D("2024-02-23"), "forecast_units": None, "low_80": None, "high_80": None,
         "actual_units": 4},  # T9 3, T10 1
        {"date": D("2024-03-01"), "forecast_units": None, "low_80": None, "high_80": None,
         "actual_units": 11},
        {"date": D("2024-03-08"), "forecast_units": None, "low_80": None, "high_80": None,
         "actual_units": 13},
        # S1/P1 (run 03-12) 7
        {"date": D("2024-03-13"), "forecast_units": 7.0, "low_80": 6.0, "high_80": 8.0,
         "actual_units": 0},
        # S1/P1 1 (v2, written after v1's 100), S1/P3 2 (not the stale 50), S2/P1 4
        {"date": D("2024-03-14"), "forecast_units": 7.0, "low_80": 4.0, "high_80": 10.0,
         "actual_units": 0},
        # S3/P2 3.5 (price_model's 999 is another model)
        {"date": D("2024-03-15"), "forecast_units": 3.5, "low_80": 2.0, "high_80": 5.0,
         "actual_units": 21},
    ]


def test_reorder_points_furthest_below_first(db):
    assert pick(rows(db, "reorder_points"), "store_id", "product_id", "on_hand", "on_order",
                "reorder_point", "below_reorder_point", "gap_to_reorder_point") == [
        ("S1", "P1", 2, 0, 8.5, True, -6.5),
        ("S1", "P4", 0, 2, 4.0, True, -2.0),
        ("S2", "P3", 6, 0, 8.0, True, -2.0),
        ("S2", "P1", 15, 0, 10.0, False, 5.0),
        ("S1", "P3", 19, 0, 6.0, False, 13.0),  # the 03-16 run's 30 is after as_of
    ]


# --- ML Model Performance --------------------------------------------------------------
def test_model_accuracy_daily_pools_horizons_and_categories(db):
    assert rows(db, "model_accuracy_daily") == [
        # the re-run of 03-13 replaced the first; no demand: no WAPE, no bias
        {"date": D("2024-03-13"), "model": "demand_forecast", "model_version": "v2",
         "pairs": 4, "actual_units": 0.0, "forecast_units": 2.0, "wape": None, "bias": None,
         "mae": 0.5, "coverage_80": 0.5, "coverage_95": 0.75},
        # 03-14: 25 pairs, actual 250, forecast 240, |error| 75; coverage 80 (8 + 3 + 7) /
        # 25; coverage 95 over the rows with one: (9 + 10) / 20
        {"date": D("2024-03-14"), "model": "demand_forecast", "model_version": "v2",
         "pairs": 25, "actual_units": 250.0, "forecast_units": 240.0, "wape": 0.3,
         "bias": -0.04, "mae": 3.0, "coverage_80": 0.72, "coverage_95": 0.95},
    ]  # 03-16 is after as_of, 2023-12-01 before the 90 days


def test_model_drift_latest_per_feature(db):
    assert pick(rows(db, "model_drift_latest"), "model", "model_version", "date", "feature",
                "psi", "status", "reference_mean", "recent_mean") == [
        ("demand_forecast", "v2", D("2024-03-14"), "units_lag_7", 0.3, "significant", 5.0,
         7.0),  # not the 03-10 row
        ("demand_forecast", "v2", D("2024-03-14"), "price", 0.12, "moderate", 2.0, 2.1),
        ("slow_movers", "v1", D("2024-03-12"), "velocity", 0.02, "stable", 1.0, 1.0),
        ("demand_forecast", "v2", D("2024-03-14"), "promo", None, "no_data", None, None),
    ]  # v1's price was computed before v2's on the same day; 03-16 is after as_of


def test_feature_importance_of_the_latest_version(db):
    cols = ("model", "model_version", "feature", "importance", "rank")
    assert pick(rows(db, "feature_importance_latest"), *cols) == [
        ("demand_forecast", "v2", "units_lag_7", 0.5, 1),  # trained 03-15 23:00; v3 later
        ("demand_forecast", "v2", "price", 0.3, 2),
        ("demand_forecast", "v2", "promo", 0.2, 3),
        ("slow_movers", "v1", "velocity", 1.0, 1),
    ]
    assert pick(rows(db, "feature_importance_latest", as_of=D("2024-03-10")), *cols)[:2] == [
        ("demand_forecast", "v1", "units_lag_7", 0.6, 1),
        ("demand_forecast", "v1", "price", 0.4, 2)]


def test_predicted_vs_actual_by_product(db):
    # horizon-1 forecasts over 02-17..03-15 and the same pairs' net units:
    # P1: S1 1 + 7, S2 4 vs S1 23 (10 + 5 + 8), S2 5; P2: S3 3.5 vs 10; P3: S1 2 vs 1 (2 - 1)
    assert pick(rows(db, "predicted_vs_actual"), "product_id", "predicted_units",
                "actual_units", "error", "error_pct") == [
        ("P1", 12.0, 28, -16.0, -57.1),
        ("P2", 3.5, 10, -6.5, -65.0),
        ("P3", 2.0, 1, 1.0, 100.0),
    ]


# --- Alerts ----------------------------------------------------------------------------
def test_urgent_alerts_most_severe_then_newest(db):
    # open, event day in the 7 days to ALERT_DAY: A5 was resolved, A6 is 7 days older, A7
    # after the day
    assert pick(rows(db, "urgent_alerts", as_of=ALERT_DAY), "alert_id", "severity",
                "store_id", "product_name", "event_time") == [
        (alert_uuid("A2"), "critical", "S1", None, alert_time(-1, 9)),
        (alert_uuid("A1"), "high", "S1", "Apple", alert_time(0, 10)),
        (alert_uuid("A8"), "high", "S3", "Soap", alert_time(-6, 0)),
        (alert_uuid("A3"), "medium", "S2", "Milk", alert_time(0, 11)),
        (alert_uuid("A4"), "low", "S1", "Milk", alert_time(0, 12)),
    ]


def test_overstocked_stores(db):
    # the overstock pairs of test_stock_cover_scatter, per store
    assert rows(db, "overstocked_stores") == [
        {"store_id": "S1", "store_name": "Uptown", "region": "North", "overstock_products": 2,
         "overstock_units": 217, "overstock_value": 137.0},  # P2 198 (99), P3 19 (38)
        {"store_id": "S3", "store_name": "Dunes", "region": "South", "overstock_products": 1,
         "overstock_units": 39, "overstock_value": 117.0},
        {"store_id": "S2", "store_name": "Harbor", "region": "North", "overstock_products": 2,
         "overstock_units": 25, "overstock_value": 20.0},  # P1 15 (15), P2 10 (5)
    ]


def test_trending_products(db):
    # 03-09..03-15 vs 02-10..03-08 / 4: P1 15 vs 13 / 4 (+361.5 %), P2 4 vs 8 / 4 (+100 %);
    # P3 1 vs 7 / 4 and P4 1 vs 5 / 4 fell, P5 sold nothing lately
    assert pick(rows(db, "trending_products"), "trend_rank", "product_id", "units_7d",
                "weekly_avg_prev_28d", "growth_pct") == [
        (1, "P1", 15, 3.25, 361.5), (2, "P2", 4, 2.0, 100.0)]
    # S1 alone: P1 10 vs 13 / 4 (+207.7 %); P3 1 vs 4 / 4 did not grow
    assert pick(rows(db, "trending_products", stores=["S1"]), "product_id", "growth_pct") \
        == [("P1", 207.7)]


# --- row-level security ----------------------------------------------------------------
RESTRICTED = [q.name for q in list_queries() if q.restricts_stores]


@pytest.mark.parametrize("name", RESTRICTED)
def test_a_reader_of_s1_sees_what_a_warehouse_of_s1_alone_holds(db, s1_only, name):
    mine = rows(db, name, stores=["S1"])
    assert mine == rows(s1_only, name, stores=all_stores(s1_only)), name
    if "store_id" in (mine[0] if mine else {}):
        assert {r["store_id"] for r in mine} == {"S1"}, name


@pytest.mark.parametrize("name", RESTRICTED)
def test_a_reader_of_no_store_sees_no_figures(db, name):
    for row in rows(db, name, stores=[]):
        figures = {k: v for k, v in row.items()
                   if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)}
        assert all(v == 0 for v in figures.values() if v is not None), (name, row)
        assert not {"store_id", "product_id"} & row.keys(), (name, row)


def test_every_restricting_query_has_figures_for_s1_and_differs_from_the_chain(db):
    """The property above is not vacuous: each query shows S1 something, and for most the
    chain shows more."""
    differs = 0
    for name in RESTRICTED:
        mine = rows(db, name, stores=["S1"])
        assert mine, name
        differs += mine != rows(db, name)
    assert differs >= len(RESTRICTED) - 2


def test_a_store_query_refuses_a_store_outside_the_readers(db):
    with pytest.raises(PermissionError, match="store 'S2' is not among the reader's stores"):
        run_query(db, "store_forecast_7d", as_of=AS_OF, store_id="S2", stores=["S1"])
    assert rows(db, "store_forecast_7d", store_id="S1", stores=["S1"])
