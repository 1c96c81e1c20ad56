"""Where a micro-batch's time goes: the stream over a backlog, profiled.

Runs the stream (``StreamRunner``, Trigger.AvailableNow, in this process) over a simulated
backlog with Spark's event log on and py-spy sampling this process and its children (the
Python side of the driver and Spark's Python workers), then prints

- per micro-batch: its rows, its seconds, the Spark jobs it launched, and their stages and
  tasks (from the event log: each job carries the batch id Spark's streaming engine or
  ``foreachBatch`` gave it, or falls between two batches' reports);
- the Spark jobs by call site (what part of the code launched them) with their seconds;
- the py-spy samples by process kind and by the function the time was spent in.

Usage: ``python tests/bench/stream_profile.py [--stores 300 --products 500 --cap 50000]``
(py-spy needs ptrace: run as root or with ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Broker, WarehouseProcess  # noqa: E402
from retail.io.parallel import ParallelProducer  # noqa: E402
from retail.settings import LakeSettings, LocalSettings, Settings, StreamSettings  # noqa: E402

from stream_common import (REPLAY_LATE_AFTER_MINUTES, make_database, say, seed_state,  # noqa: E402
                           simulate)


def _events(log_dir: Path) -> list[dict]:
    out = []
    # Spark 4 writes rolling logs: a directory per application, files events_<n>_... in it
    for f in sorted(p for p in log_dir.rglob("events_*") if p.is_file()):
        with f.open() as fh:
            out.extend(json.loads(line) for line in fh if line.strip())
    return out


def spark_jobs(log_dir: Path) -> list[dict]:
    """Every job of the event log: id, start/end (s since epoch), call site, stages, tasks."""
    jobs, stage_tasks, stage_run = {}, collections.Counter(), collections.Counter()
    stage_job = {}
    for e in _events(log_dir):
        kind = e.get("Event")
        if kind == "SparkListenerJobStart":
            props = e.get("Properties") or {}
            jobs[e["Job ID"]] = {
                "id": e["Job ID"], "start": e["Submission Time"] / 1000,
                "site": props.get("callSite.short") or
                e["Stage Infos"][0].get("Stage Name", "?"),
                "batch": props.get("streaming.sql.batchId"),
                "stages": [s["Stage ID"] for s in e["Stage Infos"]]}
            for s in e["Stage Infos"]:
                stage_job[s["Stage ID"]] = e["Job ID"]
        elif kind == "SparkListenerJobEnd":
            jobs[e["Job ID"]]["end"] = e["Completion Time"] / 1000
        elif kind == "SparkListenerTaskEnd":
            stage_tasks[e["Stage ID"]] += 1
            stage_run[e["Stage ID"]] += (e.get("Task Metrics") or {}).get(
                "Executor Run Time", 0) / 1000
    for j in jobs.values():
        ran = [s for s in j["stages"] if stage_tasks[s]]  # skipped stages ran no task
        j["stages_run"] = len(ran)
        j["tasks"] = sum(stage_tasks[s] for s in ran)
        j["task_s"] = sum(stage_run[s] for s in ran)
        j["seconds"] = j.get("end", j["start"]) - j["start"]
    return sorted(jobs.values(), key=lambda j: j["start"])


_KINDS = (("pyspark.worker", "Spark Python worker (tasks: Kafka read, parse)"),
          ("python_streaming_source_runner", "Spark Python source runner (offsets)"),
          ("pyspark.sql.worker", "Spark Python planning workers"),
          ("warehouse serve", "warehouse server"))


def _kind(process: str) -> str:
    return next((k for tag, k in _KINDS if tag in process), "driver (Python)")


def py_spy_summary(raw: Path, top: int) -> tuple[dict[str, int], list[tuple[str, int]], int]:
    """Samples per process kind (the innermost ``process`` frame of each stack), and the
    places with the most samples: the innermost frame in pkg/retail, else the leaf."""
    by_proc, by_fn, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        procs = [f for f in frames if f.startswith("process ")]
        kind = _kind(procs[-1]) if procs else "?"
        by_proc[kind] += n
        code = [f for f in frames if not f.startswith("process ")]
        leaf = next((f for f in reversed(code) if "/retail/" in f), code[-1] if code else "-")
        by_fn[f"{kind}: {leaf.split(' (')[0]} ({leaf.rsplit('/', 1)[-1].rstrip(')')})"] += n
    return by_proc, by_fn.most_common(top), total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stores", type=int, default=300)
    p.add_argument("--products", type=int, default=500)
    p.add_argument("--rate", type=float, default=0.22)
    p.add_argument("--cap", type=int, default=25_000)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--rate-hz", type=int, default=25, help="py-spy samples per second")
    p.add_argument("--no-py-spy", action="store_true")
    p.add_argument("--keep", type=Path, help="copy the event log and py-spy output here")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="retail-stream-profile-"))
    log_dir = tmp / "eventlog"
    log_dir.mkdir()
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{log_dir} "
        "--conf spark.eventLog.compress=false "
        "pyspark-shell")
    server, broker = WarehouseProcess(tmp / "warehouse"), Broker(tmp)
    server.start()
    broker.start()
    spy = None
    try:
        start = datetime.now(UTC).date() - timedelta(days=2)
        catalog, tables = simulate(args.stores, args.products, args.rate, start, args.seed)
        n = sum(t.num_rows for t in tables.values())
        producer = ParallelProducer(broker.settings)
        for t in tables.values():
            producer.send_table(t)
        producer.close()
        ws, wh = make_database(server, "profile", catalog, start, 4)
        keys = seed_state(wh, tables, datetime.combine(start, datetime.min.time(), UTC))
        say(f"{n:,} events in Kafka; {keys:,} keys seeded")
        settings = Settings(
            env="local", kafka=broker.settings, warehouse=ws,
            lake=LakeSettings(root=str(tmp / "lake")), local=LocalSettings(home=tmp / "home"),
            stream=StreamSettings(checkpoint_dir=str(tmp / "checkpoint"),
                                  max_offsets_per_trigger=args.cap,
                                  late_after_minutes=REPLAY_LATE_AFTER_MINUTES))
        from retail.streaming.job import StreamRunner, spark_session

        spark_session(settings)
        reports, marks = [], []
        spy_out = tmp / "py-spy.txt"

        def on_batch(r):
            nonlocal spy, began
            reports.append(r)
            marks.append(time.time())
            say(f"batch {r.batch_id}: {r.input_rows:,} rows in {r.seconds:.2f} s; "
                + ", ".join(f"{k} {v:.2f}" for k, v in r.stages.items()))
            if len(reports) == 1:  # the first batch warms up (JIT, workers): left out
                began = time.time()
                if not args.no_py_spy:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                         str(os.getpid()), "--subprocesses", "--nonblocking", "--format",
                         "raw", "--rate", str(args.rate_hz), "-o", str(spy_out)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        began = time.time()
        summary = StreamRunner(settings, on_batch=on_batch, max_restarts=0).run(
            available_now=True)
        wall = time.time() - began
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        wh.close()
    finally:
        broker.stop()
        server.stop()
    rows = sum(r.input_rows for r in reports[1:])
    say(f"after the warm-up batch: {rows:,} events, {len(reports) - 1} batches in {wall:.1f} s "
        f"({rows / wall:,.0f} events/s by wall; "
        f"{rows / sum(r.seconds for r in reports[1:]):,.0f} in batches)")
    jobs = [j for j in spark_jobs(log_dir) if j["start"] >= began]
    edges = marks
    print("\nper micro-batch after the first (jobs counted between two batch reports):")
    print("| batch | rows | seconds | Spark jobs | stages run | tasks | job seconds |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(reports[1:]):
        mine = [j for j in jobs if edges[i] <= j["start"] < edges[i + 1]]
        print(f"| {r.batch_id} | {r.input_rows:,} | {r.seconds:.2f} | {len(mine)} | "
              f"{sum(j['stages_run'] for j in mine)} | {sum(j['tasks'] for j in mine)} | "
              f"{sum(j['seconds'] for j in mine):.2f} |")
    print("\nSpark jobs by call site (all batches):")
    print("| call site | jobs | seconds | task seconds |")
    print("|---|---:|---:|---:|")
    sites = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for j in jobs:
        s = sites[j["site"]]
        s[0] += 1
        s[1] += j["seconds"]
        s[2] += j["task_s"]
    for site, (k, sec, task) in sorted(sites.items(), key=lambda kv: -kv[1][1]):
        print(f"| {site} | {k} | {sec:.2f} | {task:.2f} |")
    if spy is not None and spy_out.exists():
        by_proc, top, total = py_spy_summary(spy_out, args.top)
        print(f"\npy-spy: {total:,} samples at {args.rate_hz}/s (busy threads only)")
        for proc, k in by_proc.most_common():
            print(f"- {proc}: {k:,} ({k / max(total, 1):.0%})")
        print("\n| where (innermost frame in pkg/retail, else the leaf) | samples |")
        print("|---|---:|")
        for fn, k in top:
            print(f"| {fn} | {k:,} |")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        shutil.copytree(log_dir, args.keep / "eventlog", dirs_exist_ok=True)
        if spy is not None and spy_out.exists():
            shutil.copy(spy_out, args.keep / "py-spy.txt")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
