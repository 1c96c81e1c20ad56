"""Producing event tables from several processes.

The contract check and the JSON encoding run in Python (over Arrow, with a fixed cost per
call), so one producer process tops out below the platform's per-machine rate.
:class:`ParallelProducer` spreads Arrow event tables over worker processes, each running
an :class:`~retail.io.producer.EventProducer`. All events of a store go to the same worker,
so every ``store_id|product_id`` key keeps its order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from dataclasses import fields
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.producer import EventProducer, ProducerStats
from retail.settings import KafkaSettings

_STATS = [f.name for f in fields(ProducerStats)]


def _publish(counters, slot: int, stats: ProducerStats) -> None:
    for i, name in enumerate(_STATS):
        counters[slot * len(_STATS) + i] = getattr(stats, name)


def _worker(slot: int, settings: KafkaSettings, spool: Path | None, inbox, counters,
            errors) -> None:
    # The parent decides when to stop (it flushes us with a sentinel), so a Ctrl-C or a
    # SIGTERM to the whole process group must not kill a worker with events in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    try:
        producer = EventProducer(settings, spool=spool, name=f"retail-producer-{slot}")
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        errors.put((slot, f"{type(exc).__name__}: {exc}"))
        return
    try:
        while True:
            try:
                table = inbox.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:  # orphaned: flush what we have and leave
                    break
                continue
            if table is None:
                break
            producer.send_table(table["event_type"][0].as_py(), table)
            _publish(counters, slot, producer.stats)
    finally:
        producer.close()
        _publish(counters, slot, producer.stats)


class ParallelProducer:
    """Send event tables through ``workers`` producer processes."""

    def __init__(self, settings: KafkaSettings, *, workers: int | None = None,
                 spool: Path | None = None):
        self.workers = workers or settings.producer_workers
        # fork: workers start in milliseconds and share the parent's imports; the parent
        # holds no Kafka client (or other threads) when it creates them.
        ctx = mp.get_context("fork")
        self._counters = ctx.Array("q", self.workers * len(_STATS), lock=False)
        self._errors = ctx.Queue()
        self._inboxes = [ctx.Queue(maxsize=8) for _ in range(self.workers)]
        self._procs = [
            ctx.Process(target=_worker, name=f"retail-producer-{i}", daemon=True,
                        args=(i, settings, spool, self._inboxes[i], self._counters,
                              self._errors))
            for i in range(self.workers)
        ]
        for p in self._procs:
            p.start()
        self._closed = False

    def _check_workers(self) -> None:
        try:
            slot, message = self._errors.get_nowait()
        except queue.Empty:
            dead = [p.name for p in self._procs if not p.is_alive()]
            if dead and not self._closed:
                raise RuntimeError(f"producer worker(s) exited unexpectedly: {dead}") from None
            return
        raise RuntimeError(f"producer worker {slot} failed: {message}")

    def _put(self, slot: int, table: pa.Table | None) -> None:
        while True:
            try:
                self._inboxes[slot].put(table, timeout=0.5)
                return
            except queue.Full:
                self._check_workers()

    def send_table(self, table: pa.Table) -> None:
        """Queue an event table (columns as in its contract); split by store over workers."""
        if table.num_rows == 0:
            return
        self._check_workers()
        if self.workers == 1:
            self._put(0, table)
            return
        store_no = pc.cast(pc.utf8_slice_codeunits(table["store_id"], 1), pa.int64())
        slot = pc.remainder(store_no, self.workers)
        for i in range(self.workers):
            part = table.filter(pc.equal(slot, i))
            if part.num_rows:
                self._put(i, part)

    def stats(self) -> ProducerStats:
        total = ProducerStats()
        n = len(_STATS)
        for w in range(self.workers):
            total.add(ProducerStats(*self._counters[w * n:(w + 1) * n]))
        return total

    def close(self, timeout_s: float = 120.0) -> ProducerStats:
        """Flush every worker and wait for them; return the final counts."""
        if not self._closed:
            self._closed = True
            for i, p in enumerate(self._procs):
                if p.is_alive():
                    self._put(i, None)
            for p in self._procs:
                p.join(timeout_s)
            try:
                slot, message = self._errors.get_nowait()
                raise RuntimeError(f"producer worker {slot} failed: {message}")
            except queue.Empty:
                pass
        return self.stats()
