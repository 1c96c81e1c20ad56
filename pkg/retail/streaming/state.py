"""The stream's own state between micro-batches, kept in the warehouse.

Spark's checkpoint holds the Kafka offsets and the event-id memory for duplicates. What
the stream computes on top lives in two tables, so any process (and a restart) sees it:

- ``stream_batches``: one row per finished batch with the highest event time so far (the
  watermark's source). Written last, so the row also marks the batch as complete.
- ``inventory_levels_current``: the row per store x product carries the key's state
  (level, velocity, open restock alert) and, with ``(stream_id, batch_id)``, its state
  before that batch in ``prior``. A batch replayed after a crash reads the prior state
  for rows it had already written, so it computes exactly what the first attempt did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.warehouse import Warehouse

STATE_SCHEMA = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()),
    ("quantity_on_hand", pa.int64()), ("last_event_time", pa.timestamp("ms", "UTC")),
    ("velocity_per_day", pa.float64()), ("velocity_at", pa.timestamp("ms", "UTC")),
    ("restock_alert_id", pa.string()),
])
_STATE_FIELDS = [f.name for f in STATE_SCHEMA][2:]


class KeyCache:
    """The per-key state this process wrote with its last batch, so the next batch reads
    from the warehouse only the keys it has not seen. It answers only for the batch right
    after that one: a replayed batch, a restart or another stream reads the warehouse.

    Held as Arrow tables, one per batch remembered, and an index from each key to its
    newest row, so a batch finds and stores its keys in bulk, at a cost that follows the
    batch's keys rather than the cache's size (rows a newer batch replaced are dropped once
    they are as many as the live ones)."""

    def __init__(self, max_keys: int = 250_000):
        self.max_keys = max_keys
        self.stream_id: str | None = None
        self.batch_id: int | None = None
        self._parts: list[pa.Table] = []
        self._size = 0  # rows in _parts
        self._where: dict[str, int] = {}  # key -> its newest row in _parts

    @property
    def rows(self) -> dict[tuple[str, str], dict]:
        """The cached state by ``(store_id, product_id)`` (for inspection)."""
        live = self._table().take(pa.array(sorted(self._where.values()), pa.int64()))
        return {(r["store_id"], r["product_id"]): r for r in live.to_pylist()}

    def _table(self) -> pa.Table:
        return pa.concat_tables(self._parts) if self._parts else STATE_SCHEMA.empty_table()

    def usable(self, stream_id: str, batch_id: int) -> bool:
        return self.stream_id == stream_id and self.batch_id is not None \
            and batch_id == self.batch_id + 1

    def _clear(self) -> None:
        self._parts, self._size, self._where = [], 0, {}

    def forget(self) -> None:
        self.stream_id, self.batch_id = None, None
        self._clear()

    def remember(self, stream_id: str, batch_id: int, state: pa.Table) -> None:
        """``state``: the keys' state after ``batch_id`` (``STATE_SCHEMA`` columns)."""
        if not self.usable(stream_id, batch_id):
            self._clear()
        new = state.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)
        if new.num_rows:
            self._parts.append(new)
            base = self._size
            self._where.update((k, base + i) for i, k in enumerate(key_of(new).to_pylist()))
            self._size += new.num_rows
        if len(self._where) > self.max_keys:  # full: start over (misses read the warehouse)
            self._clear()
        elif self._size > 2 * len(self._where) + 10_000:  # mostly replaced rows: compact
            keys = list(self._where)
            table = self._table().take(pa.array(list(self._where.values()), pa.int64()))
            self._parts, self._size = [table.combine_chunks()], table.num_rows
            self._where = dict(zip(keys, range(len(keys)), strict=True))
        self.stream_id, self.batch_id = stream_id, batch_id

    def lookup(self, keys: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(the cached state of ``keys``, the keys it does not hold)."""
        where = self._where
        at = [where.get(k, -1) for k in key_of(keys).to_pylist()]
        positions = pa.array(at, pa.int64())
        hit = pc.greater_equal(positions, 0)
        return (self._table().take(positions.filter(hit)),
                keys.select(["store_id", "product_id"]).filter(pc.invert(hit)))


def key_of(table: pa.Table) -> pa.ChunkedArray:
    """One text per row for ``(store_id, product_id)`` (ids never hold the separator)."""
    return pc.binary_join_element_wise(table["store_id"], table["product_id"], "\x1f")


class StreamState:
    def __init__(self, wh: Warehouse, stream_id: str, cache: KeyCache | None = None):
        self.wh = wh
        self.stream_id = stream_id
        self.cache = cache

    def high_mark_before(self, batch_id: int) -> datetime | None:
        """Highest event time of the batches before ``batch_id`` (None on a fresh stream)."""
        rows = self.wh.query_rows(
            "SELECT max_event_time FROM stream_batches FINAL WHERE stream_id = {s:String} "
            "AND batch_id < {b:Int64} ORDER BY batch_id DESC LIMIT 1",
            {"s": self.stream_id, "b": batch_id})
        if not rows or rows[0][0] is None:
            return None
        value = rows[0][0]
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def record_batch(self, batch_id: int, row: dict) -> None:
        table = pa.Table.from_pylist([{"stream_id": self.stream_id, "batch_id": batch_id, **row}])
        self.wh.insert_arrow("stream_batches", table, dedup_token=self.token(batch_id, "batch"))

    def token(self, batch_id: int, sink: str) -> str:
        """Insert deduplication token: the same batch into the same sink is written once."""
        return f"stream:{self.stream_id}:{batch_id}:{sink}"

    def key_state(self, keys: pa.Table, batch_id: int) -> pa.Table:
        """State before ``batch_id`` of exactly the ``(store_id, product_id)`` pairs in
        ``keys`` (the batch's own keys, not every pair of its stores and products)."""
        if keys.num_rows == 0:
            return STATE_SCHEMA.empty_table()
        cached = STATE_SCHEMA.empty_table()
        if self.cache is not None and self.cache.usable(self.stream_id, batch_id):
            cached, keys = self.cache.lookup(keys)
            if keys.num_rows == 0:
                return cached
        elif self.cache is not None:
            self.cache.forget()
        return pa.concat_tables([cached, self._read_key_state(keys, batch_id)])

    def _read_key_state(self, keys: pa.Table, batch_id: int) -> pa.Table:
        got = self.wh.query_arrow(
            "SELECT store_id, product_id, toInt64(quantity_on_hand) AS quantity_on_hand, "
            "last_event_time, velocity_per_day, velocity_at, restock_alert_id, "
            "stream_id = {s:String} AND batch_id = {b:Int64} AS replay, prior "
            "FROM inventory_levels_current FINAL "
            "WHERE store_id IN {stores:Array(String)} AND (store_id, product_id) IN "
            "(SELECT k.1, k.2 FROM (SELECT arrayJoin(arrayZip({ks:Array(String)}, "
            "{kp:Array(String)})) AS k))",
            {"s": self.stream_id, "b": batch_id,
             "stores": pc.unique(keys["store_id"]).to_pylist(),
             "ks": keys["store_id"].to_pylist(), "kp": keys["product_id"].to_pylist()})
        replay = pc.cast(got["replay"], pa.bool_())
        parts = [got.filter(pc.invert(replay)).select(STATE_SCHEMA.names).cast(STATE_SCHEMA)]
        replayed = []  # rows this batch already wrote: start from the state before it
        for r in got.filter(replay).select(["store_id", "product_id", "prior"]).to_pylist():
            if r["prior"]:
                replayed.append({"store_id": r["store_id"], "product_id": r["product_id"],
                                 **_decode(json.loads(r["prior"]))})
        parts.append(pa.Table.from_pylist(replayed, STATE_SCHEMA))
        new = keys.select(["store_id", "product_id"]).join(
            got.select(["store_id", "product_id"]), ["store_id", "product_id"],
            join_type="left anti")
        parts.append(pa.Table.from_pylist(self._history_velocity(
            list(zip(new["store_id"].to_pylist(), new["product_id"].to_pylist(), strict=True))),
            STATE_SCHEMA))
        return pa.concat_tables(parts)

    def _history_velocity(self, keys: list[tuple[str, str]], days: int = 28) -> list[dict]:
        """A key the stream has not seen yet starts from the units it sold per day over the
        last ``days`` days in the warehouse (batch loads), not from zero."""
        if not keys:
            return []
        got = self.wh.query_rows(
            "SELECT k.1, k.2, h.sold FROM (SELECT arrayJoin(arrayZip({s:Array(String)}, "
            "{p:Array(String)})) AS k) AS keys INNER JOIN (SELECT store_key, product_key, "
            "sum(units + return_units) AS sold FROM agg_sales_daily WHERE date_key >= "
            "toYYYYMMDD(today() - {days:UInt16}) AND store_key IN (SELECT retail_key(arrayJoin("
            "{s:Array(String)}))) GROUP BY store_key, product_key) AS h "
            "ON retail_key(k.1) = h.store_key AND retail_key(k.2) = h.product_key",
            {"s": [k[0] for k in keys], "p": [k[1] for k in keys], "days": days})
        return [{"store_id": s, "product_id": p, "quantity_on_hand": None,
                 "last_event_time": None, "velocity_per_day": sold / days, "velocity_at": None,
                 "restock_alert_id": ""} for s, p, sold in got if sold > 0]

    def save_key_state(self, new: pa.Table, before: pa.Table, batch_id: int) -> int:
        """Write the state rows of this batch, each with its state before it (call it for
        every batch, with no rows if no key changed: the key cache follows the batches)."""
        if new.num_rows == 0:
            if self.cache is not None:
                self.cache.remember(self.stream_id, batch_id, STATE_SCHEMA.empty_table())
            return 0
        priors = before.select(["store_id", "product_id"]).append_column(
            "prior", prior_json(before))
        rows = new.join(priors, ["store_id", "product_id"], join_type="left outer")
        rows = rows.set_column(rows.schema.get_field_index("prior"), "prior",
                               pc.fill_null(rows["prior"], ""))
        rows = rows.append_column("stream_id", pa.array([self.stream_id] * new.num_rows))
        rows = rows.append_column("batch_id", pa.array([batch_id] * new.num_rows, pa.int64()))
        written = self.wh.insert_arrow("inventory_levels_current", rows,
                                       dedup_token=self.token(batch_id, "levels"))
        if self.cache is not None:
            self.cache.remember(self.stream_id, batch_id, new)
        return written


def prior_json(state: pa.Table) -> pa.Array:
    """Each row's state fields as a JSON object (what :func:`_decode` reads back), built
    column-wise: a catch-up batch writes tens of thousands of keys."""
    pieces = []
    for i, name in enumerate(_STATE_FIELDS):
        col = state[name]
        if pa.types.is_floating(col.type):  # JSON has no NaN / infinity
            col = pc.if_else(pc.is_finite(col), col, pa.scalar(None, col.type))
        text = pc.cast(col, pa.string())
        if pa.types.is_string(col.type):  # (a timestamp's text needs no escaping)
            text = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"),
                                        '"', '\\"')
        if pa.types.is_timestamp(col.type) or pa.types.is_string(col.type):
            text = pc.binary_join_element_wise('"', text, '"', "")
        pieces += ["{" if i == 0 else ", ", f'"{name}": ', pc.fill_null(text, "null")]
    return pc.binary_join_element_wise(*pieces, "}", "").combine_chunks() \
        if state.num_rows else pa.array([], pa.string())


def _decode(prior: dict) -> dict:
    out = dict(prior)
    for k in ("last_event_time", "velocity_at"):
        if out.get(k):
            out[k] = datetime.fromisoformat(out[k])
    return out


def watermark_from(high_mark: datetime | None, late_after_minutes: float) -> datetime | None:
    return None if high_mark is None else high_mark - timedelta(minutes=late_after_minutes)
