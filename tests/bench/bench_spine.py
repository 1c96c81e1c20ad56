"""`make bench`: throughput of the event spine, each figure against a naive baseline measured
in the same run on the same machine.

1. Simulator, backfill, pinned to one core: columnar numpy engine vs. generating each event
   as a Python dict with Faker (what a first simulator usually looks like).
2. Producing into the local broker: the platform's producer (columnar validation and JSON,
   batching, parallel processes) vs. one synchronous send per event without batching, and
   vs. the row-at-a-time path of the same producer in one process.
3. Contract validation alone: columnar vs. row by row.

Writes a markdown report (``--write docs/benchmarks.md``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
from faker import Faker
from kafka import KafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import Broker  # noqa: E402

from retail.contracts import contract, event_key, topic_for_event_type, validate_event  # noqa: E402
from retail.contracts.columnar import json_ready, valid_rows  # noqa: E402
from retail.io.parallel import ParallelProducer  # noqa: E402
from retail.io.producer import EventProducer  # noqa: E402
from retail.sim import SimConfig, Simulator, generate_catalog, to_json_events  # noqa: E402
from retail.simulate import NullSink, backfill  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def naive_events(n: int, seed: int = 1) -> list[dict]:
    """The baseline simulator: one Faker-built dict per sale plus its inventory update."""
    fake = Faker()
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    stock: dict[tuple[int, int], int] = {}
    out = []
    start = datetime(2026, 1, 5, tzinfo=UTC)
    while len(out) < n:
        store, product = rnd.randint(1, 20), rnd.randint(1, 2000)
        qty = rnd.randint(1, 3)
        ts = (start + timedelta(seconds=rnd.randint(0, 86_399))).strftime("%Y-%m-%dT%H:%M:%SZ")
        level = stock.get((store, product), 100)
        sold = min(qty, level)
        stock[(store, product)] = level - sold
        tx = fake.uuid4()
        out.append({"event_id": fake.uuid4(), "event_type": "sales_transaction",
                    "schema_version": 1, "event_time": ts, "transaction_id": tx,
                    "line_number": 1, "transaction_type": "sale", "store_id": f"S{store:05d}",
                    "product_id": f"P{product:06d}", "quantity": max(sold, 1),
                    "unit_price": round(rnd.uniform(0.5, 30), 2), "discount_amount": 0.0,
                    "line_total": 0.0, "promotion_id": None, "currency": "USD",
                    "customer_id": fake.bothify("C########"),
                    "payment_method": rnd.choice(["cash", "credit_card"]),
                    "original_transaction_id": None, "timestamp": ts})
        out.append({"event_id": fake.uuid4(), "event_type": "inventory_update",
                    "schema_version": 1, "event_time": ts, "inventory_id": fake.uuid4(),
                    "store_id": f"S{store:05d}", "product_id": f"P{product:06d}",
                    "quantity_change": -max(sold, 1), "new_quantity": level - sold,
                    "reason": "sale", "reference_id": tx, "timestamp": ts})
    return out


def bench_simulator(rows: list) -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    (_, base_s) = timed(lambda: naive_events(40_000))
    base = 40_000 / base_s
    catalog = generate_catalog(20, 2000, 42)
    sim = Simulator(catalog, SimConfig(seed=42, rate=200, days=1, start=date(2026, 1, 5)))
    summary, _ = timed(lambda: backfill(sim, NullSink()))
    ours = summary.total / summary.seconds
    rows.append(("Simulator backfill, 1 core (20 stores x 2,000 SKUs x 1 day, "
                 f"{summary.total:,} events)", "Faker, one dict per event", base, ours))
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def bench_validation(rows: list, tables: list) -> None:
    table = next(t for t in tables if t.num_rows > 50_000)
    c = contract("sales_transaction")
    events = to_json_events(table)
    _, row_s = timed(lambda: [validate_event(e) for e in events])
    _, col_s = timed(lambda: pc.all(valid_rows(c, json_ready(table))).as_py())
    n = table.num_rows
    rows.append((f"Contract validation ({n:,} sales events)", "row by row (compiled JSON Schema)",
                 n / row_s, n / col_s))


def bench_producer(rows: list, tables: list, tmp: Path) -> None:
    broker = Broker(tmp)
    broker.start()
    try:
        settings = broker.settings
        n_total = sum(t.num_rows for t in tables)
        # Baseline: one synchronous send per event, no batching.
        sample = [e for t in tables[:2] for e in to_json_events(t.slice(0, 1500))][:3000]
        naive = KafkaProducer(**settings.client_config(), acks="all", linger_ms=0)

        def one_by_one():
            for e in sample:
                validate_event(e)
                naive.send(topic_for_event_type(e["event_type"]), key=event_key(e).encode(),
                           value=json.dumps(e).encode()).get(timeout=30)
        _, naive_s = timed(one_by_one)
        naive.close()
        base = len(sample) / naive_s

        row_events = [e for t in tables for e in to_json_events(t)][:100_000]
        single = EventProducer(settings)
        _, row_s = timed(lambda: (single.send_many(row_events), single.close()))
        assert single.stats.acked == len(row_events)

        producer = ParallelProducer(settings)
        time.sleep(0.5)  # let the workers connect before the clock starts

        def parallel():
            for t in tables:
                producer.send_table(t)
            return producer.close()
        stats, par_s = timed(parallel)
        assert stats.acked == n_total and stats.failed == 0, stats
        rows.append((f"Producer into the local broker, {len(row_events):,} events, row path, "
                     "1 process (acks=all, batched)", "one synchronous send per event",
                     base, len(row_events) / row_s))
        rows.append((f"Producer into the local broker, {n_total:,} events, columnar, "
                     f"{producer.workers} processes (acks=all, batched)",
                     "one synchronous send per event", base, n_total / par_s))
    finally:
        broker.stop()


def report(rows: list) -> str:
    lines = [
        "## Event spine (issue 2)",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Each figure is compared with a baseline "
        "measured in the same run; ratios, not absolute numbers, carry across machines.",
        "",
        "| what | baseline | baseline events/s | ours events/s | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for what, base_name, base, ours in rows:
        lines.append(f"| {what} | {base_name} | {base:,.0f} | {ours:,.0f} | {ours / base:,.1f}x |")
    lines += ["", "Targets (issue 2): simulator >= 200,000 events/s backfill on one core; "
              "producer >= 20,000 events/s sustained into the local broker.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    rows: list = []
    print("simulator ...", flush=True)
    bench_simulator(rows)
    catalog = generate_catalog(10, 1000, 7)
    sim = Simulator(catalog, SimConfig(seed=7, rate=100, days=1, start=date(2026, 1, 5)))
    tables = [t for b in sim.run() for t in b.tables.values() if t.num_rows]
    print("validation ...", flush=True)
    bench_validation(rows, tables)
    print("producer ...", flush=True)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        bench_producer(rows, tables, Path(tmp))
    text = report(rows)
    print(text)
    if args.write:
        from report import write_section

        write_section(args.write, "spine", text)


if __name__ == "__main__":
    main()
