"""Running the simulator into a sink: backfill (as fast as possible) or live (real time).

Sinks take whole event tables: Kafka (through the parallel producer), Parquet files in the
lake, or nothing (to measure the simulator alone).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail.contracts import topic_for_event_type
from retail.io.lake import LakeWriter
from retail.io.parallel import ParallelProducer
from retail.io.producer import ProducerStats
from retail.sim.engine import Simulator
from retail.sim.tables import EventBatch


class TableSink(Protocol):
    def write(self, event_type: str, table: pa.Table, name: str) -> None: ...
    def close(self) -> ProducerStats | None: ...


class KafkaSink:
    def __init__(self, producer: ParallelProducer):
        self.producer = producer

    def write(self, event_type: str, table: pa.Table, name: str) -> None:
        self.producer.send_table(table)

    def close(self) -> ProducerStats:
        return self.producer.close()


class ParquetSink:
    def __init__(self, writer: LakeWriter):
        self.writer = writer

    def write(self, event_type: str, table: pa.Table, name: str) -> None:
        self.writer.write(topic_for_event_type(event_type), table, f"{event_type}-{name}")

    def close(self) -> None:
        return None


class WarehouseSink:
    """Events straight into the warehouse's fact tables (a batch backfill, no stream).

    ``run_id`` names the simulation (the simulator's fingerprint); with it each batch carries a
    deduplication token, so re-running the same backfill leaves the warehouse unchanged.
    Without it (live mode, where batch names repeat) nothing is deduplicated. With ``lake``
    the events also go to the lake, under the same names as the parquet sink's (a re-run
    overwrites its own files).
    """

    def __init__(self, warehouse, catalog, run_id: str | None = None,
                 lake: LakeWriter | None = None):
        self.warehouse, self.catalog, self.run_id = warehouse, catalog, run_id
        # Every path that fills the warehouse fills the lake too: the daily batch closes a
        # day from the lake's raw events.
        self.lake = ParquetSink(lake) if lake is not None else None
        self.rows: Counter = Counter()

    def write(self, event_type: str, table: pa.Table, name: str) -> None:
        from retail.warehouse.load import fact_tables

        if self.lake is not None:
            self.lake.write(event_type, table, name)

        for fact, rows in fact_tables({event_type: table}, self.catalog).items():
            token = f"{self.run_id}:{name}:{fact}" if self.run_id else None
            self.warehouse.insert_arrow(fact, rows, dedup_token=token)
            self.rows[fact] += rows.num_rows

    def close(self) -> None:
        return None


class NullSink:
    def write(self, event_type: str, table: pa.Table, name: str) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass
class RunSummary:
    events: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    producer: ProducerStats | None = None
    stopped_early: bool = False

    @property
    def total(self) -> int:
        return sum(self.events.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def _batch_name(batch: EventBatch) -> str:
    return f"{batch.day:%Y%m%d}-{batch.stores[0]:05d}"


def backfill(sim: Simulator, sink: TableSink, *, stop: threading.Event | None = None,
             on_batch: Callable[[EventBatch], None] | None = None) -> RunSummary:
    """Simulate every configured day as fast as possible into ``sink``."""
    summary = RunSummary()
    t0 = time.perf_counter()
    try:
        for batch in sim.run():
            for event_type, table in batch.tables.items():
                sink.write(event_type, table, _batch_name(batch))
                summary.events[event_type] += table.num_rows
            if on_batch:
                on_batch(batch)
            if stop is not None and stop.is_set():
                summary.stopped_early = True
                break
    finally:
        summary.producer = sink.close()
        summary.seconds = time.perf_counter() - t0
    return summary


def live(sim: Simulator, sink: TableSink, *, speed: float = 1.0, duration_s: float | None = None,
         stop: threading.Event | None = None, tick_s: float = 0.2,
         now: Callable[[], float] = time.time,
         on_tick: Callable[[RunSummary], None] | None = None) -> RunSummary:
    """Emit events when their event time comes (``speed`` x real time), from now on.

    The simulated day starts at local midnight, so stock and orders before "now" are
    simulated too, but only events at or after the start are emitted.
    """
    summary = RunSummary()
    wall0 = now()
    sim_ms0 = int(wall0 * 1000)
    stop = stop or threading.Event()
    try:
        for d, day in sim.days():
            pending = _day_tables(sim, d, day)
            cursors = {k: int(np.searchsorted(_times(t), sim_ms0)) for k, t in pending.items()}
            while not stop.is_set() and any(cursors[k] < pending[k].num_rows for k in pending):
                elapsed = now() - wall0
                if duration_s is not None and elapsed >= duration_s:
                    stop.set()
                    break
                due_ms = sim_ms0 + int(elapsed * speed * 1000)
                for k, t in pending.items():
                    hi = int(np.searchsorted(_times(t), due_ms, side="right"))
                    if hi > cursors[k]:
                        sink.write(k, t.slice(cursors[k], hi - cursors[k]), f"live-{d}")
                        summary.events[k] += hi - cursors[k]
                        cursors[k] = hi
                if on_tick:
                    on_tick(summary)
                stop.wait(tick_s)
            if stop.is_set():
                summary.stopped_early = True
                break
    finally:
        summary.producer = sink.close()
        summary.seconds = now() - wall0
    return summary


def _times(table: pa.Table) -> np.ndarray:
    return table["event_time"].cast(pa.int64()).to_numpy()


def _day_tables(sim: Simulator, d: int, day) -> dict[str, pa.Table]:
    """All of a day's events by type, each sorted by event time."""
    parts: dict[str, list[pa.Table]] = {}
    for batch in sim.run_day(d, day):
        for k, t in batch.tables.items():
            parts.setdefault(k, []).append(t)
    out = {}
    for k, ts in parts.items():
        t = pa.concat_tables(ts)
        out[k] = t.take(pc.sort_indices(t, [("event_time", "ascending")]))
    return out
