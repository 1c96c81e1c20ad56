"""The data-quality checks on the real local warehouse server: on a clean small warehouse
every check passes; each planted defect (a stale topic or table, a silent store, an unknown
product, a missing day, a dip in volume, a mismatched total, a negative level, a wrong
revenue, quarantined records, a duplicate, a lagging or stopped stream) fails its check and
only that check. Then the job as its image runs it, and the migration's backfill of the
hourly aggregate."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from retail.dq import CHECKS, Window, run_checks
from retail.dq.runner import window_for
from retail.io.warehouse import connect
from retail.settings import DqSettings
from retail.warehouse.migrate import Migrator, discover
from tests.jobs.jobrun import job_env, run_job
from tests.pkg.dq.dq_dataset import NIGHT, NOW, dataset, load, movement, quarantined

pytestmark = [pytest.mark.integration, pytest.mark.clickhouse_server]

END = NOW.replace(minute=0)  # the end of the hourly run's window
DAY = int(f"{NOW - timedelta(days=1):%Y%m%d}")  # a closed local day in the middle of the data


def _not_passing(wh, now=NOW) -> dict[str, str]:
    run = run_checks(wh, window_for(DqSettings(), as_of=now))
    assert len(run.results) == len(CHECKS)
    return {r.check.name: f"{r.status}: {r.observed} ({r.details})"
            for r in run.results if r.status != "pass"}


# --- defects: each changes the clean rows before loading and may return SQL to run after --
def _sales_in(t, store, hour):
    return [r for r in t["fact_sales"]
            if r["store_id"] == store and r["event_time"].replace(minute=0) == hour]


def _drop_sales(t, sales) -> None:
    ids = {r["transaction_id"] for r in sales}
    t["fact_sales"] = [r for r in t["fact_sales"] if r["transaction_id"] not in ids]
    t["fact_inventory"] = [r for r in t["fact_inventory"] if r["reference_id"] not in ids]


def stale_topic(t):
    for r in t["raw_events"]:
        if r["topic"] == "retail-sales-transactions":
            r["event_time"] -= timedelta(hours=1)
            r["ingested_at"] -= timedelta(hours=1)


def stale_table(t):
    for r in t["fact_supplier_shipments"]:
        for column in ("event_time", "ordered_at", "expected_arrival"):
            r[column] -= timedelta(days=3)


def silent_store(t):
    _drop_sales(t, _sales_in(t, "S00003", END - timedelta(hours=3)))


def unknown_product(t):
    at = NOW - timedelta(minutes=50)
    sale = {**t["fact_sales"][-1], "event_id": "7d0f6c1e-0000-4000-8000-000000000001",
            "transaction_id": "T-unknown", "product_id": "P09999", "event_time": at}
    t["fact_sales"].append(sale)
    t["fact_inventory"].append(movement(sale["store_id"], "P09999", at, sale["date_key"],
                                        -sale["quantity"], 100, "T-unknown"))


def missing_day(t):
    return [("ALTER TABLE agg_inventory_daily DELETE WHERE date_key = {d:UInt32} "
             "SETTINGS mutations_sync = 2", {"d": DAY})]


def volume_dip(t):
    _drop_sales(t, _sales_in(t, "S00002", END - timedelta(hours=5))[5:])


def movement_lost(t):
    first = next(i for i, r in enumerate(t["fact_inventory"]) if r["date_key"] == DAY)
    del t["fact_inventory"][first]


def negative_stock(t):
    t["fact_inventory"].append(movement("S00001", "P00001", NOW - timedelta(minutes=40),
                                        int(f"{NOW:%Y%m%d}"), -12_000, -2, "count",
                                        reason="adjustment"))


def wrong_revenue(t):
    t["fact_sales"][10]["revenue"] += Decimal("5.00")


def quarantined_share(t):
    t["quarantine_events"] += [quarantined("retail-inventory-updates", "contract_violation",
                                           END - timedelta(hours=2, minutes=i))
                               for i in range(20)]


def duplicate_event(t):
    night_sale = min(t["fact_lost_sales"], key=lambda r: r["event_time"])
    # The same event again, its date_key left to the UTC default by another writer: a
    # different sorting key, so FINAL never collapses the two.
    t["fact_lost_sales"].append({**night_sale, "date_key": int(
        f"{night_sale['event_time']:%Y%m%d}")})


def stream_lagging(t):
    last = t["stream_batches"][-1]
    t["stream_batches"].append({**last, "batch_id": 3, "lag_ms": 900_000,
                                "finished_at": last["finished_at"] + timedelta(seconds=5)})


def stream_stopped(t):
    for r in t["stream_batches"]:
        r["started_at"] -= timedelta(hours=2)
        r["finished_at"] -= timedelta(hours=2)


DEFECTS = {
    "freshness.topic.retail-sales-transactions": stale_topic,
    "freshness.table.fact_supplier_shipments": stale_table,
    "completeness.silent_store_hours": silent_store,
    "completeness.products_in_catalog": unknown_product,
    "completeness.days.agg_inventory_daily": missing_day,
    "volume.store_hours_vs_4_weeks": volume_dip,
    "consistency.sales_vs_movements": movement_lost,
    "consistency.inventory_not_negative": negative_stock,
    "consistency.revenue_arithmetic": wrong_revenue,
    "validity.quarantine_share.retail-inventory-updates": quarantined_share,
    "validity.duplicates.fact_lost_sales": duplicate_event,
    "stream.lag": stream_lagging,
    "stream.batch_age": stream_stopped,
}


def plant(wh, defect) -> None:
    clean, tables = dataset(), dataset()
    after = defect(tables) or []
    load(wh, tables, history_from=clean)
    for statement, parameters in after:
        wh.command(statement, parameters)


# --- the checks -------------------------------------------------------------------------
def test_on_a_clean_warehouse_every_check_passes_in_the_hourly_and_the_daily_run(migrated):
    load(migrated, dataset())

    assert _not_passing(migrated) == {}
    day = run_checks(migrated, Window.day((NOW - timedelta(days=1)).date(), NOW))
    assert {r.check.name: r.details for r in day.results if r.status != "pass"} == {}


def test_at_night_old_sales_are_not_stale_while_every_store_is_closed(migrated):
    """Los Angeles closed at 08:00 UTC; at 11:00 the newest sale is 3 hours old, but
    staleness counts only while a store is open."""
    load(migrated, dataset(NIGHT))

    assert _not_passing(migrated, NIGHT) == {}


@pytest.mark.parametrize("check", DEFECTS)
def test_a_planted_defect_fails_its_check_and_no_other(migrated, check):
    plant(migrated, DEFECTS[check])

    failing = _not_passing(migrated)

    assert list(failing) == [check], failing
    severity = next(c.severity for c in CHECKS if c.name == check)
    assert failing[check].startswith("fail" if severity == "error" else "warn")


def test_the_checks_name_the_offending_rows(migrated):
    plant(migrated, volume_dip)
    run = run_checks(migrated, window_for(DqSettings(), as_of=NOW),
                     [c for c in CHECKS if c.name == "volume.store_hours_vs_4_weeks"])

    hour = END - timedelta(hours=5)
    assert run.results[0].details == f"S00002 {hour:%Y-%m-%d %H}:00: 5 lines, usually 20"
    assert run.results[0].observed == 1


# --- the job as its image runs it ---------------------------------------------------------
def _env(settings) -> dict[str, str]:
    return job_env(RETAIL_WAREHOUSE__URL=settings.url,
                   RETAIL_WAREHOUSE__DATABASE=settings.database, RETAIL_LOG__FORMAT="json")


def test_the_job_records_every_result_alerts_a_failing_error_check_and_exits_1(
        migrated, fresh_database):
    plant(migrated, negative_stock)

    done = run_job("data_quality", "--as-of", NOW.isoformat(), env=_env(fresh_database))

    assert done.returncode == 1, done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [e["check"] for e in logged if e["event"] == "fail"] == [
        "consistency.inventory_not_negative"]
    assert logged[-1]["fail"] == 1 and logged[-1]["alerts"] == 1
    run_id = logged[-1]["run_id"]
    assert migrated.query_rows("SELECT count(), countIf(status = 'fail') FROM dq_results "
                               "WHERE run_id = {r:String}", {"r": run_id}) == [(len(CHECKS), 1)]
    alert = migrated.query_rows("SELECT severity, metric_value, threshold, details "
                                "FROM stream_alerts WHERE alert_type = 'data_quality'")
    assert [(a[0], a[1], a[2], json.loads(a[3])["check"]) for a in alert] == [
        ("high", 1.0, 0.0, "consistency.inventory_not_negative")]
    assert migrated.query_rows("SELECT status FROM job_runs FINAL WHERE job = 'data_quality'"
                               ) == [("failed",)]


def test_the_job_judges_a_closed_day_and_exits_0_when_every_error_check_passes(
        migrated, fresh_database):
    load(migrated, dataset())
    day = f"{NOW - timedelta(days=1):%Y-%m-%d}"

    done = run_job("data_quality", "--date", day, "--as-of", NOW.isoformat(),
                   "--check", "completeness.*", env=_env(fresh_database))

    assert done.returncode == 0, done.stderr
    assert migrated.query_rows("SELECT uniqExact(check_name), any(window_end) FROM dq_results"
                               )[0][0] == sum(c.category == "completeness" for c in CHECKS)


@pytest.mark.parametrize("args, says", [(["--date", "2026/03/11"], "YYYY-MM-DD"),
                                        (["--check", "no.such.*"], "matches no check")])
def test_bad_arguments_exit_2_before_connecting(args, says):
    done = run_job("data_quality", *args, env=job_env(
        RETAIL_WAREHOUSE__URL="http://127.0.0.1:9"))

    assert done.returncode == 2
    assert says in done.stderr


# --- migration 0012 on a warehouse that already has sales ----------------------------------
def test_0012_backfills_the_hourly_aggregate_once_from_the_sales_already_there(
        fresh_database, tmp_path):
    migrations = discover()
    for m in migrations[:-1]:
        (tmp_path / m.filename).write_text(m.sql)
    admin = connect(fresh_database, database="")

    def migrate():
        Migrator(admin, fresh_database.database, lambda db: connect(fresh_database, db),
                 tmp_path).migrate()

    migrate()
    wh = connect(fresh_database)
    wh.insert_arrow("fact_sales", _sales_table())
    time.sleep(1.1)  # the view's creation time has whole seconds: it must be a later one
    (tmp_path / migrations[-1].filename).write_text(migrations[-1].sql)
    migrate()
    wh.command(migrations[-1].statements()[-1])  # the backfill again, as a re-applied file would
    wh.insert_arrow("fact_sales", _sales_table(offset=100))  # after the view: counted by it

    assert wh.query_rows("SELECT sum(lines), sum(units) FROM agg_sales_hourly") == [(20, 20)]
    admin.close()
    wh.close()


def _sales_table(offset: int = 0):
    from tests.pkg.dq.dq_dataset import _arrow

    rows = dataset()["fact_sales"][offset:offset + 10]
    return _arrow([{**r, "quantity": 1, "revenue": r["unit_price"] - r["discount"]}
                   for r in rows])
