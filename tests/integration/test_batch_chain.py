"""The batch layer end to end on a small chain, on the real local broker, Spark and local
warehouse server: 35 simulated days with weather and local events, the last one streamed
through Kafka (a few of its sales sent after the watermark passed them) and the 34 before
it backfilled into the warehouse and the lake; then ``daily_etl`` over the last two days
(the streamed day and a backfilled one: the features need only the days they are built for
closed, and each more day cost the test 3-4 s, twice) and ``build_features`` for them.

The chain is built once for the module, a step per fixture, each step checked by the test
that first needs it (so no single test carries the whole build):

* the stream quarantines the late sales as ``late`` and keeps them out of the facts;
* after the daily ETL every event the simulator made is in the facts exactly once, the late
  ones included, and every day it closed balances;
* every feature of every store x product of the last two days equals the hand computation
  from the simulator's own events (``features_by_hand``), lost sales, promotions and a
  local event among them;
* a second run of each job changes no row of any table;
* then (the one test that changes the chain, so the last) facts dated after a day change
  none of its features, and facts of its past change exactly the rows they touch.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from retail.features.definitions import COLUMNS, FEATURE_NAMES
from retail.io.lake import LakeWriter
from retail.io.producer import EventProducer
from retail.io.warehouse import connect
from retail.settings import LakeSettings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink
from retail.warehouse.load import load_dimensions
from retail.warehouse.migrate import Migrator
from tests.conftest import Broker
from tests.conftest import retail_cli as retail
from tests.conftest import stop_merges
from tests.integration.feature_changes import (change_everything_after, lose_a_sale,
                                               reprice_before_the_window, stored,
                                               written_rows)
from tests.integration.features_by_hand import Chain, by_hand
from tests.integration.stream_harness import REPLAY_LATE_AFTER_MINUTES, StreamEnv

pytestmark = pytest.mark.integration

CHAIN = Chain(stores=2, products=20, rate=5.0, seed=42, days=35)
# Fixed days, so what they show is fixed: a sale lost, a product on promotion and a store's
# local event on the last day.
LAST = date(2026, 8, 4)
START = LAST - timedelta(days=CHAIN.days - 1)
BUILT = [LAST - timedelta(days=1), LAST]  # the days whose features are built
CLOSED = 2  # the last days closed by the daily ETL: the days whose features are built
LATE = 6  # sales of the last day sent after the stream's watermark passed them
LATE_AFTER_MINUTES = 60  # the watermark delay once the day has been streamed
FACTS = {"sales_transaction": "fact_sales", "inventory_update": "fact_inventory",
         "price_change": "fact_price_changes", "lost_sale": "fact_lost_sales",
         "supplier_shipment": "fact_supplier_shipments"}


@pytest.fixture(scope="module")
def chain(warehouse_settings, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The chain simulated and its last day streamed (twice: the late sales come after)."""
    root = tmp_path_factory.mktemp("chain")
    broker = Broker(root)
    broker.start()
    ws = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    Migrator(connect(ws, database=""), ws.database, lambda db: connect(ws, db)).migrate()
    env = {"RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE": ws.database,
           "RETAIL_LAKE__ROOT": str(root / "lake"), "RETAIL_LOCAL__HOME": str(root / "home"),
           "PYSPARK_PYTHON": sys.executable}
    try:
        with pytest.MonkeyPatch.context() as mp, connect(ws) as wh:
            for key, value in env.items():  # the retail CLI's settings: this chain's
                mp.setenv(key, value)
            stream = StreamEnv(kafka=broker.settings, warehouse=ws, wh=wh, root=root,
                               stream={"late_after_minutes": REPLAY_LATE_AFTER_MINUTES})
            assert str(stream.lake_root) == os.environ["RETAIL_LAKE__ROOT"]
            made, late, sent = simulate(wh, broker, stream.lake_root)
            first = stream.run()
            producer = EventProducer(broker.settings, name="chain-test-late")
            producer.send_table("sales_transaction", late)  # after the watermark passed
            producer.close()
            second = stream.run(late_after_minutes=LATE_AFTER_MINUTES)
            yield SimpleNamespace(wh=wh, lake=stream.lake_root, made=made, late=late,
                                  sent=sent, runs=(first, second))
    finally:
        broker.stop()
        with connect(ws, database="") as admin:
            admin.command(f"DROP DATABASE IF EXISTS `{ws.database}` SYNC")


@pytest.fixture(scope="module")
def closed(chain) -> SimpleNamespace:
    """The last two days closed by the daily ETL, oldest first."""
    first = LAST - timedelta(days=CLOSED - 1)
    chain.etl = retail("batch", "daily-etl", "--from", str(first), "--to", str(LAST))
    return chain


@pytest.fixture(scope="module")
def featured(closed) -> SimpleNamespace:
    """The features of the last two days built."""
    closed.built = retail("features", "build", "--from", str(BUILT[0]), "--to", str(LAST))
    closed.features = {day: stored(closed.wh, day) for day in BUILT}
    return closed


def simulate(wh, broker, lake) -> tuple[dict[str, pa.Table], pa.Table, int]:
    """Backfill the days before the last into the warehouse and the lake, send the last into
    Kafka less ``LATE`` of its sales; return every event the simulator made, the late
    sales (not sent yet) and how many events went to Kafka."""
    catalog = generate_catalog(CHAIN.stores, CHAIN.products, CHAIN.seed)
    sim = Simulator(catalog, SimConfig(seed=CHAIN.seed, rate=CHAIN.rate, start=START,
                                       days=CHAIN.days))
    load_dimensions(wh, catalog, START, CHAIN.days)
    backfill = WarehouseSink(wh, catalog, run_id="chain-test",
                             lake=LakeWriter(LakeSettings(root=str(lake))))
    producer = EventProducer(broker.settings, name="chain-test")
    made: dict[str, list[pa.Table]] = {}
    late, sent = None, 0
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            made.setdefault(event_type, []).append(table)
            if batch.day < LAST:
                backfill.write(event_type, table, f"{batch.day:%Y%m%d}-{batch.stores[0]:05d}")
                continue
            if event_type == "sales_transaction" and late is None:
                table, late = hold_back(table)
            producer.send_table(event_type, table)
            sent += table.num_rows
    producer.close()
    assert producer.stats.failed == 0 and producer.stats.invalid == 0, producer.stats
    assert late is not None and late.num_rows == LATE
    return {k: pa.concat_tables(v) for k, v in made.items()}, late, sent


def hold_back(sales: pa.Table) -> tuple[pa.Table, pa.Table]:
    """``LATE`` sale lines from the middle of the day (14:00-18:00 UTC: inside the local
    day in every zone of the chain), and the rest."""
    hour = pc.hour(sales["event_time"])
    middle = pc.and_(pc.and_(pc.greater_equal(hour, 14), pc.less(hour, 18)),
                     pc.equal(sales["transaction_type"], "sale"))
    late = sales.filter(middle).slice(0, LATE)
    keep = pc.invert(pc.is_in(sales["event_id"], value_set=late["event_id"]))
    return sales.filter(keep), late


def ids_of(table: pa.Table) -> list[str]:
    return sorted(str(i) for i in table["event_id"].to_pylist())


def stored_ids(wh, table: str) -> list[str]:
    """Every event id in a fact table, once per row (``record_type`` keeps the inventory
    table's end-of-day snapshots out)."""
    where = " WHERE record_type = 'movement'" if table == "fact_inventory" else ""
    # the table names are ours (FACTS), never data
    return sorted(r[0] for r in wh.query_rows(
        f"SELECT toString(event_id) FROM {table}{where}"))


def row_counts(wh) -> dict[str, int]:
    """Rows stored in every table of the database but the run log, merges stopped so a
    count moves only when something is written."""
    return {name: wh.query_rows(f"SELECT count() FROM `{name}`")[0][0]
            for name in stop_merges(wh) if name != "job_runs"}  # names from system.tables


def test_the_stream_keeps_the_sales_sent_after_the_watermark_out_as_late(chain):
    first, second = chain.runs
    assert (first.input_rows, first.rejected_rows) == (chain.sent, 0)
    assert (second.input_rows, second.rejected_rows) == (LATE, LATE)
    quarantined = chain.wh.query_rows(
        "SELECT JSONExtractString(payload, 'event_id') FROM quarantine_events "
        "WHERE reason = 'late' ORDER BY 1")
    assert [r[0] for r in quarantined] == ids_of(chain.late)
    assert not set(ids_of(chain.late)) & set(stored_ids(chain.wh, "fact_sales"))
    retail("features", "build", "--date", str(LAST), code=1)  # the day is not closed yet


def test_after_the_daily_etl_every_event_is_in_the_facts_once(closed):
    assert f"closed {CLOSED} day(s)" in closed.etl and "NOT balanced" not in closed.etl
    for event_type, fact in FACTS.items():  # every event the simulator made, once
        assert stored_ids(closed.wh, fact) == ids_of(closed.made[event_type]), fact
    runs = closed.wh.query_rows(
        "SELECT count(), countIf(JSONExtractBool(details, 'balanced')) FROM job_runs FINAL "
        "WHERE job = 'daily_etl' AND status = 'succeeded'")
    assert runs == [(CLOSED, CLOSED)]
    late = closed.wh.query_rows(
        "SELECT JSONExtractInt(arrayJoin(JSONExtractArrayRaw(details, 'topics')), 'late') AS n "
        "FROM job_runs FINAL WHERE job = 'daily_etl' AND JSONExtractString(details, 'day') "
        "= {day:String} ORDER BY n DESC LIMIT 1", {"day": str(LAST)})
    assert late == [(LATE,)]  # folded in from the quarantine on their own day


@pytest.mark.parametrize("day", BUILT, ids=str)
def test_every_feature_equals_the_hand_computation(featured, day):
    assert "built 2 day(s)" in featured.built
    features, expected = featured.features[day], by_hand(CHAIN, START, day)
    assert set(features) == set(expected) and expected
    for pair, want in expected.items():
        for name in FEATURE_NAMES:
            assert features[pair][name] == (
                pytest.approx(want[name], rel=1e-9, abs=1e-12)
                if isinstance(want[name], float) else want[name]), (pair, name)
    lake = pq.read_table(featured.lake / "retail-features" / "features" / f"date={day}"
                         / "part-0.parquet")
    assert lake.num_rows == len(features) and lake.column_names == [c.name for c in COLUMNS]
    if day == LAST:  # the hand computation covers lost sales, promotions and local events
        assert any(f["lost_units"] for f in features.values())
        assert any(f["on_promotion"] for f in features.values())
        assert any(f["has_local_event"] for f in features.values())


def test_a_second_run_of_each_job_changes_no_row(featured):
    before = row_counts(featured.wh)
    first = LAST - timedelta(days=CLOSED - 1)
    again = retail("batch", "daily-etl", "--from", str(first), "--to", str(LAST))
    assert f"closed {CLOSED} day(s)" in again and "NOT balanced" not in again
    retail("features", "build", "--from", str(BUILT[0]), "--to", str(LAST))
    assert row_counts(featured.wh) == before
    assert {day: stored(featured.wh, day) for day in BUILT} == featured.features


def test_facts_after_a_day_change_none_of_its_features_its_past_only_what_it_touches(
        featured):
    day, wh = BUILT[0], featured.wh
    features, rows = featured.features[day], written_rows(wh)
    change_everything_after(wh, day)  # the last day's facts are after it as well
    retail("features", "build", "--date", str(day))
    assert written_rows(wh) == rows and stored(wh, day) == features

    pair = lose_a_sale(wh, day - timedelta(days=1))
    repriced = reprice_before_the_window(wh, day)
    retail("features", "build", "--date", str(day))
    after = stored(wh, day)
    changed = {p for p in after if after[p] != features[p]}
    assert pair in changed and after[pair]["demand_lag_1"] == features[pair]["demand_lag_1"] + 7
    assert repriced in changed and (after[repriced]["shelf_price"],
                                    after[repriced]["price_ratio_28"]) == (4.56, 1.0)
    assert written_rows(wh) == rows + len(changed) and len(after) == len(features)
