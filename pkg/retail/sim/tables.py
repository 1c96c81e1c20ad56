"""Columnar event batches: one Arrow table per event type, columns in contract order.

The simulator never builds a Python object per event. Tables go to Parquet as they are,
and to Kafka through :func:`to_json_events`, which is where rows become JSON documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import orjson
import pyarrow as pa

from retail.contracts import contract
from retail.contracts.columnar import json_ready
from retail.sim.ids import event_uuids

TIMESTAMP = pa.timestamp("ms", tz="UTC")
_TIME_FIELDS = {"event_time", "timestamp", "ordered_at", "expected_arrival", "hour_start"}
_EPOCH = date(1970, 1, 1)
# The simulator's event types; an index is part of its events' ids, so only ever append.
EVENT_TYPES = ("sales_transaction", "lost_sale", "inventory_update", "customer_traffic",
               "price_change", "supplier_shipment")


def event_table(event_type: str, run: int, day: date, store: np.ndarray,
                event_time_ms: np.ndarray, columns: dict[str, object]) -> pa.Table:
    """Build an event table with the envelope added and every contract field present.

    Rows come out in event time order. Each ``event_id`` is a version-8 UUID of the run,
    the event type, the day, the store and the event's rank among its store's events of
    that type and day in event time order (ties in input order): see
    :func:`retail.sim.ids.event_uuids`.

    Args:
        event_type: contract name (one of EVENT_TYPES).
        run: the run's fingerprint (:attr:`retail.sim.engine.Simulator.fingerprint`).
        day: the local day the events belong to.
        store: store index per event.
        event_time_ms: UTC epoch milliseconds per event (also used for ``timestamp``).
        columns: the event's own fields; time fields are epoch milliseconds.
    """
    c = contract(event_type)
    n = len(event_time_ms)
    order = np.argsort(event_time_ms, kind="stable")
    data: dict[str, object] = {
        "event_id": event_uuids(run, EVENT_TYPES.index(event_type), (day - _EPOCH).days,
                                store, _position_in_store(np.asarray(store)[order], order)),
        "event_type": pa.array([event_type] * n, pa.string()),
        "schema_version": pa.array(np.full(n, c.version, dtype=np.int32)),
        "event_time": event_time_ms,
        "timestamp": event_time_ms,
        **columns,
    }
    missing = set(c.fields) - set(data)
    extra = set(data) - set(c.fields)
    if missing or extra:
        raise ValueError(f"{event_type}: table columns differ from contract: "
                         f"missing {sorted(missing)}, extra {sorted(extra)}")
    arrays = [
        pa.array(data[f], TIMESTAMP) if f in _TIME_FIELDS else data[f] for f in c.fields
    ]
    return pa.Table.from_arrays(arrays, names=list(c.fields)).take(pa.array(order))


def _position_in_store(store_in_order: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each event's 0-based rank among its store's events, given the stores in event time
    order and that order (``order[i]`` = input row of the i-th event); in input order."""
    n = len(order)
    by_store = np.argsort(store_in_order, kind="stable")  # keeps time order within a store
    grouped = store_in_order[by_store]
    first = np.ones(n, dtype=bool)
    first[1:] = grouped[1:] != grouped[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    position = np.empty(n, dtype=np.int64)
    position[order[by_store]] = rank
    return position


@dataclass
class EventBatch:
    """Events of one group of stores over one local day, by event type."""

    day: date
    stores: tuple[int, int]  # [first, last) store index
    tables: dict[str, pa.Table] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {k: t.num_rows for k, t in self.tables.items()}

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


def to_json_events(table: pa.Table) -> list[dict[str, object]]:
    """Rows as JSON-ready dicts: timestamps as ISO-8601 UTC strings ending in ``Z``."""
    return json_ready(table).to_pylist()


def dumps(event: dict[str, object]) -> bytes:
    return orjson.dumps(event)
