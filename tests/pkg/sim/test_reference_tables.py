"""Weather and the calendar in the warehouse (migration 0011): the tables' layout, and the
simulator's reference data loaded with the dimensions, exactly and once."""

from __future__ import annotations

from datetime import date

import pytest

from retail.sim import generate_catalog
from retail.sim.calendar import calendar_table
from retail.sim.reference import reference_tables
from retail.sim.weather import region_day
from retail.warehouse.load import REFERENCE, load_dimensions, load_reference
from retail.warehouse.migrate import discover

pytestmark = pytest.mark.clickhouse_server

START, DAYS = date(2026, 11, 20), 45


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(12, 40, 3, "US")


def test_migration_0011_is_the_weather_and_calendar_migration():
    m = next(m for m in discover() if m.version == 11)
    assert m.name == "weather_calendar"


def test_reference_tables_replace_on_their_keys_and_dim_date_gains_the_calendar_columns(
        migrated):
    info = {name: (engine, key, full) for name, engine, key, full in migrated.query_rows(
        "SELECT name, engine, sorting_key, engine_full FROM system.tables "
        "WHERE database = currentDatabase()")}
    assert info["weather_daily"][:2] == ("ReplacingMergeTree", "region, date")
    assert info["store_events"][:2] == ("ReplacingMergeTree", "store_key, date")
    for name in REFERENCE:
        assert "non_replicated_deduplication_window" in info[name][2], name
        assert "TTL" not in info[name][2], name
    types = dict(((t, c), ty) for t, c, ty in migrated.query_rows(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"))
    assert types[("dim_date", "special_day")] == "LowCardinality(Nullable(String))"
    assert types[("dim_date", "days_to_next_holiday")] == "UInt16"
    assert types[("dim_date", "is_payday")] == "Bool"
    assert types[("weather_daily", "region")] == "LowCardinality(String)"
    assert types[("weather_daily", "condition")] == "LowCardinality(String)"
    assert types[("weather_daily", "temp_c")] == "Float64"
    assert types[("store_events", "kind")] == "LowCardinality(String)"


def test_the_loaded_calendar_weather_and_events_are_what_the_simulator_used(migrated, catalog):
    load_dimensions(migrated, catalog, START, DAYS)
    want = reference_tables(catalog, START, DAYS)

    cal = calendar_table(START, DAYS, "US").to_pylist()
    got = migrated.query_rows("""SELECT date, is_holiday, holiday_name, special_day,
        days_to_next_holiday, is_payday FROM dim_date FINAL ORDER BY date""")
    assert [tuple(r) for r in got] == [
        (r["date"], r["is_holiday"], r["holiday_name"], r["special_day"],
         r["days_to_next_holiday"], r["is_payday"]) for r in cal]
    assert ("Black Friday", 28) in [(r[3], r[4]) for r in got]

    w = want["weather_daily"]
    got = migrated.query_rows("""SELECT region, date, date_key, temp_c, temp_min_c, temp_max_c,
        temp_normal_c, precip_mm, condition FROM weather_daily FINAL ORDER BY region, date""")
    assert len(got) == w.num_rows == DAYS * len(set(catalog.stores["region"].to_pylist()))
    rows = sorted(w.to_pylist(), key=lambda r: (r["region"], r["date"]))
    assert [tuple(r) for r in got] == [
        (r["region"], r["date"], int(f"{r['date']:%Y%m%d}"), r["temp_c"], r["temp_min_c"],
         r["temp_max_c"], r["temp_normal_c"], r["precip_mm"], r["condition"]) for r in rows]

    e = want["store_events"]
    assert e.num_rows > 0
    got = migrated.query_rows("""SELECT store_id, store_key = retail_key(store_id), date, kind,
        lift, lift_day_before FROM store_events FINAL ORDER BY store_id, date""")
    assert [tuple(r) for r in got] == [
        (r["store_id"], True, r["date"], r["kind"], r["lift"], r["lift_day_before"])
        for r in e.to_pylist()]


def test_a_store_days_weather_joins_through_its_region(migrated, catalog):
    load_dimensions(migrated, catalog, START, DAYS)
    store = catalog.stores.to_pylist()[0]
    got = migrated.query_rows("""SELECT w.temp_c, w.precip_mm FROM dim_store AS s FINAL
        JOIN weather_daily AS w FINAL ON w.region = s.region
        WHERE s.store_id = {s:String} AND w.date_key = 20261127""",
                              parameters={"s": store["store_id"]})
    day = region_day(catalog.seed, int(catalog.store_region[0]), date(2026, 11, 27))
    assert got == [(day.temp_c, day.precip_mm)]


def test_loading_again_or_an_overlapping_range_keeps_one_row_per_key(migrated, catalog):
    first = load_reference(migrated, catalog, START, DAYS)
    assert load_reference(migrated, catalog, START, DAYS) == first
    later = date(2026, 12, 20)  # overlaps the last 15 days, adds 30
    load_dimensions(migrated, catalog, later, 45)
    n_regions = len(set(catalog.stores["region"].to_pylist()))
    both = reference_tables(catalog, START, 75)
    for name, key in (("weather_daily", "region, date"), ("store_events", "store_key, date")):
        plain = migrated.query_rows(f"SELECT count(), uniqExact({key}) FROM {name}")[0]
        assert tuple(plain) == (both[name].num_rows,) * 2, name
    assert both["weather_daily"].num_rows == 75 * n_regions
