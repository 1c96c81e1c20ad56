"""The dashboards' demo warehouse: four simulated stores x 30 products over five weeks,
loaded as the warehouse sink does, plus a few rows of every model output the pages draw
(forecasts, replenishment, evaluations, drift, importance, slow movers, stream alerts, a
business-impact run) and three readers' assignments. Built once per session (seconds), read-only for its users.

Readers (``rls_assignments``):
  * ``STORE_MANAGER`` sees one store (S00002, the only one of its region);
  * ``REGIONAL_MANAGER`` sees the Northeast (S00001 and S00004);
  * ``ADMIN`` sees every store.

Both the HTTP tests and the browser tests import :func:`demo_warehouse`; the built
warehouse is kept in this module so the session builds it once whichever module asks first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from retail.business.runner import IMPACT_SCHEMA
from retail.io.warehouse import connect
from retail.settings import WarehouseSettings
from retail.sim import Catalog, SimConfig, Simulator, generate_catalog
from retail.warehouse.load import load_dimensions, load_facts
from retail.warehouse.migrate import Migrator

STORES, PRODUCTS, SEED, RATE, DAYS = 4, 30, 1, 1.5, 35
# The simulated weeks end yesterday, so the stream alerts stay inside their 90-day TTL.
END = date.today() - timedelta(days=1)
START = END - timedelta(days=DAYS - 1)
STORE_MANAGER = "store.manager@example.com"
REGIONAL_MANAGER = "Regional.Manager@Example.com"  # mixed case: the app lower-cases
ADMIN = "admin@example.com"
MODEL_VERSION = "3"


@dataclass(frozen=True)
class DemoWarehouse:
    settings: WarehouseSettings
    catalog: Catalog
    end: date  # the last day with sales
    stores: dict[str, list[str]]  # lower-cased reader -> the store ids they may see


_built: dict[str, DemoWarehouse] = {}


def _model_outputs(catalog: Catalog, end: date, rates: dict[tuple[str, str], float]
                   ) -> dict[str, pa.Table]:
    """A few rows of each model output table, drawn with a fixed seed; the forecasts
    scatter around ``rates``, each sold pair's mean daily units."""
    rng = np.random.default_rng(SEED)
    stores = catalog.stores["store_id"].to_pylist()
    products = catalog.products["product_id"].to_pylist()[:12]
    categories = sorted(set(catalog.products["category"].to_pylist()))
    pairs = [(s, p) for s in stores for p in products]
    at = datetime.combine(end, datetime.min.time(), timezone.utc)
    key = int(end.strftime("%Y%m%d"))

    # the latest run (on end: the next 7 days), and the day-ahead forecasts of the 28 runs
    # before it (the days up to end, which the accuracy panels compare with the sales)
    sold = sorted(rates)
    demand = np.array([rates[k] for k in sold])[:, None] * rng.uniform(0.8, 1.2, (len(sold),
                                                                                7 + 28))
    flat = [(s, p, end + timedelta(days=h + 1), h + 1, demand[i, h])
            for i, (s, p) in enumerate(sold) for h in range(7)]
    flat += [(s, p, end - timedelta(days=d), 1, demand[i, 7 + d])
             for i, (s, p) in enumerate(sold) for d in range(28)]
    predictions = pa.table({
        "prediction_id": [str(uuid.uuid4()) for _ in flat],
        "date_key": [int(d.strftime("%Y%m%d")) for _, _, d, _, _ in flat],
        "store_id": [s for s, *_ in flat], "product_id": [p for _, p, *_ in flat],
        "horizon": [h for *_, h, _ in flat],
        "predicted_demand": [float(v) for *_, v in flat],
        "confidence_low": [float(v) * 0.6 for *_, v in flat],
        "confidence_high": [float(v) * 1.5 for *_, v in flat],
        "confidence_low_95": [float(v) * 0.4 for *_, v in flat],
        "confidence_high_95": [float(v) * 1.9 for *_, v in flat],
        "stock_out_risk_score": rng.uniform(0, 1, len(flat)).astype(np.float32),
        "recommended_order_qty": rng.integers(0, 40, len(flat)).astype(np.uint32),
        "model_version": [MODEL_VERSION] * len(flat), "predicted_at": [at] * len(flat)})

    on_hand = rng.integers(0, 60, len(pairs))
    rop = rng.uniform(5, 30, len(pairs))
    replenishment = pa.table({
        "date_key": [key] * len(pairs), "run_date": [end] * len(pairs),
        "order_by_date": [end + timedelta(days=1)] * len(pairs),
        "store_id": [s for s, _ in pairs], "product_id": [p for _, p in pairs],
        "on_hand": on_hand.astype(np.int32), "on_order": np.zeros(len(pairs), np.int32),
        "forecast_lead_review": rop * 1.4, "safety_stock": rop * 0.3, "reorder_point": rop,
        "order_up_to": rop * 2,
        "order_qty": np.maximum(np.round(rop * 2 - on_hand), 0).astype(np.uint32),
        "pack_size": np.full(len(pairs), 6, np.uint32),
        "reasons": [["below reorder point"] if o < r else [] for o, r in zip(on_hand, rop)],
        "stock_out_risk": rng.uniform(0, 1, len(pairs)).astype(np.float32),
        "lead_time_days": np.full(len(pairs), 3.0, np.float32),
        "lead_time_sd_days": np.full(len(pairs), 1.0, np.float32),
        "service_level": np.full(len(pairs), 0.95, np.float32),
        "abc_class": rng.choice(["A", "B", "C"], len(pairs)),
        "model_version": [MODEL_VERSION] * len(pairs)})

    eval_days = [end - timedelta(days=d) for d in range(13, -1, -1)]
    grid = [(d, h, c) for d in eval_days for h in (1, 7) for c in categories]
    actual = rng.uniform(50, 200, len(grid))
    error = actual * rng.uniform(0.1, 0.4, len(grid))
    evaluations = pa.table({
        "model": ["demand_forecast"] * len(grid), "model_version": [MODEL_VERSION] * len(grid),
        "date": [d for d, _, _ in grid], "date_key": [int(d.strftime("%Y%m%d")) for d, *_ in grid],
        "horizon": np.array([h for _, h, _ in grid], np.uint16),
        "category": [c for *_, c in grid], "n": np.full(len(grid), 40, np.uint32),
        "actual_sum": actual, "forecast_sum": actual * rng.uniform(0.85, 1.15, len(grid)),
        "abs_error_sum": error, "wape": error / actual, "bias": rng.uniform(-0.1, 0.1, len(grid)),
        "mae": error / 40, "coverage_80": rng.uniform(0.7, 0.9, len(grid)),
        "coverage_95": rng.uniform(0.9, 0.99, len(grid))})

    features = ["units_lag_7", "units_mean_28", "price_ratio", "temperature", "promo_flag"]
    psi = [0.03, 0.08, 0.14, 0.31, 0.05]
    drift = pa.table({
        "model": ["demand_forecast"] * 5, "model_version": [MODEL_VERSION] * 5,
        "date": [end] * 5, "date_key": [key] * 5, "feature": features, "psi": psi,
        "status": ["stable" if v < 0.1 else "moderate" if v <= 0.25 else "significant"
                   for v in psi],
        "reference_from": [START] * 5, "reference_to": [end - timedelta(days=7)] * 5,
        "recent_from": [end - timedelta(days=6)] * 5, "recent_to": [end] * 5,
        "bins": np.full(5, 10, np.uint8), "reference_rows": np.full(5, 900, np.uint64),
        "recent_rows": np.full(5, 210, np.uint64)})
    weights = np.array([0.34, 0.26, 0.18, 0.14, 0.08])
    importance = pa.table({
        "model": ["demand_forecast"] * 5, "model_version": [MODEL_VERSION] * 5,
        "trained_at": [at - timedelta(days=7)] * 5, "feature": features,
        "importance": weights, "importance_type": ["gain"] * 5,
        "rank": np.arange(1, 6, dtype=np.uint16)})

    slow = pa.table({
        "date_key": [key] * len(pairs), "run_date": [end] * len(pairs),
        "store_id": [s for s, _ in pairs], "product_id": [p for _, p in pairs],
        "probability": rng.uniform(0, 1, len(pairs)), "is_slow_mover": rng.uniform(0, 1, len(
            pairs)) < 0.3, "on_hand": on_hand.astype(np.int32),
        "velocity_28": rng.uniform(0.1, 3, len(pairs)),
        "days_of_cover": rng.uniform(5, 120, len(pairs)),
        "horizon_days": np.full(len(pairs), 60, np.uint16),
        "markdown_depth": rng.choice([0.0, 0.1, 0.2, 0.3], len(pairs)).astype(np.float32),
        "markdown_start": [end + timedelta(days=2)] * len(pairs),
        "expected_units_markdown": rng.uniform(5, 50, len(pairs)),
        "elasticity": np.full(len(pairs), -1.8, np.float32),
        "model_version": [MODEL_VERSION] * len(pairs)})

    kinds = ["sales_spike", "sales_drop", "inventory_discrepancy", "high_value_transaction"]
    alert_rows = [(s, p, k) for s in stores for p, k in zip(products[:4], kinds)]
    alerts = pa.table({
        "alert_id": [str(uuid.uuid4()) for _ in alert_rows],
        "alert_type": [k for *_, k in alert_rows],
        "severity": rng.choice(["medium", "high", "critical"], len(alert_rows)),
        "store_id": [s for s, _, _ in alert_rows], "product_id": [p for _, p, _ in alert_rows],
        "metric_value": rng.uniform(10, 100, len(alert_rows)),
        "threshold": np.full(len(alert_rows), 10.0), "details": ["{}"] * len(alert_rows),
        "event_time": [at + timedelta(hours=12, minutes=i) for i in range(len(alert_rows))]})
    # a closed-loop experiment's results (retail evaluate business), made on end
    impact = pa.Table.from_pylist([
        {"run_id": "demo-run", "arm": arm, "variant": "", "metric": metric, "value": value,
         "period_from": START, "period_to": end, "stores": STORES, "products": PRODUCTS,
         "seed": SEED, "created_at": at + timedelta(hours=6)}
        for arm, values in (("baseline", (0.08, 900.0, 4000.0, 2.0)),
                            ("platform", (0.03, 500.0, 1500.0, 2.6)))
        for metric, value in zip(("stockout_rate", "overstock_value", "lost_value",
                                  "turnover"), values, strict=True)], schema=IMPACT_SCHEMA)
    return {"fact_ml_predictions": predictions, "fact_replenishment": replenishment,
            "model_evaluations": evaluations, "model_drift": drift,
            "model_feature_importance": importance, "ml_slow_movers": slow,
            "stream_alerts": alerts, "business_impact": impact}


def _build(base: WarehouseSettings) -> DemoWarehouse:
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=START, days=DAYS))
    settings = base.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    with connect(settings, database="") as admin:
        Migrator(admin, settings.database, lambda db: connect(settings, db)).migrate()
    regions = dict(zip(catalog.stores["store_id"].to_pylist(),
                       catalog.stores["region"].to_pylist()))
    northeast = sorted(s for s, r in regions.items() if r == "Northeast")
    assert len(northeast) == 2 and regions["S00002"] != "Northeast", regions
    with connect(settings) as wh:
        load_dimensions(wh, catalog, START, DAYS)
        for i, batch in enumerate(sim.run()):
            load_facts(wh, batch.tables, catalog, f"dashboard-demo-{i}")
        rates = {(s, p): float(u) for s, p, u in wh.query_rows(
            "SELECT s.store_id, p.product_id, sum(a.units) / {days:UInt32} "
            "FROM agg_sales_daily AS a "
            "INNER JOIN (SELECT store_key, store_id FROM dim_store FINAL) AS s USING store_key "
            "INNER JOIN (SELECT product_key, product_id FROM dim_product FINAL) AS p "
            "USING product_key GROUP BY s.store_id, p.product_id", {"days": DAYS})}
        for table, rows in _model_outputs(catalog, END, rates).items():
            wh.insert_arrow(table, rows)
        # each store's two lowest stocks get a reorder point above them (low stock), and a
        # delivery of a product it never sells sits on its shelf (overstock, aging)
        wh.command(
            "INSERT INTO inventory_levels_current (store_id, product_id, quantity_on_hand, "
            "reorder_point, safety_stock, last_event_time) "
            "SELECT st.store_id, p.product_id, s.on_hand, s.on_hand + 10, 5, now64(3) "
            "FROM stock_as_of(as_of = {as_of:Date}) AS s "
            "INNER JOIN (SELECT store_key, store_id FROM dim_store FINAL) AS st USING store_key "
            "INNER JOIN (SELECT product_key, product_id FROM dim_product FINAL) AS p "
            "USING product_key ORDER BY s.on_hand LIMIT 2 BY st.store_id", {"as_of": END})
        stores = catalog.stores["store_id"].to_pylist()
        idle = catalog.products["product_id"].to_pylist()[-1]
        at = datetime.combine(END - timedelta(days=75), datetime.min.time(), timezone.utc)
        n = len(stores)
        wh.insert_arrow("fact_inventory", pa.table({
            "event_id": [str(uuid.uuid4()) for _ in stores], "record_type": ["movement"] * n,
            "inventory_id": [f"demo-idle-{s}" for s in stores], "store_id": stores,
            "product_id": [idle] * n, "quantity_change": np.full(n, 240, np.int32),
            "quantity_on_hand": np.full(n, 240, np.int32), "reason": ["restock"] * n,
            "event_time": [at] * n}))
        wh.insert_arrow("rls_assignments", pa.table({
            "user_name": [STORE_MANAGER, REGIONAL_MANAGER.lower(), ADMIN],
            "scope": ["store", "region", "all"], "store_id": ["S00002", "", ""],
            "region": ["", "Northeast", ""]}))
    return DemoWarehouse(settings, catalog, END, {
        STORE_MANAGER: ["S00002"], REGIONAL_MANAGER.lower(): northeast,
        ADMIN: sorted(regions)})


@pytest.fixture(scope="session")
def demo_warehouse(warehouse_settings):
    """The demo warehouse, built once per session and dropped at its end."""
    key = warehouse_settings.url
    if key not in _built:
        _built[key] = _build(warehouse_settings)
    demo = _built[key]
    yield demo
    with connect(demo.settings, database="") as admin:
        admin.command(f"DROP DATABASE IF EXISTS `{demo.settings.database}` SYNC")
