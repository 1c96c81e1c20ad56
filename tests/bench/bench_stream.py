"""`make bench` (stream): sustained throughput and end-to-end latency of the stream processor
(Kafka -> Spark Structured Streaming -> warehouse), each against a plain consumer loop
measured in the same run on the same machine.

1. Latency: ``retail stream run`` (its own process, 1 s trigger, watermark delay 10 min,
   starting at the latest offsets) while producer processes send events stamped with
   ``event_time = now`` at a fixed rate for ``--load-seconds``. Latency is
   ``raw_events.ingested_at - event_time`` (the warehouse server stamps ``ingested_at`` at
   insert), its quantiles taken by the warehouse. Rates (``--rates``) are tried from
   20,000 events/s down, through the design rate (1,000 stores x 500 events/min, about
   8,300 events/s), until one is sustained with its p95 under ``--max-p95`` (sustained:
   every event visible within ``--drain-timeout`` seconds of the end of the load and no
   growing lag). The baseline is the same live load through a plain kafka-python
   consumer loop (its own process) inserting every poll.
2. Throughput: a backlog of a simulated day (~300k events, two days ago) in Kafka, processed
   with Trigger.AvailableNow in this process (``StreamRunner``) with a large
   ``maxOffsetsPerTrigger`` (``--caps``), vs. the plain consumer loop reading the same
   backlog. The seconds of each step of the micro-batches (``BatchReport.stages``) name the
   bottleneck.

The plain consumer loop (the baseline): assign every input partition, poll up to
``--poll-records`` records, ``orjson`` each value, build Arrow tables by event type and
insert ``raw_events`` plus every fact table (the same mappers as the stream:
``retail.warehouse.load.fact_tables``). It does none of what the stream adds: contract
validation, quarantine, deduplication, watermark, lake Parquet, 5-minute metrics,
anomalies, inventory state, restock alerts, batch bookkeeping, exactly-once replays.

Usage: ``python tests/bench/bench_stream.py [--write docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Broker, WarehouseProcess  # noqa: E402
from report import write_section  # noqa: E402
from retail.io.parallel import ParallelProducer  # noqa: E402
from retail.settings import LakeSettings, LocalSettings, Settings, StreamSettings  # noqa: E402
from stream_bare import bare_aggregation  # noqa: E402
from stream_baseline import plain_loop  # noqa: E402

from stream_common import (DESIGN_RATE, REPLAY_LATE_AFTER_MINUTES, make_database, say, seed_state,
                           simulate)  # noqa: E402

from stream_cpu import CpuMeter, Quiet, cpu_line  # noqa: E402
from stream_live import bench_latency  # noqa: E402
from stream_report import report  # noqa: E402


def bench_throughput(args, tmp: Path, server: WarehouseProcess) -> dict:
    broker = Broker(tmp)
    broker.start()
    try:
        start = datetime.now(UTC).date() - timedelta(days=2)
        say(f"throughput: simulating the backlog ({args.backlog_stores} stores x "
            f"{args.backlog_products:,} SKUs, rate {args.backlog_rate:g}, {start}) ...")
        catalog, tables = simulate(args.backlog_stores, args.backlog_products,
                                   args.backlog_rate, start, args.seed)
        n = sum(t.num_rows for t in tables.values())
        producer = ParallelProducer(broker.settings)
        t0 = time.perf_counter()
        for t in tables.values():
            producer.send_table(t)
        stats = producer.close()
        if stats.acked != n or stats.failed:
            raise SystemExit(f"backlog: {stats}")
        say(f"throughput: {n:,} events in Kafka ({n / (time.perf_counter() - t0):,.0f}/s "
            f"produced); {', '.join(f'{k} {v.num_rows:,}' for k, v in sorted(tables.items()))}")

        ws_b, wh_b = make_database(server, "baseline_tp", catalog, start, 4)
        say("throughput: baseline (plain consumer loop) over the backlog ...")
        roots = {broker.proc.pid: "broker", server.proc.pid: "warehouse server"}
        args.quiet(roots)
        meter = CpuMeter({**roots, os.getpid(): "baseline loop (this process)"}).start()
        base = plain_loop(broker.settings, ws_b, expect=n, max_records=args.poll_records)
        base["cpu"] = meter.stop()
        (landed,), = wh_b.query_rows("SELECT count() FROM raw_events")
        base["landed"] = int(landed)
        say(f"  baseline: {base['events']:,} events in {base['seconds']:.1f} s = "
            f"{base['events'] / base['seconds']:,.0f} events/s ({base['polls']} polls; parse "
            f"{base['parse_s']:.1f} s, insert {base['insert_s']:.1f} s); {landed:,} raw rows")
        say(f"  baseline CPU: {cpu_line(base['cpu'])}")
        wh_b.close()

        from retail.streaming.job import StreamRunner, spark_session

        runs = []
        spark_start = None
        for cap in [0, *args.caps]:  # 0: a warm-up run, stopped after its first batch
            ws_s, wh_s = make_database(server, f"stream_tp_{cap}", catalog, start, 4)
            keys = seed_state(wh_s, tables, datetime.combine(start, datetime.min.time(), UTC))
            settings = Settings(
                env="local", kafka=broker.settings, warehouse=ws_s,
                lake=LakeSettings(root=str(tmp / f"lake-{cap}")),
                local=LocalSettings(home=tmp / "home"),
                stream=StreamSettings(checkpoint_dir=str(tmp / f"checkpoint-{cap}"),
                                      max_offsets_per_trigger=cap or args.caps[0],
                                      late_after_minutes=REPLAY_LATE_AFTER_MINUTES))
            if spark_start is None:
                t = time.perf_counter()
                spark_session(settings)
                spark_start = time.perf_counter() - t
                say(f"throughput: Spark session up in {spark_start:.1f} s")
            say(f"throughput: stream over the backlog, maxOffsetsPerTrigger {cap:,} ..." if cap
                else "throughput: warm-up (JIT, Python workers): one batch of the backlog ...")
            reports = []

            def on_batch(r, reports=reports, cap=cap):
                reports.append(r)
                print(f"    batch {r.batch_id}: {r.input_rows:,} rows in {r.seconds:.2f} s; "
                      + ", ".join(f"{k} {v:.2f}" for k, v in r.stages.items()), flush=True)
                if not cap:
                    runner.request_stop()

            runner = StreamRunner(settings, on_batch=on_batch, max_restarts=0)
            args.quiet(roots)
            meter = CpuMeter({**roots, os.getpid(): "stream (this process: Spark)"}).start()
            t = time.perf_counter()
            summary = runner.run(available_now=True)
            wall = time.perf_counter() - t
            cpu = meter.stop()
            if not cap:
                wh_s.close()
                continue
            (landed,), = wh_s.query_rows("SELECT count() FROM raw_events")
            wh_s.close()
            batch_s = sum(r.seconds for r in reports)
            stages: dict[str, float] = {}
            for r in reports:
                for k, v in r.stages.items():
                    stages[k] = stages.get(k, 0.0) + v
            run = {"cap": cap, "events": summary.input_rows, "batches": summary.batches,
                   "batch_s": batch_s, "wall": wall, "rejected": summary.rejected_rows,
                   "landed": int(landed), "stages": stages, "restarts": summary.restarts,
                   "cpu": cpu,
                   "other_s": batch_s - sum(stages.values())}
            runs.append(run)
            say(f"  stream cap {cap:,}: {run['events']:,} events, {run['batches']} batches, "
                f"{batch_s:.1f} s in foreachBatch = {run['events'] / batch_s:,.0f} events/s; "
                f"query wall {wall:.1f} s = {run['events'] / wall:,.0f} events/s; "
                f"{run['rejected']:,} rejected; {landed:,} raw rows")
            say(f"  stream CPU: {cpu_line(cpu)}")
            if run["events"] != n:
                raise SystemExit(f"the stream read {run['events']:,} of {n:,} events")
        say(f"throughput: the issue's yardstick, a bare window aggregation through the Python "
            f"source (maxOffsetsPerTrigger {args.caps[-1]:,}) ...")
        bare_settings = Settings(
            env="local", kafka=broker.settings, warehouse=ws_s,
            local=LocalSettings(home=tmp / "home"),
            stream=StreamSettings(max_offsets_per_trigger=args.caps[-1]))
        args.quiet(roots)
        bare = bare_aggregation(bare_settings, tmp / "checkpoint-bare", n)
        say(f"  bare aggregation: {bare['events']:,} events, {bare['batches']} batches, "
            f"{bare['batch_s']:.1f} s in foreachBatch = {bare['events'] / bare['batch_s']:,.0f} "
            f"events/s; query wall {bare['wall']:.1f} s = {bare['events'] / bare['wall']:,.0f}")
        del tables
        return {"events": n, "baseline": base, "stream": runs, "spark_start": spark_start,
                "bare": bare,
                "keys": keys,
                "catalog": (args.backlog_stores, args.backlog_products)}
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                        default=[20_000, 16_000, 14_000, 12_000, 10_000, 9_000,
                                 round(DESIGN_RATE), 7000, 6000, 5000, 4000, 2000, 1000],
                        help="live rates to try, highest first (events/s)")
    parser.add_argument("--max-p95", type=float, default=5.0,
                        help="the rate search goes on down until a rate is sustained with "
                             "its p95 latency under this many seconds")
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--skip-seconds", type=float, default=10,
                        help="start of each load left out of the latency quantiles")
    parser.add_argument("--tail-seconds", type=float, default=10,
                        help="end of each load left out of the lag-growth fit")
    parser.add_argument("--max-growth", type=float, default=0.05,
                        help="sustained: latency grows at most this many seconds per second")
    parser.add_argument("--drain-timeout", type=float, default=60,
                        help="seconds after a load for every event to become visible")
    parser.add_argument("--abort-lag", type=float, default=30)
    parser.add_argument("--warmup-rate", type=float, default=1000)
    parser.add_argument("--warmup-batches", type=int, default=5)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--load-tick", type=float, default=0.25,
                        help="seconds between a load producer's sends (one per event type)")
    parser.add_argument("--live-stores", type=int, default=1000)
    parser.add_argument("--live-products", type=int, default=500)
    parser.add_argument("--live-rate", type=float, default=1.5, help="simulator rate of the pool")
    parser.add_argument("--caps", type=lambda s: [int(x) for x in s.split(",")],
                        default=[50_000, 100_000])
    parser.add_argument("--backlog-stores", type=int, default=1000)
    parser.add_argument("--backlog-products", type=int, default=500)
    parser.add_argument("--backlog-rate", type=float, default=0.22)
    parser.add_argument("--poll-records", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--other-limit", type=float, default=0.3,
                        help="cores other work may use during a load before it is repeated")
    parser.add_argument("--retries", type=int, default=2,
                        help="loads repeated at most (over the run) because of other work")
    parser.add_argument("--wait-idle", type=float, default=240,
                        help="seconds (over the whole run) to wait for other work on the "
                             "machine to end before a measurement")
    parser.add_argument("--skip-latency", action="store_true", help="(development)")
    parser.add_argument("--skip-throughput", action="store_true", help="(development)")
    parser.add_argument("--tmp", type=Path, default=None, help="scratch directory")
    parser.add_argument("--write", type=Path, help="also write the markdown section here")
    parser.add_argument("--save", type=Path, help="(development) pickle the measurements here")
    parser.add_argument("--report-from", type=Path,
                        help="(development) only write the report of measurements saved by --save")
    args = parser.parse_args()
    if args.report_from:
        tp, lat, total_s = pickle.loads(args.report_from.read_bytes())
        args.quiet = Quiet(0)
        # the measurements ended when they were saved
        args.measured_at = datetime.fromtimestamp(args.report_from.stat().st_mtime, UTC) \
            - timedelta(seconds=total_s)
        text = report(args, tp, lat, total_s)
        print(text)
        if args.write:
            write_section(args.write, "stream", text)
        return
    began = time.perf_counter()
    args.quiet = Quiet(args.wait_idle)
    args.quiet({})
    tmp = Path(tempfile.mkdtemp(prefix="retail-bench-stream-", dir=args.tmp))
    server = WarehouseProcess(tmp / "warehouse")
    server.start()
    try:
        # Latency first: its producer and baseline processes are forked, which is safe only
        # before this process starts Spark (the throughput part runs it in-process).
        lat = None if args.skip_latency else bench_latency(args, tmp, server)
        tp = None if args.skip_throughput else bench_throughput(args, tmp, server)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if lat is None or tp is None:
        return
    if args.save:
        args.save.write_bytes(pickle.dumps((tp, lat, time.perf_counter() - began)))
    text = report(args, tp, lat, time.perf_counter() - began)
    print(text)
    if args.write:
        write_section(args.write, "stream", text)


if __name__ == "__main__":
    main()
