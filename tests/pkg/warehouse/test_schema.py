"""The warehouse schema on a real server: layout, deduplication, materialized views, loads,
the BI views and the access-control DDL (row policies evaluated by hand on the local server,
enforced for real on a real ClickHouse server)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import REAL_CLICKHOUSE_URL
from retail.io.warehouse import ClickHouseWarehouse, WarehouseError, connect
from retail.sim.catalog import Catalog, generate_catalog
from retail.sim.engine import SimConfig, Simulator
from retail.warehouse.load import (
    DIMENSIONS, dimension_tables, load_dimensions, load_facts, sales_facts)
from retail.warehouse.migrate import Migrator, discover

# The warehouse suite: runs against the local server, or against a real ClickHouse server
# when RETAIL_CLICKHOUSE_URL is set (`pytest -m clickhouse_server`).
pytestmark = pytest.mark.clickhouse_server

START = date(2026, 1, 5)
DIM_START, DIM_DAYS = date(2026, 1, 1), 14
SECURITY = next(m for m in discover() if m.name == "security")
# Later migrations add bi_* views and their policies too (0015: the model tables).
ALL_STATEMENTS = [s for m in discover() for s in m.statements()]
POLICY = re.compile(r"^CREATE ROW POLICY IF NOT EXISTS (\w+) ON (\w+)\s+USING (.+?)\s+"
                    r"AS permissive TO bi_reader$", re.S)


# --- shared data --------------------------------------------------------------------------
@dataclass
class Day:
    """Two simulated days (the second has returns) of a 6-store, 60-product chain."""

    catalog: Catalog
    tables: dict[str, pa.Table]  # event type -> both days' events
    local_day: dict[str, list[int]]  # event type -> the simulated (store-local) day, YYYYMMDD


@pytest.fixture(scope="module")
def sim() -> Day:
    catalog = generate_catalog(6, 60, 7)
    batches = list(Simulator(catalog, SimConfig(days=2, start=START, seed=7, rate=3)).run())
    tables = {t: pa.concat_tables([b.tables[t] for b in batches if t in b.tables])
              for t in batches[0].tables}
    assert pc.any(pc.equal(tables["sales_transaction"]["transaction_type"], "return")).as_py()
    local_day = {t: [int(f"{b.day:%Y%m%d}") for b in batches if t in b.tables
                     for _ in range(b.tables[t].num_rows)] for t in batches[0].tables}
    return Day(catalog, tables, local_day)


def migrate(settings) -> None:
    with connect(settings, database="") as admin:
        Migrator(admin, settings.database, lambda db: connect(settings, db)).migrate()


@pytest.fixture(scope="module")
def module_db(warehouse_settings):
    """A migrated database of this module's own (``migrated`` is per test)."""
    settings = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    migrate(settings)
    yield settings
    with connect(settings, database="") as admin:
        admin.command(f"DROP DATABASE IF EXISTS `{settings.database}` SYNC")


# Who may see what (rls_assignments), and the stores each user should see, from the catalog.
SOUTHWEST = "Southwest"
ASSIGNMENTS = [
    # user, scope, store_id, region, is_active
    ("store.manager@retail.example", "store", "S00003", "", True),
    ("store.manager@retail.example", "store", "S00004", "", False),  # revoked: grants nothing
    ("regional.manager@retail.example", "region", "", SOUTHWEST, True),
    ("analyst@retail.example", "all", "", "", True),
    ("former.manager@retail.example", "store", "S00001", "", False),
]
UNKNOWN_USER = "nobody@retail.example"


def expected_stores(catalog: Catalog, user: str) -> set[str]:
    stores = catalog.stores.to_pylist()
    out: set[str] = set()
    for name, scope, store_id, region, active in ASSIGNMENTS:
        if name != user or not active:
            continue
        out |= {s["store_id"] for s in stores
                if scope == "all" or (scope == "store" and s["store_id"] == store_id)
                or (scope == "region" and s["region"] == region)}
    return out


@pytest.fixture(scope="module")
def loaded(module_db, sim) -> ClickHouseWarehouse:
    """The module database with dimensions, both days' facts, one row per store in the
    tables the simulator does not fill, and the rls_assignments above."""
    with connect(module_db) as wh:
        load_dimensions(wh, sim.catalog, DIM_START, DIM_DAYS)
        load_facts(wh, sim.tables, sim.catalog, "module-batch")
        stores = "SELECT store_id FROM dim_store FINAL"
        wh.command(f"""INSERT INTO inventory_levels_current (store_id, product_id,
            quantity_on_hand, last_event_time) SELECT store_id, 'P000001', 10, now64(3)
            FROM ({stores})""")
        wh.command(f"""INSERT INTO fact_lost_sales (event_id, lost_sale_id, transaction_id,
            store_id, product_id, requested_quantity, fulfilled_quantity, lost_quantity,
            unit_price, event_time) SELECT generateUUIDv4(), concat('L-', store_id), 'T-1',
            store_id, 'P000001', 3, 1, 2, 1.5, toDateTime64('2026-01-05 12:00:00', 3, 'UTC')
            FROM ({stores})""")
        wh.command(f"""INSERT INTO fact_ml_predictions (prediction_id, date_key, store_id,
            product_id, horizon, predicted_demand, confidence_low, confidence_high,
            stock_out_risk_score, recommended_order_qty, model_version)
            SELECT generateUUIDv4(), 20260107, store_id, 'P000001', 1, 5, 3, 7, 0.1, 10, 'test'
            FROM ({stores})""")
        wh.command(f"""INSERT INTO stream_alerts (alert_id, alert_type, severity, store_id,
            product_id, metric_value, threshold, details, event_time)
            SELECT generateUUIDv4(), 'sales_spike', 'high', store_id, '', 10, 5, '{{}}',
            now64(3) FROM ({stores})""")
        wh.command(f"""INSERT INTO fact_replenishment (date_key, run_date, order_by_date,
            store_id, product_id, on_hand, on_order, forecast_lead_review, safety_stock,
            reorder_point, order_up_to, order_qty, pack_size, reasons, stock_out_risk,
            lead_time_days, lead_time_sd_days, service_level, abc_class, model_version)
            SELECT 20260106, '2026-01-06', '2026-01-07', store_id, 'P000001', 4, 0, 12, 3,
            9, 15, 12, 6, ['below_reorder_point'], 0.2, 3, 1, 0.95, 'B', 'test'
            FROM ({stores})""")
        wh.command("""INSERT INTO model_evaluations (model, model_version, date, date_key,
            horizon, category, n, actual_sum, forecast_sum, abs_error_sum, wape, bias, mae,
            coverage_80) VALUES ('demand_forecast', 'test', '2026-01-07', 20260107, 1,
            'Dairy', 2, 10, 12, 4, 0.4, 0.2, 2, 0.5)""")
        wh.command("""INSERT INTO model_drift (model, model_version, date, date_key, feature,
            psi, status, reference_from, reference_to, recent_from, recent_to, bins,
            reference_rows, recent_rows) VALUES ('demand_forecast', 'test', '2026-01-07',
            20260107, 'demand', 0.05, 'stable', '2025-11-05', '2025-12-31', '2026-01-01',
            '2026-01-07', 10, 100, 20)""")
        wh.command("""INSERT INTO model_feature_importance (model, model_version, trained_at,
            feature, importance, importance_type, rank) VALUES ('demand_forecast', 'test',
            now64(3), 'demand_lag_7', 1, 'gain', 1)""")
        wh.command(f"""INSERT INTO ml_anomalies (date, date_key, store_id, product_id, score,
            rank, kind, demand, unexplained_stock_change, model_version)
            SELECT '2026-01-06', 20260106, store_id, 'P000001', 0.9, 1, 'demand_spike', 40, 0,
            'test' FROM ({stores})""")
        wh.command(f"""INSERT INTO ml_slow_movers (date_key, run_date, store_id, product_id,
            probability, is_slow_mover, on_hand, velocity_28, horizon_days, markdown_depth,
            model_version) SELECT 20260106, '2026-01-06', store_id, 'P000001', 0.8, true, 90,
            0.5, 60, 0.2, 'test' FROM ({stores})""")
        wh.command(f"""INSERT INTO ml_recommendations (date_key, run_date, kind, store_id,
            customer_id, rank, product_id, score, reason, model_version)
            SELECT 20260106, '2026-01-06', 'store', store_id, '', 1, 'P000002', 3.5,
            'not_stocked', 'test' FROM ({stores})""")
        wh.command("""INSERT INTO ml_product_affinity (date_key, run_date, method, product_id,
            rank, other_product_id, support, confidence, lift, score, model_version)
            VALUES (20260106, '2026-01-06', 'fpgrowth', 'P000001', 1, 'P000002', 0.01, 0.3,
            4.2, 4.2, 'test')""")
        wh.command("""INSERT INTO business_impact (run_id, arm, metric, value, period_from,
            period_to, stores, products, seed) VALUES ('r1', 'baseline', 'stockout_rate',
            0.08, '2026-01-05', '2026-03-01', 10, 200, 42), ('r1', 'platform',
            'stockout_rate', 0.03, '2026-01-05', '2026-03-01', 10, 200, 42)""")
        wh.insert_arrow("rls_assignments", pa.table({
            "user_name": [a[0] for a in ASSIGNMENTS], "scope": [a[1] for a in ASSIGNMENTS],
            "store_id": [a[2] for a in ASSIGNMENTS], "region": [a[3] for a in ASSIGNMENTS],
            "is_active": [a[4] for a in ASSIGNMENTS]}))
        yield wh


def tables_info(wh) -> dict[str, dict[str, str]]:
    return {name: {"engine": engine, "partition_key": pk, "sorting_key": sk,
                   "engine_full": full, "create": create}
            for name, engine, pk, sk, full, create in wh.query_rows(
                "SELECT name, engine, partition_key, sorting_key, engine_full, "
                "create_table_query FROM system.tables WHERE database = currentDatabase()")}


def column_types(wh) -> dict[tuple[str, str], str]:
    return {(t, c): ty for t, c, ty in wh.query_rows(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()")}


# --- layout -------------------------------------------------------------------------------
FACTS = ["fact_sales", "fact_inventory", "fact_price_changes", "fact_lost_sales",
         "fact_supplier_shipments", "fact_ml_predictions"]
EVENT_FACTS = FACTS[:5]  # the ones with an event_time


def test_fact_tables_are_replacing_merge_trees_partitioned_by_month_of_event(module_db):
    with connect(module_db) as wh:
        info = tables_info(wh)
    for name in FACTS:
        assert info[name]["engine"] == "ReplacingMergeTree", name
        # replayed inserts are dropped only if the table keeps a deduplication window
        assert "non_replicated_deduplication_window" in info[name]["engine_full"], name
    for name in EVENT_FACTS:
        assert info[name]["partition_key"] == "toYYYYMM(event_time)", name
    assert info["fact_ml_predictions"]["partition_key"] == "intDiv(date_key, 100)"


def test_fact_sorting_keys_start_with_store_then_product(module_db):
    with connect(module_db) as wh:
        info = tables_info(wh)
    for name in FACTS:
        keys = [k.strip() for k in info[name]["sorting_key"].split(",")]
        if name == "fact_supplier_shipments":  # supplier performance first, then store
            assert keys[:3] == ["supplier_key", "store_key", "product_key"], keys
        else:
            assert keys[:3] == ["store_key", "product_key", "date_key"], (name, keys)


TTLS = {"raw_events": ("event_time", 7), "sales_metrics_5m": ("window_start", 30),
        "stream_alerts": ("event_time", 90), "quarantine_events": ("quarantined_at", 90)}


@pytest.mark.parametrize("table", sorted(TTLS))
def test_realtime_tables_expire_rows_with_a_delete_ttl(module_db, table):
    column, days = TTLS[table]
    with connect(module_db) as wh:
        full = tables_info(wh)[table]["engine_full"]
    # ClickHouse prints the default action (DELETE) implicitly; anything else (TO DISK,
    # TO VOLUME, RECOMPRESS, GROUP BY, WHERE) would follow the interval.
    assert re.search(rf"\bTTL toDateTime\({column}\) \+ toIntervalDay\({days}\)"
                     rf"(?: DELETE)?(?= SETTINGS| *$)", full), full


def test_raw_events_and_windowed_metrics_drop_whole_daily_parts(module_db):
    with connect(module_db) as wh:
        info = tables_info(wh)
    assert info["raw_events"]["partition_key"] == "toYYYYMMDD(event_time)"
    assert info["sales_metrics_5m"]["partition_key"] == "toYYYYMMDD(window_start)"
    for name in ("raw_events", "sales_metrics_5m"):
        assert "ttl_only_drop_parts = 1" in info[name]["engine_full"], name


def test_facts_dimensions_and_aggregates_have_no_ttl(module_db):
    with connect(module_db) as wh:
        info = tables_info(wh)
    kept = FACTS + list(DIMENSIONS) + ["agg_sales_daily", "agg_store_daily",
                                       "agg_product_daily", "agg_inventory_daily",
                                       "rls_assignments", "inventory_levels_current",
                                       "job_runs", "schema_migrations"]
    for name in kept:
        assert "TTL" not in info[name]["engine_full"], name
        assert " TTL " not in info[name]["create"], name


CATEGORICAL = {
    "fact_sales": ["transaction_type", "store_id", "payment_method", "currency"],
    "fact_inventory": ["record_type", "store_id", "reason"],
    "fact_price_changes": ["store_id", "change_type"],
    "fact_lost_sales": ["store_id"],
    "fact_supplier_shipments": ["status", "supplier_id", "store_id"],
    "fact_ml_predictions": ["store_id", "model_version"],
    "dim_store": ["state", "region", "country", "timezone", "store_type"],
    "dim_product": ["category", "sub_category", "brand"],
    "dim_supplier": ["category"],
    "dim_date": ["day_name", "month_name", "season", "holiday_name"],
    "raw_events": ["event_type", "topic"],
    "stream_alerts": ["alert_type", "severity", "status", "store_id"],
    "quarantine_events": ["source", "topic", "reason"],
    "job_runs": ["job", "status"],
    "rls_assignments": ["scope"],
}


def test_categorical_columns_are_low_cardinality(module_db):
    with connect(module_db) as wh:
        types = column_types(wh)
    wrong = {(t, c): types.get((t, c)) for t, cols in CATEGORICAL.items() for c in cols
             if not (types.get((t, c)) or "").startswith("LowCardinality(")}
    assert wrong == {}


def test_event_times_are_millisecond_utc_datetimes(module_db):
    with connect(module_db) as wh:
        types = column_types(wh)
    with_event_time = {t for (t, c) in types if c == "event_time" and not t.startswith("bi_")}
    assert set(EVENT_FACTS) | {"raw_events", "stream_alerts"} <= with_event_time
    for t in with_event_time:
        want = "Nullable(DateTime64(3, 'UTC'))" if t == "quarantine_events" \
            else "DateTime64(3, 'UTC')"
        assert types[(t, "event_time")] == want, t
    assert types[("fact_sales", "ingested_at")] == "DateTime64(3, 'UTC')"


# --- deduplication ------------------------------------------------------------------------
def totals(wh) -> dict[str, tuple]:
    """Row counts of the facts (no FINAL) and sums of every aggregate table."""
    q = {
        "fact_sales": "SELECT count(), sum(quantity), sum(revenue) FROM fact_sales",
        "fact_inventory": "SELECT count(), sum(quantity_change) FROM fact_inventory",
        "agg_sales_daily": "SELECT sum(units), sum(revenue), sum(cost), sum(sale_lines), "
                           "sum(return_units) FROM agg_sales_daily",
        "agg_store_daily": "SELECT sum(u), sum(r), sum(t) FROM (SELECT sum(units) u, "
                           "sum(revenue) r, uniqExactMerge(transactions) t "
                           "FROM agg_store_daily GROUP BY date_key, store_key)",
        "agg_product_daily": "SELECT sum(u), sum(r), sum(s) FROM (SELECT sum(units) u, "
                             "sum(revenue) r, uniqExactMerge(stores) s "
                             "FROM agg_product_daily GROUP BY date_key, product_key)",
        "agg_inventory_daily": "SELECT sum(units_in), sum(units_out), sum(movements) "
                               "FROM agg_inventory_daily",
        "agg_inventory_latest": "SELECT count(), sum(o) FROM (SELECT argMaxMerge(on_hand) o "
                                "FROM agg_inventory_latest GROUP BY store_key, product_key)",
    }
    return {name: wh.query_rows(sql)[0] for name, sql in q.items()}


def halves(tables: dict[str, pa.Table]) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    first = {t: tab.slice(0, tab.num_rows // 2) for t, tab in tables.items()}
    second = {t: tab.slice(tab.num_rows // 2) for t, tab in tables.items()}
    return first, second


def test_a_replayed_batch_with_the_same_id_changes_neither_facts_nor_aggregates(migrated,
                                                                               sim):
    first, second = halves({t: sim.tables[t] for t in ("sales_transaction",
                                                       "inventory_update")})
    load_facts(migrated, first, sim.catalog, "batch-1")
    once = totals(migrated)
    sales = first["sales_transaction"]
    assert once["fact_sales"][:2] == (sales.num_rows, pc.sum(sales_facts(
        sales, sim.catalog)["quantity"]).as_py())
    assert once["agg_sales_daily"][0] == once["fact_sales"][1]

    load_facts(migrated, first, sim.catalog, "batch-1")
    assert totals(migrated) == once

    load_facts(migrated, second, sim.catalog, "batch-2")
    both = totals(migrated)
    all_sales = sales_facts(sim.tables["sales_transaction"], sim.catalog)
    assert both["fact_sales"][:2] == (all_sales.num_rows, pc.sum(all_sales["quantity"]).as_py())
    assert both["fact_inventory"][0] == sim.tables["inventory_update"].num_rows
    for name in once:
        assert both[name] != once[name], name
    assert both["agg_sales_daily"][0] == both["fact_sales"][1]
    assert both["agg_inventory_daily"][2] == both["fact_inventory"][0]


# --- materialized views -------------------------------------------------------------------
def rows(wh, sql: str) -> list[tuple]:
    return sorted(wh.query_rows(sql))


def test_agg_sales_daily_matches_fact_sales_per_day_store_and_product(loaded):
    got = rows(loaded, """SELECT date_key, store_key, product_key, sum(units), sum(revenue),
        sum(cost), sum(profit), sum(discount), sum(promo_units), sum(return_units),
        sum(sale_lines) FROM agg_sales_daily GROUP BY date_key, store_key, product_key""")
    want = rows(loaded, """SELECT date_key, store_key, product_key, toInt64(sum(quantity)),
        sum(revenue), sum(cost), sum(profit), sum(discount), toInt64(sumIf(quantity,
        is_promotion)), toInt64(-sumIf(quantity, transaction_type = 'return')),
        countIf(transaction_type = 'sale')
        FROM fact_sales FINAL GROUP BY date_key, store_key, product_key""")
    assert len(want) > 300
    assert sum(r[8] for r in want) > 0 and sum(r[9] for r in want) > 0  # promos, returns
    assert got == want


def test_agg_store_daily_counts_distinct_sale_transactions_like_fact_sales(loaded):
    got = rows(loaded, """SELECT date_key, store_key, sum(units), sum(revenue), sum(profit),
        uniqExactMerge(transactions) FROM agg_store_daily GROUP BY date_key, store_key""")
    want = rows(loaded, """SELECT date_key, store_key, toInt64(sum(quantity)), sum(revenue),
        sum(profit), uniqExactIf(transaction_id, transaction_type = 'sale')
        FROM fact_sales FINAL GROUP BY date_key, store_key""")
    assert len(want) >= 12  # 6 stores x at least 2 UTC dates
    assert got == want


@pytest.mark.parametrize("event_type,table,id_col", [
    ("sales_transaction", "fact_sales", "event_id"),
    ("inventory_update", "fact_inventory", "event_id"),
    ("supplier_shipment", "fact_supplier_shipments", "event_id")])
def test_date_keys_are_the_stores_local_days_not_utc_days(loaded, sim, event_type, table,
                                                          id_col):
    ids = sim.tables[event_type][id_col].to_pylist()
    want = dict(zip(ids, sim.local_day[event_type]))
    got = dict(loaded.query_rows(f"SELECT toString({id_col}), date_key FROM {table} FINAL"))
    utc = dict(loaded.query_rows(f"SELECT toString({id_col}), toYYYYMMDD(event_time) "
                                 f"FROM {table} FINAL"))
    assert got == want
    assert utc != want  # western stores' evenings fall on the next UTC day


def test_agg_store_daily_agrees_with_the_simulated_events(loaded, sim):
    ev = sim.tables["sales_transaction"].to_pandas()
    ev["date_key"] = sim.local_day["sales_transaction"]
    sign = ev["transaction_type"].map({"sale": 1, "return": -1})
    ev["units"] = ev["quantity"] * sign
    ev["revenue"] = (ev["line_total"] * sign).round(2)
    g = ev.groupby(["date_key", "store_id"])
    want = {k: (int(v["units"].sum()), round(float(v["revenue"].sum()), 2),
                v.loc[v["transaction_type"] == "sale", "transaction_id"].nunique())
            for k, v in g}
    got = {(d, s): (u, round(float(r), 2), t) for d, s, u, r, t in loaded.query_rows(
        """SELECT date_key, d.store_id, sum(units), sum(revenue), uniqExactMerge(transactions)
           FROM agg_store_daily AS a JOIN dim_store AS d FINAL ON d.store_key = a.store_key
           GROUP BY date_key, d.store_id""")}
    assert got == want


def test_agg_product_daily_matches_fact_sales_per_day_and_product(loaded):
    got = rows(loaded, """SELECT date_key, product_key, sum(units), sum(revenue),
        sum(profit), uniqExactMerge(stores) FROM agg_product_daily
        GROUP BY date_key, product_key""")
    want = rows(loaded, """SELECT date_key, product_key, toInt64(sum(quantity)), sum(revenue),
        sum(profit), uniqExact(store_key) FROM fact_sales FINAL
        GROUP BY date_key, product_key""")
    assert len(want) > 60 and max(r[5] for r in want) > 1
    assert got == want


def test_agg_inventory_daily_matches_fact_inventory_per_day_store_and_product(loaded):
    got = {r[:3]: r[3:] for r in loaded.query_rows(
        """SELECT date_key, store_key, product_key, argMaxMerge(closing_on_hand),
           sum(units_in), sum(units_out), sum(movements) FROM agg_inventory_daily
           GROUP BY date_key, store_key, product_key""")}
    want = {r[:3]: r[3:] for r in loaded.query_rows(
        """SELECT date_key, store_key, product_key,
           argMax(quantity_on_hand, (event_time, inventory_id)),
           toInt64(sumIf(quantity_change, quantity_change > 0)),
           toInt64(-sumIf(quantity_change, quantity_change < 0)),
           countIf(record_type = 'movement')
           FROM fact_inventory FINAL GROUP BY date_key, store_key, product_key""")}
    # Days whose last movements share a timestamp (two lines of one basket): the tie-break
    # on inventory_id must decide them the same way in the view.
    ties = loaded.query_rows(
        """SELECT count() FROM (SELECT date_key, store_key, product_key, event_time
           FROM fact_inventory FINAL GROUP BY ALL HAVING count() > 1)""")[0][0]
    assert len(want) > 300 and sum(r[1] for r in want.values()) > 0  # some stock came in
    assert ties > 0
    assert got == want


LATEST_STOCK_SQL = """SELECT store_key, product_key,
    argMax(quantity_on_hand, (event_time, inventory_id)), max(date_key),
    toUInt32(maxIf(date_key, reason = 'restock'))
    FROM fact_inventory FINAL {where} GROUP BY store_key, product_key"""


def test_agg_inventory_latest_holds_the_latest_stock_of_every_pair(loaded):
    got = rows(loaded, """SELECT store_key, product_key, argMaxMerge(on_hand),
        max(last_date_key), max(last_restock_key) FROM agg_inventory_latest
        GROUP BY store_key, product_key""")
    want = rows(loaded, LATEST_STOCK_SQL.format(where=""))
    assert len(want) > 100 and any(r[4] for r in want)  # some pairs were restocked
    assert got == want


@pytest.mark.parametrize("day", ["latest", "first"])
def test_stock_as_of_a_day_is_the_stock_after_its_last_movement(loaded, day):
    first, last = loaded.query_rows("SELECT min(date_key), max(date_key) FROM fact_inventory")[0]
    key = last if day == "latest" else first  # the latest table, or the daily history
    as_of = date(key // 10000, key // 100 % 100, key % 100)
    got = rows(loaded, "SELECT store_key, product_key, on_hand, last_restock_key "
                       "FROM stock_as_of(as_of = {d:Date})".replace("{d:Date}", f"'{as_of}'"))
    want = [(s, p, q, r) for s, p, q, _, r in rows(
        loaded, LATEST_STOCK_SQL.format(where=f"WHERE date_key <= {key}"))]
    assert len(want) > 100
    assert got == want
    if day == "first":  # the day's answer differs from today's: history was really read
        assert got != [(s, p, q, r) for s, p, q, _, r in rows(loaded,
                                                              LATEST_STOCK_SQL.format(where=""))]


def test_agg_supplier_daily_matches_delivered_shipments_per_day_and_supplier(loaded):
    got = rows(loaded, """SELECT date_key, supplier_key, sum(deliveries), sum(units),
        sum(lead_s), sum(promised_s), sum(on_time) FROM agg_supplier_daily
        GROUP BY date_key, supplier_key""")
    want = rows(loaded, """SELECT date_key, supplier_key, count(), sum(quantity),
        sum(dateDiff('second', ordered_at, event_time)),
        sum(dateDiff('second', ordered_at, expected_arrival)),
        countIf(event_time <= expected_arrival)
        FROM fact_supplier_shipments FINAL WHERE status = 'delivered'
        GROUP BY date_key, supplier_key""")
    assert len(want) > 0
    assert got == want


def test_closing_stock_is_the_stock_after_the_last_movement_of_the_day(loaded, sim):
    inv = sim.tables["inventory_update"].to_pandas()
    inv["date_key"] = sim.local_day["inventory_update"]
    last = inv.sort_values("event_time", kind="stable").groupby(
        ["date_key", "store_id", "product_id"]).tail(1)
    want = {(r.date_key, r.store_id, r.product_id): r.new_quantity for r in last.itertuples()}
    got = {(d, s, p): c for d, s, p, c in loaded.query_rows(
        """SELECT `Date Key`, s.store_id, p.product_id, `Closing Stock`
           FROM bi_fact_inventory_daily AS i
           JOIN dim_store AS s FINAL ON s.store_key = i.`Store Key`
           JOIN dim_product AS p FINAL ON p.product_key = i.`Product Key`""")}
    assert got == want


# --- loads --------------------------------------------------------------------------------
def test_loading_the_dimensions_again_adds_no_rows(loaded, sim):
    sizes = {name: t.num_rows for name, t in
             dimension_tables(sim.catalog, DIM_START, DIM_DAYS).items()}
    assert sizes == {"dim_date": DIM_DAYS, "dim_store": 6, "dim_supplier":
                     sim.catalog.suppliers.num_rows, "dim_product": 60}
    key = {"dim_date": "date_key", "dim_store": "store_id", "dim_supplier": "supplier_id",
           "dim_product": "product_id"}

    def content(name: str) -> list[tuple]:
        return sorted(loaded.query_rows(f"SELECT * EXCEPT updated_at FROM {name}"), key=repr)

    before = {name: content(name) for name in sizes}
    again = load_dimensions(loaded, sim.catalog, DIM_START, DIM_DAYS)
    assert again == {name: (n, n) for name, n in sizes.items()}
    for name, n in sizes.items():
        plain = loaded.query_rows(f"SELECT count(), uniqExact({key[name]}) FROM {name}")[0]
        final = loaded.query_rows(f"SELECT count() FROM {name} FINAL")[0][0]
        assert (*plain, final) == (n, n, n), name
        assert content(name) == before[name], name


def test_store_keys_in_dim_store_are_the_store_keys_of_the_facts(loaded, sim):
    dim = dict(loaded.query_rows("SELECT store_id, store_key FROM dim_store FINAL"))
    assert set(dim) == set(sim.catalog.stores["store_id"].to_pylist())
    assert dim == dict(loaded.query_rows(
        "SELECT store_id, retail_key(store_id) FROM dim_store FINAL"))
    assert len(set(dim.values())) == len(dim)
    for table in ("fact_sales", "fact_inventory"):
        pairs = loaded.query_rows(f"SELECT DISTINCT store_id, store_key FROM {table}")
        assert dict(pairs) == dim and len(pairs) == len(dim), table
    products = dict(loaded.query_rows("SELECT product_id, product_key FROM dim_product FINAL"))
    for pid, key in loaded.query_rows("SELECT DISTINCT product_id, product_key FROM fact_sales"):
        assert products[pid] == key


def test_sales_facts_sign_returns_and_keep_sales_positive(sim):
    events = sim.tables["sales_transaction"]
    facts = sales_facts(events, sim.catalog)
    is_return = pc.equal(events["transaction_type"], "return")
    assert pc.sum(is_return).as_py() > 0
    for col, src, exact in (("quantity", "quantity", int), ("revenue", "line_total", cents),
                            ("discount", "discount_amount", cents),
                            ("unit_price", "unit_price", cents)):
        got = facts[col].to_pylist()
        flip = is_return.to_pylist() if col != "unit_price" else [False] * len(got)
        assert got == [-exact(s) if r else exact(s)
                       for s, r in zip(events[src].to_pylist(), flip)], col
    ret = facts.filter(is_return)
    assert pc.all(pc.less(ret["quantity"], 0)).as_py()
    assert pc.all(pc.less_equal(ret["revenue"], 0)).as_py()
    assert pc.all(pc.less_equal(ret["discount"], 0)).as_py()
    sold = facts.filter(pc.invert(is_return))
    assert pc.all(pc.greater(sold["quantity"], 0)).as_py()
    cost = dict(zip(sim.catalog.products["product_id"].to_pylist(),
                    sim.catalog.products["unit_cost"].to_pylist()))
    assert facts["unit_cost"].to_pylist() == [cents(cost[p])
                                              for p in facts["product_id"].to_pylist()]


def cents(x: float) -> Decimal:
    """A float amount as the Decimal it stands for (19.470000000000002 -> 19.47)."""
    return Decimal(repr(x)).quantize(Decimal("0.01"))


def test_money_is_stored_to_the_cent_not_truncated(loaded, sim):
    events = sim.tables["sales_transaction"]
    sign = [-1 if t == "return" else 1 for t in events["transaction_type"].to_pylist()]
    unit_cost = dict(zip(sim.catalog.products["product_id"].to_pylist(),
                         sim.catalog.products["unit_cost"].to_pylist()))
    want = sorted((e, cents(p), s * cents(lt), s * cents(d), cents(unit_cost[pid]))
                  for e, p, lt, d, pid, s in zip(
                      events["event_id"].to_pylist(), events["unit_price"].to_pylist(),
                      events["line_total"].to_pylist(), events["discount_amount"].to_pylist(),
                      events["product_id"].to_pylist(), sign))
    got = sorted(loaded.query_rows("SELECT toString(event_id), unit_price, revenue, discount, "
                                   "unit_cost FROM fact_sales FINAL"))
    assert got == want
    products = {pid: (cents(c), cents(p)) for pid, c, p in zip(
        *(sim.catalog.products[c].to_pylist() for c in ("product_id", "unit_cost", "price")))}
    assert dict((pid, (c, p)) for pid, c, p in loaded.query_rows(
        "SELECT product_id, unit_cost, list_price FROM dim_product FINAL")) == products


def test_the_table_computes_cost_and_profit_and_the_sign_of_returns(loaded, sim):
    bad = loaded.query_rows("""SELECT countIf(cost != quantity * unit_cost),
        countIf(profit != revenue - cost),
        countIf(is_promotion != (promotion_id IS NOT NULL)),
        countIf(transaction_type = 'return' AND (quantity >= 0 OR revenue > 0 OR cost >= 0
                                                 OR discount > 0)),
        countIf(transaction_type = 'sale' AND (quantity <= 0 OR revenue < 0 OR cost < 0)),
        countIf(transaction_type = 'return'), countIf(is_promotion)
        FROM fact_sales FINAL""")[0]
    assert bad[:5] == (0, 0, 0, 0, 0)
    assert bad[5] > 0 and bad[6] > 0
    # one return, checked against the catalog's cost independently of the table defaults
    events = sim.tables["sales_transaction"]
    ret = events.filter(pc.equal(events["transaction_type"], "return")).slice(0, 1).to_pylist()[0]
    unit_cost = dict(zip(sim.catalog.products["product_id"].to_pylist(),
                         sim.catalog.products["unit_cost"].to_pylist()))[ret["product_id"]]
    q, revenue, cost, profit, uc = loaded.query_rows(
        "SELECT quantity, revenue, cost, profit, unit_cost FROM fact_sales WHERE "
        "event_id = {e:UUID}", parameters={"e": ret["event_id"]})[0]
    want_cost = -ret["quantity"] * Decimal(str(unit_cost)).quantize(Decimal("0.01"))
    assert (q, uc) == (-ret["quantity"], Decimal(str(unit_cost)).quantize(Decimal("0.01")))
    assert revenue == -Decimal(str(ret["line_total"])).quantize(Decimal("0.01"))
    assert (cost, profit) == (want_cost, revenue - want_cost)


# --- BI views -----------------------------------------------------------------------------
def bi_views(wh) -> list[str]:
    return [r[0] for r in wh.query_rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine = 'View' AND startsWith(name, 'bi_') ORDER BY name")]


def test_every_bi_view_in_the_migration_exists_and_returns_rows(loaded):
    declared = sorted({m.group(1) for s in ALL_STATEMENTS
                       if (m := re.match(r"CREATE OR REPLACE VIEW (bi_\w+)", s))})
    assert bi_views(loaded) == declared and len(declared) >= 12
    for view in declared:
        table = loaded.query_arrow(f"SELECT * FROM {view} LIMIT 10")
        assert table.num_rows > 0, view


def test_bi_view_columns_have_friendly_names_and_no_uint64(loaded):
    problems = []
    for view in bi_views(loaded):
        for name, type_, *_ in loaded.query_rows(f"DESCRIBE TABLE {view}"):
            if not (" " in name or name[:1].isupper()) or "_" in name:
                problems.append((view, name, "unfriendly name"))
            if "UInt64" in type_:
                problems.append((view, name, type_))
    assert problems == []


# --- access control -----------------------------------------------------------------------
def test_every_security_statement_parses_with_clickhouses_parser(loaded):
    statements = SECURITY.statements()
    kinds = {" ".join(s.split()[:3]) for s in statements}
    assert {"CREATE ROLE IF", "CREATE SETTINGS PROFILE", "CREATE QUOTA IF",
            "CREATE ROW POLICY"} <= kinds and any(s.startswith("GRANT") for s in statements)
    failed = {}
    for stmt in statements:
        try:
            loaded.query_rows("EXPLAIN AST " + stmt)
        except WarehouseError as exc:
            failed[stmt] = str(exc)[:300]
    assert failed == {}
    with pytest.raises(WarehouseError, match="Syntax error"):
        loaded.query_rows("EXPLAIN AST CREATE ROW POLICY p ON bi_fact_sales USING AS "
                          "permissive TO bi_reader")


def row_policies() -> dict[str, str]:
    """View -> USING condition of its bi_reader policy."""
    out = {}
    for stmt in ALL_STATEMENTS:
        if stmt.startswith("CREATE ROW POLICY") and "TO bi_reader" in stmt:
            m = POLICY.match(stmt)
            assert m, stmt
            assert m.group(2) not in out, f"two bi_reader policies on {m.group(2)}"
            out[m.group(2)] = m.group(3)
    return out


def test_every_bi_view_with_a_store_has_a_bi_reader_row_policy(loaded):
    policies = row_policies()
    with_store = {v for v in bi_views(loaded)
                  if "Store Key" in {r[0] for r in loaded.query_rows(f"DESCRIBE TABLE {v}")}}
    assert len(with_store) >= 8
    assert set(policies) == with_store | {"bi_user_access"}
    unrestricted = {m.group(1) for s in ALL_STATEMENTS if (m := re.match(
        r"CREATE ROW POLICY IF NOT EXISTS unrestricted ON (\w+) "
        r"USING 1 AS permissive TO ALL EXCEPT bi_reader$", s))}
    assert unrestricted == set(policies)


USERS = sorted({a[0] for a in ASSIGNMENTS}) + [UNKNOWN_USER]


@pytest.mark.parametrize("user", USERS)
def test_row_policy_conditions_show_each_user_exactly_their_stores(loaded, sim, user):
    stores = expected_stores(sim.catalog, user)
    by_region = defaultdict(set)
    for s in sim.catalog.stores.to_pylist():
        by_region[s["region"]].add(s["store_id"])
    if user.startswith("regional"):
        assert stores == by_region[SOUTHWEST] and 1 < len(stores) < 6
    if user == "analyst@retail.example":
        assert len(stores) == 6
    if user in ("former.manager@retail.example", UNKNOWN_USER):
        assert stores == set()
    if user.startswith("store."):
        assert stores == {"S00003"}  # the revoked S00004 grants nothing
    keys = {r[0] for r in loaded.query_rows(
        "SELECT retail_key(arrayJoin({ids:Array(String)}))",
        parameters={"ids": sorted(stores)})} if stores else set()
    for view, cond in row_policies().items():
        assert "currentUser()" in cond
        where = cond.replace("currentUser()", "{rls_user:String}")
        got = sorted(loaded.query_rows(f"SELECT * FROM {view} WHERE {where}",
                                       parameters={"rls_user": user}), key=repr)
        if view == "bi_user_access":
            assert {r[2] for r in got} == stores, view
            assert {r[0] for r in got} <= {user}
            continue
        want = sorted(loaded.query_rows(
            f"SELECT * FROM {view} WHERE `Store Key` IN {{keys:Array(Int64)}}",
            parameters={"keys": sorted(keys)}), key=repr)
        names = [r[0] for r in loaded.query_rows(f"DESCRIBE TABLE {view}")]
        store_col = names.index("Store Key")
        assert {r[store_col] for r in got} == keys, view  # every store has rows in each view
        assert got == want, view


# --- enforced access control (a real ClickHouse server only) ------------------------------
@pytest.fixture
def bi_user(fresh_database, migrated):
    """A ClickHouse user with role bi_reader, dropped afterwards; yields (name, password)."""
    name = f"rls_test_{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(24)
    with connect(fresh_database, database="") as admin:
        admin.command(f"CREATE USER {name} IDENTIFIED BY '{password}'")
        try:
            admin.command(f"GRANT bi_reader TO {name}")
            admin.command(f"SET DEFAULT ROLE bi_reader TO {name}")
            yield name, password
        finally:
            admin.command(f"DROP USER IF EXISTS {name}")


@pytest.mark.clickhouse_server
@pytest.mark.skipif(not REAL_CLICKHOUSE_URL,
                    reason="needs a real ClickHouse server: set RETAIL_CLICKHOUSE_URL")
def test_a_bi_reader_sees_only_their_store_and_can_neither_read_tables_nor_write(
        fresh_database, migrated, bi_user):
    from pydantic import SecretStr

    name, password = bi_user
    catalog = generate_catalog(3, 20, 7)
    load_dimensions(migrated, catalog, START, 3)
    migrated.command("""INSERT INTO fact_sales (event_id, transaction_id, line_number,
        transaction_type, store_id, product_id, quantity, unit_price, discount, revenue,
        unit_cost, payment_method, event_time)
        SELECT generateUUIDv4(), concat('T-', store_id), 1, 'sale', store_id, 'P000001', 1, 2,
               0, 2, 1, 'cash', now64(3) FROM dim_store FINAL""")
    store = "S00002"
    migrated.command("INSERT INTO rls_assignments (user_name, scope, store_id) "
                     "VALUES ({u:String}, 'store', {s:String})",
                     parameters={"u": name, "s": store})
    keys = dict(migrated.query_rows("SELECT store_id, store_key FROM dim_store FINAL"))
    assert len(keys) == 3
    assert migrated.query_rows("SELECT count() FROM bi_fact_sales")[0][0] == 3  # admin: all

    as_user = fresh_database.model_copy(update={"user": name, "password": SecretStr(password)})
    with connect(as_user) as wh:
        assert wh.query_rows("SELECT DISTINCT `Store Key` FROM bi_fact_sales") == [(keys[store],)]
        assert wh.query_rows("SELECT `Store ID` FROM bi_dim_store") == [(store,)]
        assert wh.query_rows("SELECT `User Principal Name`, `Store ID` FROM bi_user_access") \
            == [(name, store)]
        with pytest.raises(WarehouseError) as denied:
            wh.query_rows("SELECT count() FROM fact_sales")
        assert denied.value.code == 497, denied.value  # ACCESS_DENIED
        with pytest.raises(WarehouseError) as readonly:
            wh.command("INSERT INTO rls_assignments (user_name, scope) VALUES ('x', 'all')")
        assert readonly.value.code in (164, 497), readonly.value  # READONLY / ACCESS_DENIED
    assert migrated.query_rows("SELECT count() FROM rls_assignments")[0][0] == 1
