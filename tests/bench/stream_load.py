"""The live load of the stream benchmark: producer processes sending a simulated chain's
events at a fixed rate, each stamped ``event_time`` = the send time."""

from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retail.io.producer import EventProducer  # noqa: E402
from retail.settings import KafkaSettings  # noqa: E402
from stream_common import _TS  # noqa: E402


_POOL: dict = {}  # set before forking the load workers: event tables and each one's order


def build_pool(tables: dict[str, pa.Table], workers: int) -> None:
    """The events in time order, dealt to workers by store (per-key order kept)."""
    types = sorted(tables)
    tabs = [tables[k] for k in types]
    codes = np.concatenate([np.full(t.num_rows, i, np.int8) for i, t in enumerate(tabs)])
    rows = np.concatenate([np.arange(t.num_rows) for t in tabs])
    times = np.concatenate([t["event_time"].cast(pa.int64()).to_numpy() for t in tabs])
    store = np.concatenate([pc.cast(pc.utf8_slice_codeunits(t["store_id"], 1), pa.int64())
                            .to_numpy() for t in tabs])
    order = np.argsort(times, kind="stable")
    _POOL.update(types=types, tables=tabs, workers=workers,
                 order=[(codes[sel], rows[sel]) for w in range(workers)
                        for sel in [order[store[order] % workers == w]]])


def _stamp(table: pa.Table, now_ms: int, fresh_ids: bool) -> pa.Table:
    """Move each event to now: every time in its payload shifts by the same amount, so the
    contracts' bounds between them (timestamp ~ event_time, hour_start, ordered_at,
    expected_arrival) still hold."""
    event_ms = pc.cast(pc.cast(table["event_time"], pa.timestamp("ms")), pa.int64())
    shift = pc.subtract(pa.scalar(now_ms, pa.int64()), event_ms)
    for name in ("event_time", "timestamp", "hour_start", "ordered_at", "expected_arrival"):
        if name in table.column_names:
            ms = pc.cast(pc.cast(table[name], pa.timestamp("ms")), pa.int64())
            moved = pc.cast(pc.cast(pc.add(ms, shift), pa.timestamp("ms")), _TS)
            table = table.set_column(table.schema.get_field_index(name), name, moved)
    if fresh_ids:  # the pool wrapped around: new ids, or the stream drops them as duplicates
        table = table.set_column(table.schema.get_field_index("event_id"), "event_id",
                                 pa.array([str(uuid.uuid4()) for _ in range(table.num_rows)]))
    return table


def _load_worker(slot: int, kafka: KafkaSettings, rate: float, seconds: float | None,
                 cursor: int, stop, out, tick_s: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    types, tables = _POOL["types"], _POOL["tables"]
    codes, rows = _POOL["order"][slot]
    n = len(codes)
    share = rate / _POOL["workers"]
    producer = EventProducer(kafka, name=f"bench-load-{slot}")
    sent = 0
    t0 = time.time()
    try:
        while not stop.is_set():
            now = time.time()
            if seconds is not None and now - t0 >= seconds:
                break
            k = int((now - t0) * share) - sent
            if k > 0:
                idx = np.arange(cursor, cursor + k)
                wrapped = bool(idx[-1] >= n)
                idx %= n
                c_sel, r_sel = codes[idx], rows[idx]
                now_ms = int(time.time() * 1000)
                for code in np.unique(c_sel):
                    part = tables[code].take(pa.array(r_sel[c_sel == code]))
                    producer.send_table(types[code], _stamp(part, now_ms, wrapped or cursor >= n))
                cursor += k
                sent += k
            time.sleep(max(0.0, tick_s - (time.time() - now)))
        elapsed = time.time() - t0
    finally:
        producer.close()
    out.put({"slot": slot, "sent": sent, "acked": producer.stats.acked,
             "failed": producer.stats.failed, "cursor": cursor, "seconds": elapsed})


class LiveLoad:
    """Producer processes sending the pool's events at ``rate`` events/s, stamped now, in
    one send per event type every ``tick_s`` seconds (a store system batching its sends)."""

    def __init__(self, kafka: KafkaSettings, tick_s: float = 0.25):
        self.kafka, self.tick_s = kafka, tick_s
        self.cursors = [0] * _POOL["workers"]
        self.ctx = mp.get_context("fork")

    def start(self, rate: float, seconds: float | None = None) -> None:
        self.stop_event, self.out = self.ctx.Event(), self.ctx.Queue()
        self.t0 = time.time()
        self.procs = [self.ctx.Process(target=_load_worker, daemon=True, args=(
            w, self.kafka, rate, seconds, self.cursors[w], self.stop_event, self.out,
            self.tick_s))
            for w in range(len(self.cursors))]
        for p in self.procs:
            p.start()

    def finish(self, stop: bool = True) -> dict:
        """Stop (or, with ``stop=False``, wait for the set duration) and flush; the sums
        over the workers."""
        if stop:
            self.stop_event.set()
        self.t1 = time.time()
        got = [self.out.get(timeout=180) for _ in self.procs]
        for p in self.procs:
            p.join(30)
        for g in got:
            self.cursors[g["slot"]] = g["cursor"]
        return {"sent": sum(g["sent"] for g in got), "acked": sum(g["acked"] for g in got),
                "failed": sum(g["failed"] for g in got),
                "seconds": max(g["seconds"] for g in got)}


def clear_pool() -> None:
    """Drop the pool (after the load workers have ended)."""
    _POOL.clear()
