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
from retail.sim.ids import uuid4_array

TIMESTAMP = pa.timestamp("ms", tz="UTC")
_TIME_FIELDS = {"event_time", "timestamp", "ordered_at", "expected_arrival", "hour_start"}


def event_table(event_type: str, rng: np.random.Generator, event_time_ms: np.ndarray,
                columns: dict[str, object]) -> pa.Table:
    """Build an event table with the envelope added and every contract field present.

    Args:
        event_type: contract name.
        rng: source of the event ids.
        event_time_ms: UTC epoch milliseconds per event (also used for ``timestamp``).
        columns: the event's own fields; time fields are epoch milliseconds.
    """
    c = contract(event_type)
    n = len(event_time_ms)
    data: dict[str, object] = {
        "event_id": uuid4_array(rng, n),
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
    order = np.argsort(event_time_ms, kind="stable")
    return pa.Table.from_arrays(arrays, names=list(c.fields)).take(pa.array(order))


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
