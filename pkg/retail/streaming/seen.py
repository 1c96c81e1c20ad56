"""The stream's durable event memory: an event sent again at any later time counts once, and
another version of an event id is caught instead of counted or lost.

Spark's deduplication remembers (id, content) pairs for minutes. Behind it, every
micro-batch registers the ids of its good events, with a hash of their content, in the
warehouse's ``stream_event_ids`` (kept for Kafka's retention plus a day) and looks up which
an *earlier* batch registered:

- same id, same content: a copy; dropped silently;
- same id, other content: another version (a producer bug, an edited replay); quarantined
  as ``conflicting_duplicate``, the version counted first stays. Two versions within one
  batch: the first in Kafka order stays.

A batch replayed after a crash registers nothing new (the insert carries the batch's
token) and finds the same earlier registrations, so it drops exactly what its first
attempt dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.warehouse import Warehouse

CONFLICT = "conflicting_duplicate"
HASH_SCHEME = 1  # content_hash as retail.transforms.parsed computes it (migration 0023)

# The ids of this batch's events that another batch registered first (within this stream,
# a lower batch id; from another stream, i.e. a new checkpoint, an earlier registration),
# each with the content hashes registered for it then. The event_hour range lets the
# primary key skip every hour the batch has no event in, and the test sits in HAVING so it
# cannot be pushed into the scan and spoil the key's use. A hash of another scheme (an
# older version's, migration 0023) reads as 0: content unknown.
_EARLIER = """
SELECT toString(event_id) AS event_id, groupUniqArrayIf(hash, earlier) AS hashes
FROM (
    SELECT event_id, if(hash_scheme = {scheme:UInt8}, content_hash, 0) AS hash,
           (stream_id = {s:String} AND batch_id < {b:Int64})
           OR (stream_id != {s:String} AND seen_at < (
               SELECT min(seen_at) FROM stream_event_ids
               WHERE event_hour BETWEEN {lo:DateTime64(3)} AND {hi:DateTime64(3)}
                 AND stream_id = {s:String} AND batch_id = {b:Int64})) AS earlier
    FROM stream_event_ids
    WHERE event_hour BETWEEN {lo:DateTime64(3)} AND {hi:DateTime64(3)}
      AND (event_hour, event_id) IN (
          SELECT event_hour, event_id FROM stream_event_ids
          WHERE event_hour BETWEEN {lo:DateTime64(3)} AND {hi:DateTime64(3)}
            AND stream_id = {s:String} AND batch_id = {b:Int64})
)
GROUP BY event_id
HAVING max(earlier)
"""


@dataclass
class Seen:
    """What the memory made of a batch's good events."""

    fresh: pa.Table  # counted now
    copies: int  # dropped: counted before with the same content
    conflicts: pa.Table  # other versions of counted ids, reject columns filled in


def event_hours(event_time: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Each event time truncated to its hour (UTC milliseconds)."""
    return pc.floor_temporal(pc.cast(event_time, pa.timestamp("ms", "UTC")), unit="hour")


def drop_seen(wh: Warehouse, good: pa.Table, *, stream_id: str, batch_id: int,
              token: str) -> Seen:
    """Register ``good``'s events as seen by this batch and sort them into fresh events,
    copies and conflicting versions.

    Args:
        wh: the warehouse holding ``stream_event_ids``.
        good: the batch's accepted events (``event_id``, ``event_time``, ``content_hash``
            and the reject columns).
        stream_id: the streaming query's id (stable across restarts of one checkpoint).
        batch_id: the micro-batch id.
        token: the insert's deduplication token (the same on a replay of the batch).
    """
    if good.num_rows == 0:
        return Seen(good, 0, good)  # (no conflicts: the empty table)
    # ClickHouse prints UUIDs in lower case; a producer may have sent upper case.
    ids = pc.utf8_lower(good["event_id"])
    hours = event_hours(good["event_time"])
    wh.insert_arrow("stream_event_ids", pa.table({
        "event_id": good["event_id"], "event_hour": hours, "content_hash": good["content_hash"],
        "hash_scheme": pa.array([HASH_SCHEME] * good.num_rows, pa.uint8()),
        "stream_id": pa.array([stream_id] * good.num_rows, pa.string()),
        "batch_id": pa.array([batch_id] * good.num_rows, pa.int64()),
    }), dedup_token=token)
    lo, hi = pc.min(hours).as_py(), pc.max(hours).as_py()
    earlier = wh.query_arrow(_EARLIER, {"lo": lo.replace(tzinfo=None),
                                        "hi": hi.replace(tzinfo=None),
                                        "s": stream_id, "b": batch_id,
                                        "scheme": HASH_SCHEME})
    known = dict(zip(earlier["event_id"].to_pylist(), earlier["hashes"].to_pylist(),
                     strict=True))
    repeated = _repeated_rows(ids, known)
    if not repeated:  # the usual batch: nothing seen before, no id twice
        return Seen(good, 0, good.slice(0, 0))
    verdict = [None] * good.num_rows  # None: fresh; "copy"; or the conflict's message
    first: dict[str, int] = {}  # id -> content of its first row in this batch
    for i in _in_kafka_order(good, repeated):
        event_id, content = ids[i].as_py(), good["content_hash"][i].as_py()
        hashes = known.get(event_id)
        if hashes is not None:  # counted by an earlier batch (hash 0: registered unhashed)
            verdict[i] = "copy" if content in hashes or 0 in hashes else (
                f"event_id {event_id} was counted before with other content: that version "
                "is kept")
        elif event_id in first:
            verdict[i] = "copy" if first[event_id] == content else (
                f"event_id {event_id} is in this batch twice with other content: the first "
                "in Kafka order is kept")
        else:
            first[event_id] = content
    return _sorted(good, verdict)


def _repeated_rows(ids: pa.ChunkedArray, known: dict[str, list[int]]) -> list[int]:
    """Rows whose id an earlier batch registered, and the rows of an id the batch holds more
    than once (put in Kafka order by :func:`_in_kafka_order`)."""
    rows = pc.indices_nonzero(pc.is_in(ids, value_set=pa.array(list(known), pa.string())))
    out = set(rows.to_pylist())
    counts = pc.value_counts(ids)
    twice = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(twice):  # every row of such an id, the first one included (it sets the content)
        out.update(pc.indices_nonzero(pc.is_in(ids, value_set=twice)).to_pylist())
    return sorted(out)


def _in_kafka_order(good: pa.Table, rows: list[int]) -> list[int]:
    """``rows`` by Kafka position: the batch arrives shuffled (Spark's deduplication
    repartitions it by key), so row order is not the order the versions were sent in."""
    if not {"partition", "offset"} <= set(good.column_names):
        return rows
    taken = good.select(["partition", "offset"]).take(pa.array(rows, pa.int64())).to_pylist()
    return [i for _, i in sorted(zip([(r["partition"], r["offset"]) for r in taken], rows,
                                     strict=True))]


def _sorted(good: pa.Table, verdict: list[str | None]) -> Seen:
    is_fresh = pa.array([v is None for v in verdict])
    is_conflict = pa.array([v not in (None, "copy") for v in verdict])
    conflicts = good.filter(is_conflict)
    messages = pa.array([v for v in verdict if v not in (None, "copy")], pa.string())
    n = conflicts.num_rows
    for name, values in (("reject_reason", pa.array([CONFLICT] * n, pa.string())),
                         ("reject_error", messages),
                         ("reject_field", pa.array(["event_id"] * n, pa.string()))):
        conflicts = conflicts.set_column(conflicts.schema.get_field_index(name), name,
                                         values.cast(conflicts.schema.field(name).type))
    copies = sum(v == "copy" for v in verdict)
    return Seen(good.filter(is_fresh), copies, conflicts)
