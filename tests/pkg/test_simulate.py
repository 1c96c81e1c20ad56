"""Backfill and live runs of the simulator into a sink."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyarrow as pa

from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import NullSink, backfill, live


class CollectingSink:
    """A sink that keeps what it is given, to look at it afterwards."""

    def __init__(self):
        self.tables: list[tuple[str, pa.Table]] = []
        self.closed = False

    def write(self, event_type, table, name):
        self.tables.append((event_type, table))

    def close(self):
        self.closed = True


def sim(days=1, start=None):
    start = start or datetime.now(UTC).date()
    return Simulator(generate_catalog(3, 100, 9), SimConfig(seed=9, rate=60, days=days,
                                                           start=start))


def test_backfill_counts_every_event_and_closes_the_sink():
    sink = CollectingSink()
    summary = backfill(sim(days=2), sink)
    assert sink.closed
    assert summary.total == sum(t.num_rows for _, t in sink.tables) > 0
    assert summary.rate > 0 and not summary.stopped_early


def test_backfill_stops_after_the_current_batch_when_asked():
    stop = threading.Event()
    stop.set()
    summary = backfill(sim(days=5), NullSink(), stop=stop)
    assert summary.stopped_early
    assert summary.total == sum(summary.events.values()) > 0


def test_live_emits_only_events_that_are_due_in_event_time_order():
    sink = CollectingSink()
    clock = {"t": datetime.now(UTC).replace(hour=15, minute=0, second=0).timestamp()}
    start_ms = int(clock["t"] * 1000)

    def now():
        clock["t"] += 0.05  # each call advances the clock: 3 s of wall time in all
        return clock["t"]

    summary = live(sim(start=datetime.fromtimestamp(clock["t"], UTC).date()), sink, speed=600,
                   duration_s=3.0, tick_s=0.0, now=now)
    assert summary.stopped_early and summary.total > 0
    times = [t["event_time"].cast(pa.int64()).to_numpy() for _, t in sink.tables]
    flat = [int(x) for arr in times for x in arr]
    assert min(flat) >= start_ms
    assert max(flat) <= start_ms + int(3.0 * 600 * 1000) + 1000
    for arr in times:
        assert (arr[1:] >= arr[:-1]).all()
