"""The stream's durable event memory, against the real local warehouse server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from retail.streaming.seen import drop_seen, event_hours

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 9, 59, 58, tzinfo=UTC)


def _events(ids: list[str], times: list[datetime] | None = None,
            contents: list[int] | None = None) -> pa.Table:
    times = times or [T0 + timedelta(seconds=i) for i in range(len(ids))]
    none = pa.nulls(len(ids), pa.string())
    return pa.table({"event_id": ids, "event_time": pa.array(times, pa.timestamp("ms", "UTC")),
                     "content_hash": pa.array(contents or [7] * len(ids), pa.int64()),
                     "n": list(range(len(ids))), "reject_reason": none,
                     "reject_error": none, "reject_field": none})


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _seen(wh, table, stream="s1", batch=0):
    return drop_seen(wh, table, stream_id=stream, batch_id=batch,
                     token=f"test:{stream}:{batch}:ids")


def _batch(wh, table, stream="s1", batch=0) -> tuple[pa.Table, int]:
    """(the events counted now, the copies dropped); no conflicts expected."""
    seen = _seen(wh, table, stream, batch)
    assert seen.conflicts.num_rows == 0
    return seen.fresh, seen.copies


def test_event_hours_truncate_to_the_hour():
    got = event_hours(_events(_ids(3))["event_time"]).to_pylist()
    assert got == [T0.replace(minute=0, second=0)] * 2 + [T0.replace(hour=10, minute=0, second=0)]


def test_a_first_batch_keeps_everything(migrated):
    table = _events(_ids(5))
    kept, dropped = _batch(migrated, table)
    assert (kept.num_rows, dropped) == (5, 0)
    assert kept.equals(table)


def test_events_an_earlier_batch_registered_are_dropped_and_only_those(migrated):
    first, new = _ids(4), _ids(3)
    _batch(migrated, _events(first), batch=0)
    # two old events again (a copy carries its original's event time) and three new ones
    again = _events(first[1:3] + new, [T0 + timedelta(seconds=s) for s in (1, 2, 7200, 1, 2)])
    kept, dropped = _batch(migrated, again, batch=1)
    assert dropped == 2
    assert kept["event_id"].to_pylist() == new


def test_a_replayed_batch_drops_exactly_what_its_first_attempt_dropped(migrated):
    first, new = _ids(3), _ids(2)
    _batch(migrated, _events(first), batch=0)
    mixed = _events(first + new)
    attempt1 = _batch(migrated, mixed, batch=1)
    attempt2 = _batch(migrated, mixed, batch=1)  # Spark replays batch 1 after a crash
    assert attempt1[1] == attempt2[1] == 3
    assert attempt1[0].equals(attempt2[0])
    assert attempt2[0]["event_id"].to_pylist() == new
    # ... and the batch after it still sees batch 1's new events as counted
    copies = mixed.slice(3)
    assert _batch(migrated, copies, batch=2)[1] == 2


def test_a_new_stream_remembers_what_an_old_checkpoint_counted(migrated):
    ids = _ids(4)
    _batch(migrated, _events(ids), stream="old", batch=7)
    kept, dropped = _batch(migrated, _events(ids), stream="new", batch=0)
    assert (kept.num_rows, dropped) == (0, 4)
    # the old stream, replaying its batch 7, still keeps them: it registered them first
    assert _batch(migrated, _events(ids), stream="old", batch=7)[1] == 0


def test_ids_match_whatever_their_letter_case(migrated):
    ids = _ids(2)
    _batch(migrated, _events(ids), batch=0)
    kept, dropped = _batch(migrated, _events([i.upper() for i in ids]), batch=1)
    assert (kept.num_rows, dropped) == (0, 2)


def test_an_empty_batch_registers_nothing(migrated):
    kept, dropped = _batch(migrated, _events([]))
    assert (kept.num_rows, dropped) == (0, 0)
    assert migrated.query_rows("SELECT count() FROM stream_event_ids") == [(0,)]


def test_another_version_of_a_counted_event_is_quarantined_and_a_copy_is_not(migrated):
    ids = _ids(3)
    _batch(migrated, _events(ids, contents=[1, 2, 3]), batch=0)
    times = _events(ids)["event_time"].to_pylist()
    seen = _seen(migrated, _events(ids, times, contents=[1, 99, 3]), batch=1)
    assert seen.fresh.num_rows == 0 and seen.copies == 2
    assert seen.conflicts["event_id"].to_pylist() == [ids[1]]
    assert seen.conflicts["reject_reason"].to_pylist() == ["conflicting_duplicate"]
    assert seen.conflicts["reject_field"].to_pylist() == ["event_id"]
    assert "counted before with other content" in seen.conflicts["reject_error"][0].as_py()
    # the quarantined version is remembered too: sent once more it is a copy, not news
    again = _seen(migrated, _events([ids[1]], times[1:2], contents=[99]), batch=2)
    assert (again.fresh.num_rows, again.copies, again.conflicts.num_rows) == (0, 1, 0)


def test_two_versions_in_one_batch_keep_the_first_and_quarantine_the_other(migrated):
    a, b = _ids(2)
    table = _events([a, b, a, a], [T0] * 4, contents=[1, 5, 2, 1])
    seen = _seen(migrated, table)
    assert seen.fresh["n"].to_pylist() == [0, 1]
    assert seen.copies == 1  # row 3: the same content as row 0
    assert seen.conflicts["n"].to_pylist() == [2]
    assert "in this batch twice" in seen.conflicts["reject_error"][0].as_py()


def test_in_one_batch_the_version_first_in_kafka_keeps_whatever_the_row_order(migrated):
    """Spark's deduplication reshuffles a batch: the rows arrive out of Kafka order."""
    a = _ids(1)[0]
    table = _events([a, a, a], [T0] * 3, contents=[2, 1, 2])
    table = table.append_column("partition", pa.array([0, 0, 0], pa.int32())) \
        .append_column("offset", pa.array([42, 17, 99], pa.int64()))  # row 1 was sent first
    seen = _seen(migrated, table)
    assert seen.fresh["n"].to_pylist() == [1]
    assert sorted(seen.conflicts["n"].to_pylist()) == [0, 2]


def test_an_id_registered_before_hashes_were_kept_counts_as_a_copy(migrated):
    ids = _ids(1)
    _batch(migrated, _events(ids, contents=[0]), batch=0)  # as rows from before migration 0009
    seen = _seen(migrated, _events(ids, contents=[42]), batch=1)
    assert (seen.fresh.num_rows, seen.copies, seen.conflicts.num_rows) == (0, 1, 0)
