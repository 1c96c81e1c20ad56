"""`retail anomalies list`, `retail slow-movers`, `retail recommend` on rows written into the
insight tables of a migrated warehouse: what they show and in which order, the latest run
date and model version by default, their flags, and clear errors (a bad option exits 2
naming it, nothing written exits 1 naming the job that writes it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import console
from retail.io.warehouse import connect
from retail.settings import WarehouseSettings
from retail.sim.catalog import generate_catalog
from retail.warehouse.load import load_dimensions
from retail.warehouse.migrate import Migrator

pytestmark = pytest.mark.clickhouse_server
runner = CliRunner()

# (day, version, written at, rank, product, kind, score, duplicate alert) of store S00001;
# v2 wrote 2026-03-10 after v1, so it is the day's version; S00002 has nothing.
ANOMALIES = [
    ("2026-03-09", "v2", "2026-03-10 01:00:00", 1, "P000006", "demand_spike", 0.91, None),
    ("2026-03-10", "v1", "2026-03-11 01:00:00", 1, "P000009", "sales_drop", 0.99, None),
    ("2026-03-10", "v2", "2026-03-11 02:00:00", 1, "P000003", "demand_spike", 0.95, None),
    ("2026-03-10", "v2", "2026-03-11 02:00:00", 2, "P000004", "pricing_error", 0.90, "A-1"),
    ("2026-03-10", "v2", "2026-03-11 02:00:00", 3, "P000005", "sales_drop", 0.80, None),
]
# (product, probability, slow mover, markdown depth, markdown start) of S00001 on 2026-03-10.
SLOW_MOVERS = [("P000001", 0.40, False, 0.0, None), ("P000002", 0.90, True, 0.3, "2026-03-12"),
               ("P000003", 0.70, True, 0.2, "2026-03-11"), ("P000004", 0.55, False, 0.0, None)]
# (day, kind, store, customer, rank, product, reason)
RECOMMENDATIONS = [
    ("2026-03-09", "customer", "S00001", "C000100001", 1, "P000010", "als"),
    ("2026-03-10", "customer", "S00001", "C000100001", 2, "P000008", "als"),
    ("2026-03-10", "customer", "S00001", "C000100001", 1, "P000007", "als"),
    ("2026-03-10", "store", "S00001", "", 1, "P000009", "not_stocked"),
    ("2026-03-10", "store", "S00001", "", 2, "P000002", "under_ordered"),
]
# (day, method, rank, partner, score) of P000001
AFFINITIES = [("2026-03-09", "fpgrowth", 1, "P000010", 9.0),
              ("2026-03-10", "fpgrowth", 1, "P000002", 4.2),
              ("2026-03-10", "fpgrowth", 2, "P000003", 2.1),
              ("2026-03-10", "item_factors", 1, "P000004", 0.93),
              ("2026-03-10", "item_factors", 2, "P000005", 0.81)]


@pytest.fixture(scope="module")
def insight_db(warehouse_settings) -> Iterator[WarehouseSettings]:
    """A migrated database of this module's own with three stores, ten products and the
    rows above; dropped afterwards."""
    settings = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    with connect(settings, database="") as admin:
        Migrator(admin, settings.database, lambda db: connect(settings, db)).migrate()
        try:
            with connect(settings) as wh:
                _insert(wh)
            yield settings
        finally:
            admin.command(f"DROP DATABASE IF EXISTS `{settings.database}` SYNC")


def _insert(wh) -> None:
    load_dimensions(wh, generate_catalog(3, 10, 7), date(2026, 3, 9), 2)
    for day, version, at, rank, product, kind, score, alert in ANOMALIES:
        wh.command("""INSERT INTO ml_anomalies (date, date_key, store_id, product_id, score,
            rank, kind, demand, expected_demand, expected_low, expected_high,
            unexplained_stock_change, avg_unit_price, reference_price, velocity_change,
            duplicate_alert_id, model_version, detected_at)
            VALUES ({d:Date}, toYYYYMMDD({d:Date}), 'S00001', {p:String}, {s:Float64}, {r:UInt16},
                    {k:String}, 40, 8, 5, 11, -3, 2.5, 2.5, 0.7, {a:Nullable(String)},
                    {v:String}, {at:DateTime64(3)})""", parameters={
            "d": day, "p": product, "s": score, "r": rank, "k": kind, "a": alert,
            "v": version, "at": at})
    for product, probability, slow, depth, start in SLOW_MOVERS:
        wh.command("""INSERT INTO ml_slow_movers (date_key, run_date, store_id, product_id,
            probability, is_slow_mover, on_hand, velocity_28, days_of_cover, horizon_days,
            markdown_depth, markdown_start, expected_units_markdown, elasticity, model_version)
            VALUES (20260310, '2026-03-10', 'S00001', {p:String}, {pr:Float64}, {sl:Bool}, 90,
                    0.5, 180, 60, {dp:Float32}, {st:Nullable(Date)}, 45, -1.8, 'v1')""",
                   parameters={"p": product, "pr": probability, "sl": slow, "dp": depth,
                               "st": start})
    for day, kind, store, customer, rank, product, reason in RECOMMENDATIONS:
        wh.command("""INSERT INTO ml_recommendations (date_key, run_date, kind, store_id,
            customer_id, rank, product_id, score, reason, model_version)
            VALUES (toYYYYMMDD({d:Date}), {d:Date}, {k:String}, {s:String}, {c:String},
                    {r:UInt16}, {p:String}, {sc:Float64}, {re:String}, 'v1')""", parameters={
            "d": day, "k": kind, "s": store, "c": customer, "r": rank, "p": product,
            "sc": 1.0 / rank, "re": reason})
    for day, method, rank, other, score in AFFINITIES:
        fpgrowth = method == "fpgrowth"
        wh.command("""INSERT INTO ml_product_affinity (date_key, run_date, method, product_id,
            rank, other_product_id, support, confidence, lift, score, model_version)
            VALUES (toYYYYMMDD({d:Date}), {d:Date}, {m:String}, 'P000001', {r:UInt16},
                    {o:String}, {su:Nullable(Float64)}, {co:Nullable(Float64)},
                    {li:Nullable(Float64)}, {sc:Float64}, 'v1')""", parameters={
            "d": day, "m": method, "r": rank, "o": other, "sc": score,
            "su": 0.01 if fpgrowth else None, "co": 0.3 if fpgrowth else None,
            "li": score if fpgrowth else None})


@pytest.fixture()
def cli(insight_db, monkeypatch):
    """Run ``retail ...`` against the module's database; returns (exit code, output)."""
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", insight_db.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", insight_db.database)
    monkeypatch.setattr(console, "width", 400)

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return run


def order(output: str, ids: list[str]) -> list[str]:
    """The ids that appear in the output, in the order they appear."""
    return sorted((i for i in ids if i in output), key=output.index)


PRODUCTS = [f"P{n:06d}" for n in range(1, 11)]


# --- anomalies ----------------------------------------------------------------------------
def test_anomalies_show_the_latest_days_newest_version_and_hide_what_the_stream_alerted(cli):
    code, out = cli("anomalies", "list", "--store", "S00001")
    assert code == 0, out
    assert "S00001, 2026-03-10: anomalies by version v2" in out
    assert order(out, PRODUCTS) == ["P000003", "P000005"]  # by rank; v1's P000009 is not
    assert "demand_spike" in out and "0.950" in out and "8.0 (5.0 - 11.0)" in out
    assert "1 already alerted by the stream (--include-alerted shows them)" in out


@pytest.mark.parametrize("flags, shown", [
    (["--include-alerted"], ["P000003", "P000004", "P000005"]),
    (["--kind", "sales_drop"], ["P000005"]),
    (["--date", "2026-03-09"], ["P000006"]),
    (["--limit", "1"], ["P000003"])])
def test_anomaly_flags_choose_the_rows(cli, flags, shown):
    code, out = cli("anomalies", "list", "--store", "S00001", *flags)
    assert code == 0, out
    assert order(out, PRODUCTS) == shown
    assert ("A-1" in out) is ("--include-alerted" in flags)


@pytest.mark.parametrize("args, code, message", [
    (["--store", "S09999"], 2, "--store S09999: no such id in dim_store"),
    (["--store", "S00001", "--kind", "theft"], 2, "--kind must be one of sales_drop"),
    (["--store", "S00001", "--limit", "0"], 2, "--limit must be between 1 and 1000, got 0"),
    (["--store", "S00001", "--date", "10/03/2026"], 2, "--date"),
    (["--store", "S00002"], 1, "no anomalies scored for store S00002 in ml_anomalies "
     "(jobs/detect_anomalies.py --date D --task score)"),
    (["--store", "S00001", "--date", "2026-03-01"], 1, "no anomalies scored for store S00001 "
     "on 2026-03-01")])
def test_anomaly_errors_name_the_flag_or_the_job(cli, args, code, message):
    got, out = cli("anomalies", "list", *args)
    assert (got, message in out) == (code, True), out


# --- slow movers --------------------------------------------------------------------------
def test_slow_movers_come_first_by_probability_with_their_markdowns(cli):
    code, out = cli("slow-movers", "--store", "S00001")
    assert code == 0, out
    assert order(out, PRODUCTS) == ["P000002", "P000003", "P000004", "P000001"]
    assert "-30% from 2026-03-12" in out and "-20% from 2026-03-11" in out
    assert "2 of 4 store x product pairs are slow movers; 4 shown" in out
    assert order(cli("slow-movers", "--store", "S00001", "--limit", "2")[1], PRODUCTS) == [
        "P000002", "P000003"]


@pytest.mark.parametrize("args, code, message", [
    (["--store", "S09999"], 2, "--store S09999: no such id in dim_store"),
    (["--store", "S00001", "--limit", "1001"], 2, "--limit must be between 1 and 1000"),
    (["--store", "S00003"], 1, "no slow-mover scores for store S00003 in ml_slow_movers "
     "(jobs/classify_slow_movers.py --date D --task score)")])
def test_slow_mover_errors_name_the_flag_or_the_job(cli, args, code, message):
    got, out = cli("slow-movers", *args)
    assert (got, message in out) == (code, True), out


# --- recommendations ----------------------------------------------------------------------
def test_a_customers_recommendations_are_the_latest_run_by_rank(cli):
    code, out = cli("recommend", "--customer", "C000100001")
    assert code == 0, out
    assert "customer C000100001 (home store S00001), 2026-03-10" in out
    assert order(out, PRODUCTS) == ["P000007", "P000008"]
    older = cli("recommend", "--customer", "C000100001", "--date", "2026-03-09")[1]
    assert order(older, PRODUCTS) == ["P000010"]


def test_a_stores_recommendations_say_why(cli):
    code, out = cli("recommend", "--store", "S00001")
    assert code == 0, out
    assert order(out, PRODUCTS) == ["P000009", "P000002"]
    assert "not_stocked" in out and "under_ordered" in out


@pytest.mark.parametrize("flags, shown", [
    ([], ["P000001", "P000002", "P000003", "P000004", "P000005"]),
    (["--method", "item_factors"], ["P000001", "P000004", "P000005"]),
    (["--limit", "1"], ["P000001", "P000002", "P000004"])])
def test_a_products_partners_are_each_methods_latest_run(cli, flags, shown):
    code, out = cli("recommend", "--product", "P000001", *flags)
    assert code == 0, out
    assert "P000001, 2026-03-10: products bought with it" in out
    assert order(out, PRODUCTS) == shown  # fpgrowth first, then item_factors; by rank
    assert ("4.20" in out) is ("--method" not in flags)  # fpgrowth's lift


@pytest.mark.parametrize("args, code, message", [
    ([], 2, "give exactly one of --customer, --product, --store"),
    (["--customer", "C000100001", "--product", "P000001"], 2,
     "give exactly one of --customer, --product, --store (got --customer and --product)"),
    (["--store", "S00001", "--method", "fpgrowth"], 2, "--method goes with --product"),
    (["--product", "P000001", "--method", "als"], 2, "--method must be one of fpgrowth"),
    (["--customer", "C 42"], 2, "--customer must be a loyalty number"),
    (["--product", "P999999"], 2, "--product P999999: no such id in dim_product"),
    (["--store", "S09999"], 2, "--store S09999: no such id in dim_store"),
    (["--customer", "C99999999"], 1, "no recommendations for customer C99999999 in "
     "ml_recommendations (not a loyal customer the last training saw, or "
     "jobs/train_recommendations.py"),
    (["--product", "P000002"], 1, "no affinities of product P000002 in ml_product_affinity")])
def test_recommend_errors_name_the_flags_or_the_job(cli, args, code, message):
    got, out = cli("recommend", *args)
    assert (got, message in out) == (code, True), out
