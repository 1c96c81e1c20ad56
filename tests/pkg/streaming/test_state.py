"""The stream's per-key state in the warehouse: a replayed batch starts from the state
before it, a later batch from the state after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from retail.streaming.state import STATE_SCHEMA, KeyCache, StreamState, watermark_from

pytestmark = [pytest.mark.integration, pytest.mark.clickhouse_server]

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _state(qty: int, alert: str = "", at: datetime = T0) -> pa.Table:
    return pa.Table.from_pylist([{
        "store_id": "S00001", "product_id": "P000001", "quantity_on_hand": qty,
        "last_event_time": at, "velocity_per_day": 2.5, "velocity_at": at,
        "restock_alert_id": alert}], STATE_SCHEMA)


def _level_rows(state: pa.Table) -> pa.Table:
    return state.append_column("reorder_point", pa.array([0], pa.int32())) \
        .append_column("stock_out_risk", pa.array([0.0], pa.float32()))


KEYS = pa.table({"store_id": ["S00001"], "product_id": ["P000001"]})


def test_a_new_key_has_no_state(migrated):
    assert StreamState(migrated, "s1").key_state(KEYS, 0).num_rows == 0


def test_a_replayed_batch_reads_the_state_before_it_and_the_next_batch_the_state_after(
        migrated):
    state = StreamState(migrated, "s1")
    first = _state(10)
    state.save_key_state(_level_rows(first), STATE_SCHEMA.empty_table(), batch_id=0)
    assert state.key_state(KEYS, 1).to_pylist() == first.to_pylist()

    second = _state(7, alert="a-1", at=T0 + timedelta(minutes=5))
    state.save_key_state(_level_rows(second), first, batch_id=1)
    # batch 1 again (a crash after the write): it must see the state before batch 1
    assert state.key_state(KEYS, 1).to_pylist() == first.to_pylist()
    assert state.key_state(KEYS, 2).to_pylist() == second.to_pylist()
    # another stream (a new checkpoint) just sees the latest state
    assert StreamState(migrated, "s2").key_state(KEYS, 1).to_pylist() == second.to_pylist()


def test_replaying_a_keys_first_batch_sees_no_state(migrated):
    state = StreamState(migrated, "s1")
    state.save_key_state(_level_rows(_state(10)), STATE_SCHEMA.empty_table(), batch_id=3)
    assert state.key_state(KEYS, 3).num_rows == 0


def test_the_high_mark_comes_from_the_batches_before(migrated):
    state = StreamState(migrated, "s1")
    assert state.high_mark_before(0) is None
    for batch, mark in ((0, T0), (1, T0 + timedelta(minutes=3))):
        state.record_batch(batch, {"max_event_time": mark, "watermark": None, "input_rows": 1,
                                   "good_rows": 1, "rejected_rows": 0, "late_rows": 0,
                                   "alerts": 0, "started_at": T0, "finished_at": T0,
                                   "lag_ms": 0})
    assert state.high_mark_before(1) == T0
    assert state.high_mark_before(2) == T0 + timedelta(minutes=3)
    assert StreamState(migrated, "other").high_mark_before(2) is None
    assert watermark_from(T0, 10) == T0 - timedelta(minutes=10)
    assert watermark_from(None, 10) is None


def test_a_replayed_batch_row_is_written_once(migrated):
    state = StreamState(migrated, "s1")
    for _ in range(2):
        state.save_key_state(_level_rows(_state(10)), STATE_SCHEMA.empty_table(), batch_id=0)
    (n,), = migrated.query_rows("SELECT count() FROM inventory_levels_current")
    assert n == 1


def test_a_replayed_batch_records_itself_once(migrated):
    """A batch killed after its last write and replayed records itself again with the same
    token: the second row is dropped (migration 0024), not left for a merge to collapse."""
    state = StreamState(migrated, "s-replayed")
    row = {"max_event_time": T0, "watermark": None, "input_rows": 7, "good_rows": 7,
           "rejected_rows": 0, "late_rows": 0, "alerts": 0, "started_at": T0,
           "finished_at": T0, "lag_ms": 0}
    state.record_batch(4, row)
    state.record_batch(4, {**row, "finished_at": T0 + timedelta(seconds=5)})
    (n, rows), = migrated.query_rows(
        "SELECT count(), sum(input_rows) FROM stream_batches WHERE stream_id = 's-replayed'")
    assert (n, rows) == (1, 7)


def test_a_key_never_streamed_starts_from_its_sales_history(migrated):
    today = datetime.now(UTC).date()
    days = [int((today - timedelta(days=d)).strftime("%Y%m%d")) for d in (1, 2, 40)]
    migrated.command(
        "INSERT INTO agg_sales_daily (date_key, store_key, product_key, units, return_units) "
        "SELECT arrayJoin({d:Array(UInt32)}) AS dk, retail_key('S00001'), retail_key('P000001'),"
        " if(dk = {d1:UInt32}, 50, 6), if(dk = {d1:UInt32}, 6, 0)",
        parameters={"d": days, "d1": days[0]})
    got = StreamState(migrated, "s1").key_state(KEYS, 0).to_pylist()
    # 56 + 6 units sold over the last 28 days (the 40-day-old row is out of the window)
    assert got == [{"store_id": "S00001", "product_id": "P000001", "quantity_on_hand": None,
                    "last_event_time": None, "velocity_per_day": 62 / 28, "velocity_at": None,
                    "restock_alert_id": ""}]


def test_only_the_keys_asked_for_are_read(migrated):
    """A batch's keys, not every pair of its stores and products (which grows with the
    chain: 1,000 stores x 500 SKUs made each batch read and rewrite its whole state)."""
    state = StreamState(migrated, "s1")
    rows = [{**_state(q).to_pylist()[0], "store_id": s, "product_id": p}
            for q, (s, p) in enumerate([("S1", "P1"), ("S1", "P2"), ("S2", "P1"), ("S2", "P2")])]
    table = pa.Table.from_pylist(rows, STATE_SCHEMA)
    state.save_key_state(table.append_column("reorder_point", pa.array([0] * 4, pa.int32()))
                         .append_column("stock_out_risk", pa.array([0.0] * 4, pa.float32())),
                         STATE_SCHEMA.empty_table(), batch_id=0)
    asked = pa.table({"store_id": ["S1", "S2", "S3"], "product_id": ["P1", "P2", "P1"]})
    got = state.key_state(asked, 1).sort_by([("store_id", "ascending")]).to_pylist()
    assert [(r["store_id"], r["product_id"], r["quantity_on_hand"]) for r in got] == [
        ("S1", "P1", 0), ("S2", "P2", 3)]


def test_the_next_batch_reads_cached_keys_and_the_warehouse_for_the_rest(migrated):
    cache = KeyCache()
    state = StreamState(migrated, "s1", cache)
    first = _state(10)
    state.save_key_state(_level_rows(first), STATE_SCHEMA.empty_table(), batch_id=0)
    other = {**first.to_pylist()[0], "product_id": "P000002", "quantity_on_hand": 4}
    migrated.insert_arrow("inventory_levels_current", _level_rows(
        pa.Table.from_pylist([other], STATE_SCHEMA)))
    migrated.command("ALTER TABLE inventory_levels_current DELETE WHERE product_id = "
                     "'P000001' SETTINGS mutations_sync = 1")
    both = pa.table({"store_id": ["S00001", "S00001"], "product_id": ["P000001", "P000002"]})
    got = state.key_state(both, 1).sort_by([("product_id", "ascending")]).to_pylist()
    # P000001 from the cache (its warehouse row is gone), P000002 from the warehouse
    assert [(r["product_id"], r["quantity_on_hand"]) for r in got] == [
        ("P000001", 10), ("P000002", 4)]


def test_a_replay_or_another_stream_does_not_use_the_cache(migrated):
    cache = KeyCache()
    state = StreamState(migrated, "s1", cache)
    state.save_key_state(_level_rows(_state(10)), STATE_SCHEMA.empty_table(), batch_id=0)
    second = _state(7, at=T0 + timedelta(minutes=5))
    state.save_key_state(_level_rows(second), _state(10), batch_id=1)
    assert cache.usable("s1", 2) and not cache.usable("s1", 1) and not cache.usable("s2", 2)
    # batch 1 replayed: the state before it comes from the warehouse's prior, not the cache
    assert state.key_state(KEYS, 1).to_pylist() == _state(10).to_pylist()
    assert cache.rows == {} and not cache.usable("s1", 2)


def test_a_batch_without_key_changes_keeps_the_cache_in_step(migrated):
    cache = KeyCache()
    state = StreamState(migrated, "s1", cache)
    state.save_key_state(_level_rows(_state(10)), STATE_SCHEMA.empty_table(), batch_id=0)
    state.save_key_state(STATE_SCHEMA.empty_table(), STATE_SCHEMA.empty_table(), batch_id=1)
    assert cache.usable("s1", 2) and len(cache.rows) == 1


def test_a_full_cache_starts_over_and_stays_in_step():
    cache = KeyCache(max_keys=1)
    two = pa.concat_tables([_state(1), pa.Table.from_pylist(
        [{**_state(2).to_pylist()[0], "product_id": "P000002"}], STATE_SCHEMA)])
    cache.remember("s1", 0, two)
    assert cache.rows == {} and cache.usable("s1", 1)  # misses then read the warehouse
    cache.remember("s1", 1, _state(3))
    assert list(cache.rows) == [("S00001", "P000001")]
