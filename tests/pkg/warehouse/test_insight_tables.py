"""Migration 0017 (the insight models' tables, issue 19): applied on the warehouse, their keys
make a re-run of a day and model version replace its rows, bi_ml_anomalies leaves out what
the stream already alerted, and a bi_reader sees only its stores' rows of the three views
with a store, and every row of the product affinities (row policies evaluated by hand on
the local server, enforced by a real ClickHouse server)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from retail.io.warehouse import ClickHouseWarehouse, connect
from retail.settings import WarehouseSettings
from retail.sim.catalog import generate_catalog
from retail.warehouse.load import load_dimensions
from retail.warehouse.migrate import Migrator, discover
from tests.conftest import REAL_CLICKHOUSE_URL

pytestmark = pytest.mark.clickhouse_server

INSIGHTS = next(m for m in discover() if m.name == "insight_models")
KEYS = {
    "ml_anomalies": ("ReplacingMergeTree",
                     "store_key, date_key, model_version, product_key"),
    "ml_slow_movers": ("ReplacingMergeTree",
                       "store_key, product_key, date_key, model_version"),
    "ml_recommendations": ("ReplacingMergeTree",
                           "kind, store_key, customer_id, date_key, model_version, rank"),
    "ml_product_affinity": ("ReplacingMergeTree",
                            "product_key, method, date_key, model_version, rank"),
}
VIEWS_WITH_STORE = ["bi_ml_anomalies", "bi_ml_slow_movers", "bi_ml_recommendations"]
POLICY = re.compile(r"^CREATE ROW POLICY IF NOT EXISTS rls_store ON (\w+)\s+USING (.+?)\s+"
                    r"AS permissive TO bi_reader$", re.S)
MANAGER = "store.manager@retail.example"
STORE = "S00002"

# One row per table: (table, the columns of its key and a value, the value column, then the
# value of a first run, of its re-run, of another model version's run).
ANOMALY = """INSERT INTO ml_anomalies (date, date_key, store_id, product_id, score, rank,
    kind, demand, unexplained_stock_change, duplicate_alert_id, model_version, detected_at)
    VALUES ('2026-03-10', 20260310, {store:String}, 'P000001', {value:Float64}, 1,
            'demand_spike', 40, 0, {alert:Nullable(String)}, {version:String},
            {at:DateTime64(3)})"""
SLOW_MOVER = """INSERT INTO ml_slow_movers (date_key, run_date, store_id, product_id,
    probability, is_slow_mover, on_hand, velocity_28, horizon_days, markdown_depth,
    model_version, created_at)
    VALUES (20260310, '2026-03-10', {store:String}, 'P000001', {value:Float64}, true, 90, 0.5,
            60, 0.2, {version:String}, {at:DateTime64(3)})"""
RECOMMENDATION = """INSERT INTO ml_recommendations (date_key, run_date, kind, store_id,
    customer_id, rank, product_id, score, reason, model_version, created_at)
    VALUES (20260310, '2026-03-10', 'customer', {store:String}, 'C00000001', 1, 'P000002',
            {value:Float64}, 'als', {version:String}, {at:DateTime64(3)})"""
AFFINITY = """INSERT INTO ml_product_affinity (date_key, run_date, method, product_id, rank,
    other_product_id, support, confidence, lift, score, model_version, created_at)
    VALUES (20260310, '2026-03-10', 'fpgrowth', 'P000001', 1, 'P000002', 0.01, 0.3,
            {value:Float64}, {value:Float64}, {version:String}, {at:DateTime64(3)})"""
RERUNS = {"ml_anomalies": (ANOMALY, "score"), "ml_slow_movers": (SLOW_MOVER, "probability"),
          "ml_recommendations": (RECOMMENDATION, "score"),
          "ml_product_affinity": (AFFINITY, "score")}


@pytest.fixture(scope="module")
def module_settings(warehouse_settings) -> Iterator[WarehouseSettings]:
    """A migrated database of this module's own (``migrated`` migrates per test), with three
    stores in dim_store; dropped afterwards."""
    settings = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    with connect(settings, database="") as admin:
        Migrator(admin, settings.database, lambda db: connect(settings, db)).migrate()
        try:
            with connect(settings) as wh:
                load_dimensions(wh, generate_catalog(3, 10, 7), date(2026, 3, 9), 3)
            yield settings
        finally:
            admin.command(f"DROP DATABASE IF EXISTS `{settings.database}` SYNC")


@pytest.fixture(scope="module")
def module_db(module_settings) -> Iterator[ClickHouseWarehouse]:
    with connect(module_settings) as wh:
        yield wh


@pytest.fixture()
def wh(module_db) -> ClickHouseWarehouse:
    """The module's database with no insight rows and no assignments."""
    for table in [*KEYS, "rls_assignments"]:  # names from code
        module_db.command(f"TRUNCATE TABLE {table}")
    return module_db


def write(wh: ClickHouseWarehouse, sql: str, value: float, version: str = "v1",
          at: str = "2026-03-11 02:00:00", store: str = STORE, alert: str | None = None
          ) -> None:
    params = {"store": store, "value": value, "version": version, "at": at, "alert": alert}
    wh.command(sql, parameters={k: v for k, v in params.items() if "{" + k + ":" in sql})


def test_the_migration_is_0017_and_the_tables_are_keyed_per_day_version_and_slot(wh):
    assert INSIGHTS.version == 17
    info = {name: (engine, key) for name, engine, key in wh.query_rows(
        "SELECT name, engine, sorting_key FROM system.tables "
        "WHERE database = currentDatabase()")}
    assert {t: info[t] for t in KEYS} == KEYS
    assert {f"bi_{t}" for t in KEYS} <= info.keys()


@pytest.mark.parametrize("table", sorted(RERUNS))
def test_a_rerun_of_the_same_day_and_version_replaces_its_rows(wh, table):
    sql, column = RERUNS[table]
    write(wh, sql, 0.5)
    write(wh, sql, 0.7, at="2026-03-11 03:00:00")  # the same day and version, again
    write(wh, sql, 0.9, version="v2")  # another version keeps its own rows

    rows = wh.query_rows(
        f"SELECT model_version, {column} FROM {table} FINAL ORDER BY model_version")

    assert rows == [("v1", 0.7), ("v2", 0.9)]


def test_bi_ml_anomalies_leaves_out_what_the_stream_already_alerted(wh):
    write(wh, ANOMALY, 0.9, store="S00001", alert="a-17")
    write(wh, ANOMALY, 0.8, store="S00002")

    keys = wh.query_rows("SELECT `Store Key`, `Anomaly Score` FROM bi_ml_anomalies")
    both = wh.query_rows("SELECT count() FROM ml_anomalies FINAL")[0][0]

    assert keys == wh.query_rows("SELECT retail_key('S00002'), 0.8")
    assert both == 2


@pytest.fixture()
def assigned(wh) -> ClickHouseWarehouse:
    """Every insight table with rows of the three stores, and one store manager assigned
    STORE alone (besides a revoked assignment of another store)."""
    for i, store in enumerate(("S00001", "S00002", "S00003")):
        for sql, _ in RERUNS.values():  # a version per store: three product affinities too
            write(wh, sql, 0.5, store=store, version=f"v{i}")
    wh.command("""INSERT INTO rls_assignments (user_name, scope, store_id, is_active)
        VALUES ({u:String}, 'store', {s:String}, true), ({u:String}, 'store', 'S00003', false)""",
                     parameters={"u": MANAGER, "s": STORE})
    return wh


def bi_reader_policies() -> dict[str, str]:
    """View -> the USING condition of 0017's bi_reader row policy."""
    found = [POLICY.match(s) for s in INSIGHTS.statements()
             if s.startswith("CREATE ROW POLICY") and "TO bi_reader" in s]
    assert all(found)
    return {m.group(1): m.group(2) for m in found}


def test_a_bi_reader_sees_only_the_stores_assigned_and_every_affinity(assigned):
    policies = bi_reader_policies()
    keys = {r[0] for r in assigned.query_rows("SELECT retail_key({s:String})",
                                              parameters={"s": STORE})}
    assert sorted(policies) == sorted(VIEWS_WITH_STORE)  # the affinities have none: all rows
    for view, condition in policies.items():
        where = condition.replace("currentUser()", "{user:String}")
        seen = assigned.query_rows(f"SELECT DISTINCT `Store Key` FROM {view} WHERE {where}",
                                   parameters={"user": MANAGER})
        everyone = assigned.query_rows(f"SELECT count(DISTINCT `Store Key`) FROM {view}")
        nobody = assigned.query_rows(f"SELECT count() FROM {view} WHERE {where}",
                                     parameters={"user": "nobody@retail.example"})
        assert ({r[0] for r in seen}, everyone, nobody) == (keys, [(3,)], [(0,)]), view
    assert assigned.query_rows("SELECT count() FROM bi_ml_product_affinity") == [(3,)]


# --- enforced access control (a real ClickHouse server only) ------------------------------
@pytest.mark.skipif(not REAL_CLICKHOUSE_URL,
                    reason="needs a real ClickHouse server: set RETAIL_CLICKHOUSE_URL")
def test_a_real_bi_reader_sees_its_stores_rows_and_every_affinity(module_settings, assigned):
    from pydantic import SecretStr

    name, password = f"rls_insight_{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    settings = module_settings
    with connect(settings, database="") as admin:
        admin.command(f"CREATE USER {name} IDENTIFIED BY '{password}'")  # names from code
        try:
            admin.command(f"GRANT bi_reader TO {name}")
            admin.command(f"SET DEFAULT ROLE bi_reader TO {name}")
            assigned.command("INSERT INTO rls_assignments (user_name, scope, store_id) "
                             "VALUES ({u:String}, 'store', {s:String})",
                             parameters={"u": name, "s": STORE})
            user = settings.model_copy(update={"user": name,
                                                     "password": SecretStr(password)})
            with connect(user) as wh:
                for view in VIEWS_WITH_STORE:
                    assert wh.query_rows(f"SELECT DISTINCT `Store Key` FROM {view}") == \
                        assigned.query_rows("SELECT retail_key({s:String})",
                                            parameters={"s": STORE}), view
                assert wh.query_rows("SELECT count() FROM bi_ml_product_affinity") == [(3,)]
        finally:
            admin.command(f"DROP USER IF EXISTS {name}")
