"""`make bench` (dedup): what the stream's durable event memory costs a micro-batch.

Every micro-batch registers its good events' ids in ``stream_event_ids`` and asks which of
them an earlier batch registered (:func:`retail.streaming.seen.drop_seen`). Measured here
through the local warehouse server, with the memory already holding ``--memory`` ids
spread over the last 8 days (what Kafka's 7-day retention plus a day leaves in it), for:

- a live batch: every event in the last hour, all new;
- a live batch re-sent: the same events again (every one dropped);
- other versions of a live batch: the same ids with other content (every one quarantined);
- a replayed day: a batch of events from three days ago, every one a copy.

Baseline, in the same run: inserting the same batch's ``raw_events`` rows, an insert every
micro-batch already makes. Figures are medians of ``--repeat`` batches.

Usage: ``python tests/bench/bench_dedup.py [--memory 4000000] [--batch 20000]
[--write docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WarehouseProcess  # noqa: E402
from report import write_section  # noqa: E402

from retail.io.warehouse import connect  # noqa: E402
from retail.streaming.seen import drop_seen  # noqa: E402
from retail.warehouse.migrate import Migrator  # noqa: E402

PAYLOAD = "x" * 420  # about a sales_transaction's JSON


def fill_memory(wh, n: int, now: datetime) -> float:
    """``n`` registered ids spread evenly over the 8 days before ``now``; returns seconds."""
    t0 = time.perf_counter()
    step = 1_000_000
    for start in range(0, n, step):
        wh.command(
            "INSERT INTO stream_event_ids (event_id, event_hour, stream_id, batch_id) "
            "SELECT generateUUIDv4(), toStartOfHour({now:DateTime64(3)} - "
            "toIntervalSecond(intDiv((number + {start:UInt64}) * 691200, {n:UInt64}))), "
            "'history', intDiv(number + {start:UInt64}, 20000) FROM numbers({rows:UInt64})",
            {"now": now.replace(tzinfo=None), "start": start, "n": n,
             "rows": min(step, n - start)})
    return time.perf_counter() - t0


def batch(size: int, newest: datetime) -> pa.Table:
    """``size`` events spread over the hour before ``newest``."""
    times = [newest - timedelta(seconds=3600 * i / size) for i in range(size)]
    none = pa.nulls(size, pa.string())
    return pa.table({
        "event_id": [str(uuid.uuid4()) for _ in range(size)],
        "event_time": pa.array(times, pa.timestamp("ms", "UTC")),
        "content_hash": pa.array(range(1, size + 1), pa.int64()),
        "reject_reason": none, "reject_error": none, "reject_field": none,
    })


def other_versions(events: pa.Table) -> pa.Table:
    """The same events with other content (another hash each)."""
    return events.set_column(events.schema.get_field_index("content_hash"), "content_hash",
                             pc.negate(events["content_hash"]))


def raw_rows(events: pa.Table) -> pa.Table:
    n = events.num_rows
    return pa.table({
        "event_id": events["event_id"], "event_type": ["sales_transaction"] * n,
        "schema_version": pa.array([1] * n, pa.uint8()), "topic": ["retail-sales"] * n,
        "partition": pa.array([0] * n, pa.uint16()),
        "offset": pa.array(range(n), pa.uint64()), "key": ["S00001|P000001"] * n,
        "payload": [PAYLOAD] * n, "event_time": events["event_time"]})


def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        server = WarehouseProcess(Path(tmp) / "server")
        server.start()
        try:
            ws = server.settings()
            Migrator(connect(ws, database=""), "retail", lambda db: connect(ws, db)).migrate()
            wh = connect(ws)
            now = datetime.now(UTC).replace(microsecond=0)
            fill_s = fill_memory(wh, args.memory, now)
            print(f"memory: {args.memory:,} ids over 8 days in {fill_s:.1f} s", flush=True)
            timings: dict[str, list[float]] = {k: [] for k in (
                "raw_events insert (baseline)", "live batch, all new",
                "live batch re-sent", "live batch, other versions",
                "replayed day, all copies")}
            for i in range(args.repeat):
                live = batch(args.batch, now)
                old = batch(args.batch, now - timedelta(days=3))
                t = time.perf_counter()
                wh.insert_arrow("raw_events", raw_rows(live), dedup_token=f"bench:{i}:raw")
                timings["raw_events insert (baseline)"].append(time.perf_counter() - t)
                for name, events, stream, batch_id, want in (
                        ("live batch, all new", live, "s", 3 * i, (args.batch, 0, 0)),
                        ("live batch re-sent", live, "s", 3 * i + 1, (0, args.batch, 0)),
                        ("live batch, other versions", other_versions(live), "s", 3 * i + 2,
                         (0, 0, args.batch)),
                        ("replayed day, all copies", old, "r", i, (0, args.batch, 0))):
                    if name.startswith("replayed"):  # its originals, registered first
                        drop_seen(wh, old, stream_id="orig", batch_id=i, token=f"o:{i}")
                    t = time.perf_counter()
                    seen = drop_seen(wh, events, stream_id=stream, batch_id=batch_id,
                                     token=f"bench:{name}:{i}")
                    timings[name].append(time.perf_counter() - t)
                    got = (seen.fresh.num_rows, seen.copies, seen.conflicts.num_rows)
                    assert got == want, (name, got, want)
                print(f"batch {i + 1}/{args.repeat} done", flush=True)
        finally:
            server.stop()
    return {k: statistics.median(v) for k, v in timings.items()}


def report(args, medians: dict) -> str:
    base = medians["raw_events insert (baseline)"]
    rows = "\n".join(f"| {k} | {v * 1000:,.0f} ms | {v / base:.2f}x |"
                     for k, v in medians.items())
    return f"""## Durable event memory: cost per micro-batch

`python tests/bench/bench_dedup.py --memory {args.memory} --batch {args.batch} --repeat {args.repeat}`,
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Batches of {args.batch:,} events against a memory
of {args.memory:,} ids over 8 days, through the local warehouse server; median of
{args.repeat} batches. Baseline: the same batch's `raw_events` insert, which every batch
already makes.

| step | median per batch | vs. baseline |
|---|---:|---:|
{rows}
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--memory", type=int, default=4_000_000)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    text = report(args, run(args))
    print(text)
    if args.write:
        write_section(args.write, "dedup", text)


if __name__ == "__main__":
    main()
