"""The stream's durable event memory: an event sent again at any later time counts once.

Spark's deduplication remembers ids for minutes. Behind it, every micro-batch registers
the ids of its good events in the warehouse's ``stream_event_ids`` (kept for Kafka's
retention plus a day) and drops the events an *earlier* batch registered. A batch replayed
after a crash registers nothing new (the insert carries the batch's token) and finds the
same earlier registrations, so it drops exactly what its first attempt dropped.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.warehouse import Warehouse

# Ids of this batch's events that another batch registered first: within this stream, a
# lower batch id; from another stream (a new checkpoint), an earlier registration. The
# event_hour range lets the primary key skip every hour the batch has no event in, and the
# test sits in HAVING so it cannot be pushed into the scan and spoil the key's use.
_EARLIER = """
SELECT toString(event_id) AS event_id
FROM stream_event_ids
WHERE event_hour BETWEEN {lo:DateTime64(3)} AND {hi:DateTime64(3)}
  AND (event_hour, event_id) IN (
      SELECT event_hour, event_id FROM stream_event_ids
      WHERE event_hour BETWEEN {lo:DateTime64(3)} AND {hi:DateTime64(3)}
        AND stream_id = {s:String} AND batch_id = {b:Int64})
GROUP BY event_id
HAVING max((stream_id = {s:String} AND batch_id < {b:Int64})
           OR (stream_id != {s:String} AND seen_at < (
               SELECT min(seen_at) FROM stream_event_ids
               WHERE event_hour BETWEEN {lo:DateTime64(3)} AND {hi:DateTime64(3)}
                 AND stream_id = {s:String} AND batch_id = {b:Int64})))
"""


def event_hours(event_time: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Each event time truncated to its hour (UTC milliseconds)."""
    return pc.floor_temporal(pc.cast(event_time, pa.timestamp("ms", "UTC")), unit="hour")


def drop_seen(wh: Warehouse, good: pa.Table, *, stream_id: str, batch_id: int,
              token: str) -> tuple[pa.Table, int]:
    """Register ``good``'s event ids as seen by this batch; return the events no earlier
    batch registered, and how many were dropped.

    Args:
        wh: the warehouse holding ``stream_event_ids``.
        good: the batch's accepted events (``event_id``, ``event_time`` columns).
        stream_id: the streaming query's id (stable across restarts of one checkpoint).
        batch_id: the micro-batch id.
        token: the insert's deduplication token (the same on a replay of the batch).
    """
    if good.num_rows == 0:
        return good, 0
    hours = event_hours(good["event_time"])
    wh.insert_arrow("stream_event_ids", pa.table({
        "event_id": good["event_id"], "event_hour": hours,
        "stream_id": pa.array([stream_id] * good.num_rows, pa.string()),
        "batch_id": pa.array([batch_id] * good.num_rows, pa.int64()),
    }), dedup_token=token)
    lo, hi = pc.min(hours).as_py(), pc.max(hours).as_py()
    earlier = wh.query_arrow(_EARLIER, {"lo": lo.replace(tzinfo=None),
                                        "hi": hi.replace(tzinfo=None),
                                        "s": stream_id, "b": batch_id})
    if earlier.num_rows == 0:
        return good, 0
    # ClickHouse prints UUIDs in lower case; a producer may have sent upper case.
    known = pc.is_in(pc.utf8_lower(good["event_id"]), value_set=earlier["event_id"])
    fresh = good.filter(pc.invert(known))
    return fresh, good.num_rows - fresh.num_rows
