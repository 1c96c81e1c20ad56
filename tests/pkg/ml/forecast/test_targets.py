"""``target_rows``: what a forecast made at the end of D knows of D + 1 .. D + 7, built from
what is published ahead (dim_date, store_events, promotion_calendar), equals what training
reads for the same days from the feature store's own rows of them (no train/serve skew);
the planned prices by hand; and the errors when something is not published."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from retail.batch.snapshot import snapshot_day
from retail.features.definitions import KNOWN_AHEAD
from retail.features.training import read_store
from retail.ml.forecast.targets import TargetsNotReady, planned_prices, target_rows
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.pricing import discounted
from retail.simulate import WarehouseSink, backfill
from retail.streaming.reference import Reference
from retail.transforms.features import KEY
from retail.transforms.forecast import PLANNED, scoring_rows, stack_horizons
from retail.warehouse.load import load_dimensions
from tests.conftest import retail_cli as retail

pytestmark = pytest.mark.clickhouse_server

START = date(2026, 6, 3)  # a Wednesday
DAY = date(2026, 6, 6)  # D: a Saturday in a promotion week; its next week starts Monday 8th
TARGETS = [DAY + timedelta(days=h) for h in range(1, 8)]
AHEAD = [*KNOWN_AHEAD, *PLANNED]


@pytest.fixture()
def featured(cli_env, migrated):
    """A small chain simulated into the warehouse to D + 7, D .. D + 7 closed and featurized
    (so the feature store holds the rows of every target day). The events go straight into
    the facts, so closing a day is the daily ETL's last step alone, its end-of-day snapshot
    (the whole ETL would reconcile the lake with the facts first: 90 s more here)."""
    catalog = generate_catalog(2, 20, 42)
    config = SimConfig(seed=42, rate=4.0, start=START, days=(TARGETS[-1] - START).days + 1,
                       promo_share=0.2)
    load_dimensions(migrated, catalog, START, config.days, seed=config.seed,
                    promo_share=config.promo_share)
    sink = WarehouseSink(migrated, catalog, run_id="targets-test")
    backfill(Simulator(catalog, config), sink)
    ref = Reference.load(migrated)
    for day in [DAY, *TARGETS]:
        assert snapshot_day(migrated, ref, day) > 0
    retail("features", "build", "--from", str(DAY), "--to", str(TARGETS[-1]))
    return migrated


def keyed(table: pa.Table) -> dict[tuple, dict]:
    return {(r["store_key"], r["product_key"], r["date"]): r for r in table.to_pylist()}


def test_the_target_days_known_ahead_equal_the_feature_stores_own_rows(featured, spark):
    targets = target_rows(spark, featured, DAY)
    store = read_store(spark, featured, DAY, TARGETS[-1])
    types = dict(store.dtypes)
    assert targets.dtypes == [(c, types[c]) for c in
                              ("store_key", "product_key", "date", *AHEAD)]
    got, want = keyed(targets.toArrow()), keyed(store.toArrow())
    today = {k[:2]: r for k, r in want.items() if k[2] == DAY}
    assert set(got) == {(*pair, t) for pair in today for t in TARGETS}
    assert set(got) == {k for k in want if k[2] != DAY}  # every pair stocked all week

    moved = 0
    for key, row in got.items():
        truth = want[key]
        assert {c: row[c] for c in KNOWN_AHEAD} == {c: truth[c] for c in KNOWN_AHEAD}, key
        planned = ("on_promotion", "discount_depth")
        assert {c: row[c] for c in planned} == {c: truth[c] for c in planned}, key
        if truth["regular_price"] == today[key[:2]]["regular_price"]:
            assert row["shelf_price"] == truth["shelf_price"], key
        else:  # a list price moved on the Monday: not published ahead (docs/models.md)
            moved += 1
    assert moved <= len(got) // 20
    promoted = {k[2] for k, r in got.items() if r["on_promotion"]}
    assert promoted & {TARGETS[0]} and promoted & set(TARGETS[1:])  # both weeks' plans
    ended = [k for k, r in got.items()
             if today[k[:2]]["on_promotion"] and not r["on_promotion"]]
    assert ended  # a promotion of D that the next week's plan ends
    # the calendar moves with the day, as the feature store's does
    assert {r["day_of_week"] for r in got.values()} == set(range(1, 8))

    # and through the forecast's own transforms: D's scoring rows carry what its training
    # rows carry of each target day, but the shelf prices a list-price change moved
    columns = [*KEY, "target_date", "horizon", *(f"target_{c}" for c in AHEAD)]
    scored = scoring_rows(store, targets, day=DAY, horizons=range(1, 8)).select(*columns)
    trained = (stack_horizons(store, horizons=range(1, 8), known_ahead=KNOWN_AHEAD)
               .filter(F.col("date") == F.lit(DAY)).select(*columns))
    differ = scored.exceptAll(trained).select(*KEY, "target_date").collect()
    assert scored.count() == trained.count() == len(got) and len(differ) == moved


def test_a_forecast_of_a_day_without_feature_rows_says_to_build_them(migrated):
    with pytest.raises(TargetsNotReady, match=r"feature_store_daily in \w+ has no rows of "
                       r"2026-06-06: build them first \(`retail features build --date "
                       r"2026-06-06`\)"):
        target_rows(None, migrated, DAY)


def a_feature_row(wh) -> None:
    wh.command("INSERT INTO feature_store_daily (date, date_key, store_key, product_key, "
               "store_id, product_id, regular_price) VALUES "
               "('2026-06-06', 20260606, 1, 2, 'S1', 'P1', 3.99)")


def test_a_calendar_that_ends_before_the_horizon_names_the_days_and_the_load(migrated):
    a_feature_row(migrated)
    load_dimensions(migrated, generate_catalog(2, 20, 42), START, 8)  # to 10 June
    with pytest.raises(TargetsNotReady, match=(
            r"dim_date in \w+ has no row for 2026-06-11, 2026-06-12, 2026-06-13: load the "
            r"calendar of the days forecast \(`retail warehouse load-dims --start "
            r"2026-06-07 --days 7`")):
        target_rows(None, migrated, DAY)


def test_unpublished_promotions_name_the_table_and_the_load(migrated):
    a_feature_row(migrated)
    load_dimensions(migrated, generate_catalog(2, 20, 42), START, 30)
    migrated.command("ALTER TABLE promotion_calendar DELETE WHERE start_date >= '2026-06-08' "
                     "SETTINGS mutations_sync = 1")
    with pytest.raises(TargetsNotReady, match=(
            r"promotion_calendar in \w+ has no plan for 2026-06-08, .*, 2026-06-13: publish "
            r"it \(`retail warehouse load-dims --start 2026-06-07 --days 7`")):
        target_rows(None, migrated, DAY)


def test_a_warehouse_before_migration_0016_says_to_migrate(migrated):
    a_feature_row(migrated)
    load_dimensions(migrated, generate_catalog(2, 20, 42), START, 30)
    migrated.command("DROP TABLE promotion_calendar SYNC")
    with pytest.raises(TargetsNotReady, match=(
            r"\w+ has no promotion_calendar table \(migration 0016\): apply the migrations "
            r"\(`retail warehouse migrate`\), then publish it \(`retail warehouse load-dims")):
        target_rows(None, migrated, DAY)


def test_not_ready_is_the_feature_stores_not_ready_and_a_value_error():
    from retail.features.sources import DayNotReady

    assert issubclass(TargetsNotReady, DayNotReady) and issubclass(TargetsNotReady, ValueError)


def test_the_horizon_is_at_least_a_day(migrated):
    with pytest.raises(ValueError, match="horizon must be at least 1 day, got 0"):
        target_rows(None, migrated, DAY, horizon=0)


def test_planned_prices_by_hand():
    pairs = pa.table({"store_key": [1, 1, 2], "product_key": [10, 20, 10],
                      "regular_price": pa.array([3.99, 2.0, None], pa.float64())})
    promos = pa.table({"product_key": [10, 20], "start_date": [date(2026, 6, 1),
                                                                date(2026, 6, 8)],
                       "end_date": [date(2026, 6, 7), date(2026, 6, 14)],
                       "discount": [0.25, 0.1]})
    rows = planned_prices(pairs, promos, [date(2026, 6, 7), date(2026, 6, 8)]).to_pylist()
    shelf = float(discounted(3.99, 0.25))  # 2.9925 to the cent, as the events carry it
    assert shelf == 2.99
    assert [(r["store_key"], r["product_key"], r["date"], r["on_promotion"],
             r["shelf_price"], r["discount_depth"]) for r in rows] == [
        (1, 10, date(2026, 6, 7), True, 2.99, 1.0 - 2.99 / 3.99),
        (1, 20, date(2026, 6, 7), False, 2.0, 0.0),
        (2, 10, date(2026, 6, 7), True, None, 0.0),  # no regular price: none planned
        (1, 10, date(2026, 6, 8), False, 3.99, 0.0),  # the promotion ended on Sunday
        (1, 20, date(2026, 6, 8), True, 1.8, 1.0 - 1.8 / 2.0),
        (2, 10, date(2026, 6, 8), False, None, 0.0),
    ]
