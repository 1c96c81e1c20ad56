"""The SQL twins of the Power BI measures (pkg/retail/queries/measures.sql) on a small
hand-checked warehouse: test_queries' data set (sales, stock; as_of Friday 2024-03-15)
plus a few rows of each model and alert table, below. Every expected number is worked out
by hand in the comments; "North" is stores S1 and S2, S3 is South.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from retail.queries import get_query, run_query
from tests.pkg.queries.test_queries import AS_OF, db, dec  # noqa: F401  (db: a fixture)
from tests.powerbi.tmdl import load_model

pytestmark = pytest.mark.clickhouse_server

MODEL = Path(__file__).resolve().parents[3] / "powerbi" / "RetailPlatform.SemanticModel"
DAY, DAY_BEFORE = "2024-03-15", "2024-03-14"
NORTH = ["S1", "S2"]


def day(text: str) -> date:
    return date.fromisoformat(text)


def key(text: str) -> int:
    return int(text.replace("-", ""))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(hour=12, tzinfo=timezone.utc)


def load_models_and_alerts(wh) -> None:
    # (id, store, product, lost units, unit price, day): lost revenue = units x price
    lost = [("L1", "S1", "P1", 3, "2.00", DAY), ("L2", "S3", "P2", 5, "1.00", DAY),
            ("L3", "S1", "P4", 1, "10.00", DAY_BEFORE)]
    wh.insert_arrow("fact_lost_sales", pa.table({
        "lost_sale_id": [r[0] for r in lost], "store_id": [r[1] for r in lost],
        "product_id": [r[2] for r in lost],
        "lost_quantity": pa.array([r[3] for r in lost], pa.int32()),
        "unit_price": dec(r[4] for r in lost),
        "event_time": pa.array([at(r[5]) for r in lost], pa.timestamp("ms", tz="UTC"))}))
    # (run day, store, product, order units)
    orders = [(DAY, "S1", "P1", 12), (DAY, "S2", "P3", 6), (DAY, "S3", "P2", 24),
              (DAY_BEFORE, "S1", "P1", 99)]
    wh.insert_arrow("fact_replenishment", pa.table({
        "date_key": pa.array([key(r[0]) for r in orders], pa.uint32()),
        "run_date": [day(r[0]) for r in orders], "store_id": [r[1] for r in orders],
        "product_id": [r[2] for r in orders],
        "order_qty": pa.array([r[3] for r in orders], pa.uint32())}))
    # (run day, store, product, slow mover?)
    slow = [(DAY, "S1", "P2", True), (DAY, "S2", "P2", False), (DAY, "S3", "P5", True),
            (DAY_BEFORE, "S1", "P3", True)]
    wh.insert_arrow("ml_slow_movers", pa.table({
        "date_key": pa.array([key(r[0]) for r in slow], pa.uint32()),
        "run_date": [day(r[0]) for r in slow], "store_id": [r[1] for r in slow],
        "product_id": [r[2] for r in slow], "is_slow_mover": [r[3] for r in slow],
        "model_version": ["1"] * len(slow)}))
    # (day, store, product, duplicate of a stream alert): duplicates are not in the view
    anomalies = [(DAY, "S1", "P1", None), (DAY, "S3", "P4", None), (DAY, "S2", "P1", "A9"),
                 (DAY_BEFORE, "S2", "P3", None)]
    wh.insert_arrow("ml_anomalies", pa.table({
        "date": [day(r[0]) for r in anomalies],
        "date_key": pa.array([key(r[0]) for r in anomalies], pa.uint32()),
        "store_id": [r[1] for r in anomalies], "product_id": [r[2] for r in anomalies],
        "kind": ["demand_spike"] * len(anomalies),
        "duplicate_alert_id": pa.array([r[3] for r in anomalies], pa.string()),
        "model_version": ["1"] * len(anomalies)}))
    # (day, category, pairs, actual, forecast, |error|, coverage 80, coverage 95)
    evaluations = [(DAY, "Produce", 10, 100.0, 90.0, 20.0, 0.8, 0.9),
                   (DAY, "Dairy", 30, 50.0, 60.0, 15.0, 0.6, None),
                   (DAY, "Household", 5, 0.0, 2.0, 2.0, 1.0, 1.0),
                   (DAY_BEFORE, "Produce", 100, 1000.0, 0.0, 1000.0, 0.0, 0.0)]
    wh.insert_arrow("model_evaluations", pa.table({
        "model": ["demand_forecast"] * 4, "model_version": ["1"] * 4,
        "date": [day(r[0]) for r in evaluations],
        "date_key": pa.array([key(r[0]) for r in evaluations], pa.uint32()),
        "horizon": pa.array([1] * 4, pa.uint16()), "category": [r[1] for r in evaluations],
        "n": pa.array([r[2] for r in evaluations], pa.uint32()),
        "actual_sum": [r[3] for r in evaluations], "forecast_sum": [r[4] for r in evaluations],
        "abs_error_sum": [r[5] for r in evaluations],
        "coverage_80": [r[6] for r in evaluations],
        "coverage_95": pa.array([r[7] for r in evaluations], pa.float64())}))
    drift = [(DAY, "units_lag_7", "significant"), (DAY, "price", "moderate"),
             (DAY, "temperature", "significant"), (DAY_BEFORE, "units_lag_7", "significant")]
    wh.insert_arrow("model_drift", pa.table({
        "model": ["demand_forecast"] * 4, "model_version": ["1"] * 4,
        "date": [day(r[0]) for r in drift],
        "date_key": pa.array([key(r[0]) for r in drift], pa.uint32()),
        "feature": [r[1] for r in drift], "status": [r[2] for r in drift]}))
    # Two closed-loop experiment runs (no date, no store): the twins read the newest only.
    wh.command(experiment_rows("r-old", "2026-03-01 09:00:00", {
        "stockout_rate": (0.1, 0.2), "overstock_value": (10.0, 1.0), "lost_value": (9.0, 1.0),
        "turnover": (1.0, 4.0)}))
    wh.command(experiment_rows("r-new", "2026-03-05 23:30:00", {
        "stockout_rate": (0.08, 0.02), "overstock_value": (1000.0, 600.0),
        "lost_value": (5000.0, 1200.0), "turnover": (2.0, 2.7), "fill_rate": (0.9, 0.97)}))
    # Alerts have no date in the model: stamped now (the table's TTL drops old ones).
    alerts = [("S1", "high", "open"), ("S1", "low", "open"), ("S2", "critical", "resolved"),
              ("S3", "critical", "open"), ("S2", "medium", "acknowledged")]
    now = datetime.now(timezone.utc)
    wh.insert_arrow("stream_alerts", pa.table({
        "alert_id": [str(uuid.uuid4()) for _ in alerts], "alert_type": ["sales_spike"] * 5,
        "severity": [r[1] for r in alerts], "status": [r[2] for r in alerts],
        "store_id": [r[0] for r in alerts], "product_id": ["P1"] * 5,
        "event_time": pa.array([now] * 5, pa.timestamp("ms", tz="UTC"))}))


def experiment_rows(run: str, created_at: str, values: dict[str, tuple[float, float]]) -> str:
    """The INSERT of one experiment run's rows: metric -> (baseline, platform) values."""
    rows = ", ".join(f"('{run}', '{arm}', '{metric}', {pair[i]}, '2026-02-01', '2026-02-28', "
                     f"10, 200, 42, '{created_at}')"
                     for metric, pair in values.items()
                     for i, arm in enumerate(("baseline", "platform")))
    return ("INSERT INTO business_impact (run_id, arm, metric, value, period_from, period_to, "
            f"stores, products, seed, created_at) VALUES {rows}")


@pytest.fixture(scope="module")
def warehouse(db):  # noqa: F811  (the imported fixture)
    load_models_and_alerts(db)
    return db


def measures(wh, stores) -> dict:
    [row] = run_query(wh, "measures", as_of=AS_OF, stores=stores).to_pylist()
    return row


# The model-wide rows (no store key): the same for every reader.
CHAIN_WIDE = {
    "forecast_wape": 37 / 150,  # (20 + 15 + 2) / (100 + 50 + 0); 03-14's row is another day
    "forecast_mape": 0.15,  # mean(10 / 100, 10 / 50): Household has no demand
    "forecast_bias": 2 / 150,  # (90 + 60 + 2 - 150) / 150
    "interval_coverage_80_pct": 31 / 45,  # (0.8 x 10 + 0.6 x 30 + 1.0 x 5) / 45
    "interval_coverage_95_pct": 14 / 15,  # (0.9 x 10 + 1.0 x 5) / 15: Dairy has none
    "drifted_features": 2,  # units_lag_7 and temperature on 03-15
    # the newest experiment run, r-new (r-old's figures would give -1, 0.9, 8 and 3)
    "stock_outs_prevented_pct": 0.75,  # 1 - 0.02 / 0.08
    "overstock_reduction_pct": 0.4,  # 1 - 600 / 1000
    "lost_sales_avoided": 3800.0,  # 5000 - 1200
    "inventory_turnover_change_pct": 0.35,  # 2.7 / 2 - 1
}
EXPERIMENT = ["stock_outs_prevented_pct", "overstock_reduction_pct", "lost_sales_avoided",
              "inventory_turnover_change_pct"]


def test_every_measure_of_the_model_has_its_twin_column_and_no_column_is_extra(warehouse):
    twins = [m.annotations.get("SqlTwin") for m in
             load_model(MODEL).tables["KPI"].measures.values()]
    assert sorted(measures(warehouse, NORTH)) == sorted(twins)
    assert get_query("measures").restricts_stores


def test_measures_of_every_store(warehouse):
    assert measures(warehouse, ["S1", "S2", "S3"]) == pytest.approx({
        # 03-15: S1 20 + 6 + 10 - 3 = 33, S2 10, S3 4 (units 12 + 5 + 4)
        "revenue": 47.0, "units": 21,
        "profit": 23.0,  # S1 33 - (10 + 4 + 5 - 2), S2 10 - 5, S3 4 - 2
        "gross_margin_pct": 23 / 47,
        "revenue_last_week": 36.0,  # 03-08: T5 10 + 20, T6 6
        "revenue_vs_last_week_pct": 11 / 36,
        # 03-08 36, 03-01 25 (T7 16, T8 9), 02-23 36 (T9 30, T10 6), 02-16 14 (T11 12 + 2)
        "revenue_target": 111 / 4, "revenue_vs_target_pct": 47 / (111 / 4),
        "units_28d": 49,  # 02-17..03-15: 21 + 13 + 11 + 4
        "cogs_30d": 83.0,  # as executive_kpis
        # closing stock on 03-15: S1 2 + 198 + 19 + 0, S2 15 + 10 + 6, S3 20 + (-2 -> 0) + 39
        "stock_units": 309, "stock_value": 298.0,  # as executive_kpis
        "stock_outs_today": 2,  # S1/P4 (0), S3/P4 (-2)
        "inventory_turnover": 83 / 298, "days_of_cover": 309 / (49 / 28),
        # live stock (S1/P1 is 102 after its 03-16 restock) at or under the reorder point
        # (0 where the stream has none): S1/P4 0 <= 0, S2/P1 15 <= 16, S3/P4 -2 <= 0
        "low_stock_items": 3,
        "lost_revenue": 11.0,  # L1 3 x 2 + L2 5 x 1
        "recommended_order_units": 42,  # 12 + 6 + 24
        "slow_mover_items": 2,  # S1/P2, S3/P5
        "open_alerts": 3, "urgent_alerts": 2,  # S1 high, S1 low, S3 critical
        "detected_anomalies": 2,  # S1/P1, S3/P4 (S2/P1 duplicates alert A9)
        **CHAIN_WIDE,
    })


def test_measures_of_a_regional_manager_leave_the_other_stores_out(warehouse):
    assert measures(warehouse, NORTH) == pytest.approx({
        "revenue": 43.0, "units": 17, "profit": 21.0,  # S1 33 + S2 10 (profit 16 + 5)
        "gross_margin_pct": 21 / 43,
        "revenue_last_week": 30.0,  # T5 only
        "revenue_vs_last_week_pct": 13 / 30,
        "revenue_target": 99 / 4,  # 30 + 25 + 30 + 14
        "revenue_vs_target_pct": 43 / (99 / 4),
        "units_28d": 38,  # 17 + 7 + 11 + 3
        "cogs_30d": 75.0,  # 83 - S3's 2 + 3 + 3
        "stock_units": 250, "stock_value": 171.0,  # S1 139 (2 + 99 + 38 + 0), S2 32
        "stock_outs_today": 1,  # S1/P4
        "inventory_turnover": 75 / 171, "days_of_cover": 250 / (38 / 28),
        "low_stock_items": 2,  # S1/P4, S2/P1
        "lost_revenue": 6.0, "recommended_order_units": 18, "slow_mover_items": 1,
        "open_alerts": 2, "urgent_alerts": 1, "detected_anomalies": 1,
        **CHAIN_WIDE,
    })


def test_a_reader_without_stores_sees_no_store_figures(warehouse):
    row = measures(warehouse, [])
    store_figures = {k: v for k, v in row.items() if k not in CHAIN_WIDE}
    assert set(store_figures.values()) <= {0, 0.0, None}, store_figures
    assert {k: row[k] for k in CHAIN_WIDE} == pytest.approx(CHAIN_WIDE)


def test_the_experiment_twins_without_a_run_and_with_a_zero_baseline(migrated):
    def experiment() -> list:
        row = measures(migrated, NORTH)
        return [row[k] for k in EXPERIMENT]

    assert experiment() == [None, None, 0.0, None]  # no run: no ratio, nothing avoided
    migrated.command(experiment_rows("r-zero", "2026-03-06 08:00:00", {
        "stockout_rate": (0.0, 0.01), "overstock_value": (0.0, 5.0), "lost_value": (0.0, 2.5),
        "turnover": (0.0, 1.5)}))
    assert experiment() == [None, None, -2.5, None]  # the baseline's 0 gives no ratio
