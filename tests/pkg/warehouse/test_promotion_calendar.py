"""Migration 0016 and its publication: the dimension load writes the promotion calendar of
its days and the week after them, drawn with the simulator's seed and promotion share, so
what is published is exactly what the simulated chain then runs (its ``promotion_start``
price changes and its promoted sales)."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest

from retail.io.warehouse import connect
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.pricing import promotion_calendar
from retail.warehouse.load import AHEAD_DAYS, load_dimensions, load_facts
from retail.warehouse.migrate import discover
from tests.conftest import retail_cli as retail

pytestmark = pytest.mark.clickhouse_server

START = date(2026, 3, 4)  # a Wednesday: the first week's promotions start on the first day
DAYS = 10  # to Friday 13 March: two Mondays' plans, the third published ahead
COLUMNS = "product_id, promotion_id, start_date, end_date, discount"


def published(wh) -> list[tuple]:
    return [tuple(r) for r in wh.query_rows(
        f"SELECT {COLUMNS} FROM promotion_calendar FINAL ORDER BY start_date, product_id")]


def planned(seed: int, catalog, promo_share: float, start: date, days: int) -> list[tuple]:
    plan = promotion_calendar(seed, catalog.products["product_id"], promo_share, start, days)
    return sorted(zip(*(plan[c].to_pylist() for c in COLUMNS.split(", "))),
                  key=lambda r: (r[2], r[0]))


def test_the_migration_is_0016_and_keys_a_week_per_product(migrated):
    m = next(m for m in discover() if m.name == "promotion_calendar")
    assert m.version == 16  # 0017 (the insight models' tables) came after it
    engine, key, full = migrated.query_rows(
        "SELECT engine, sorting_key, engine_full FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'promotion_calendar'")[0]
    assert (engine, key) == ("ReplacingMergeTree", "start_date, product_key")
    assert "non_replicated_deduplication_window" in full
    views = migrated.query_rows("SELECT name FROM system.tables WHERE database = "
                                "currentDatabase() AND name LIKE 'bi_%promotion%'")
    assert views == []  # no dashboard reads it


def test_the_dimension_load_publishes_a_week_past_its_days_and_a_rerun_adds_nothing(migrated):
    catalog = generate_catalog(2, 30, 5)
    load_dimensions(migrated, catalog, START, DAYS)  # the seed defaults to the catalog's
    want = planned(5, catalog, 0.03, START, DAYS + AHEAD_DAYS)
    assert published(migrated) == want
    last = START + timedelta(days=DAYS - 1 + AHEAD_DAYS)
    assert max(r[3] for r in want) >= last  # the week of the 7th day after is planned
    load_dimensions(migrated, catalog, START, DAYS)
    assert migrated.query_rows("SELECT count() FROM promotion_calendar")[0][0] == len(want)


def test_a_republished_week_replaces_each_products_row(migrated):
    catalog = generate_catalog(2, 30, 5)
    load_dimensions(migrated, catalog, START, DAYS)
    load_dimensions(migrated, catalog, START, DAYS, seed=11, promo_share=0.2)
    again = planned(11, catalog, 0.2, START, DAYS + AHEAD_DAYS)
    rows = published(migrated)
    assert set(again) <= set(rows)  # a (week, product) published again: the new row only
    assert len({(r[0], r[2]) for r in rows}) == len(rows)
    # a product the new plan drops from a week keeps its row (docs/warehouse.md): one chain
    # always publishes the same plan, so only another seed on the same database does that
    first = planned(5, catalog, 0.03, START, DAYS + AHEAD_DAYS)
    kept = {(r[0], r[2]) for r in first} - {(r[0], r[2]) for r in again}
    assert {(r[0], r[2]) for r in set(rows) - set(again)} == kept


def test_the_published_promotions_are_what_the_simulated_chain_runs(migrated):
    catalog = generate_catalog(2, 30, 5)  # the catalog's seed is not the simulator's
    config = SimConfig(seed=7, rate=6, start=START, days=DAYS, promo_share=0.3)
    load_dimensions(migrated, catalog, START, DAYS, seed=config.seed,
                    promo_share=config.promo_share)
    for batch in Simulator(catalog, config).run():
        load_facts(migrated, batch.tables, catalog, f"{batch.day}-{batch.stores[0]}")

    stocked = {r[0] for r in migrated.query_rows(
        "SELECT DISTINCT product_id FROM fact_inventory")}
    last = START + timedelta(days=DAYS - 1)
    plan = [r for r in published(migrated) if r[2] <= last and r[0] in stocked]
    started = migrated.query_rows(
        "SELECT DISTINCT product_id, promotion_id, YYYYMMDDToDate(date_key) "
        "FROM fact_price_changes FINAL WHERE change_type = 'promotion_start'")
    assert {tuple(r) for r in started} == {(p, i, max(s, START)) for p, i, s, *_ in plan}
    assert len({r[2] for r in plan}) == 2 and len(plan) >= 6

    # every promoted sale is on a day its product's published promotion runs, at its id
    # (a return carries its sale's id, whenever it comes back)
    running = {(p, i, s + timedelta(days=k)) for p, i, s, *_ in plan for k in range(7)}
    sold = migrated.query_rows(
        "SELECT DISTINCT product_id, promotion_id, YYYYMMDDToDate(date_key) FROM fact_sales "
        "FINAL WHERE promotion_id IS NOT NULL AND transaction_type = 'sale'")
    assert sold and {tuple(r) for r in sold} <= running
    unpromoted = migrated.query_rows(
        "SELECT DISTINCT product_id, YYYYMMDDToDate(date_key) FROM fact_sales FINAL "
        "WHERE promotion_id IS NULL AND transaction_type = 'sale'")
    assert not {tuple(r) for r in unpromoted} & {(p, d) for p, _, d in running}


def test_the_cli_publishes_with_the_seed_it_simulates_and_the_calendar_a_week_ahead(cli_env):
    args = ["--stores", "2", "--products", "40", "--seed", "9"]
    retail("simulate", "--sink", "warehouse", "--rate", "5", "--days", "2",
           "--start", "2025-03-05", *args)
    catalog = generate_catalog(2, 40, 9)
    with connect_cli() as wh:
        # the simulator's path loads the calendar a week past its days, and publishes a
        # week past that
        assert published(wh) == planned(9, catalog, 0.03, date(2025, 3, 5),
                                        2 + 2 * AHEAD_DAYS)
        assert wh.query_rows("SELECT max(date) FROM dim_date")[0][0] == date(2025, 3, 13)
    out = retail("warehouse", "load-dims", *args, "--start", "2025-03-05", "--days", "2")
    assert "promotion_calendar: the promotions planned through 2025-03-13 (seed 9)" in out


def connect_cli():
    from retail.settings import Settings

    return connect(Settings().resolved_warehouse())


def test_an_empty_range_publishes_one_week():
    plan = promotion_calendar(3, pa.array(["P1", "P2", "P3"]), 0.0, START, 1)
    assert plan.num_rows == 1  # at least one product a week: every week has a row
