"""`make bench` (batch): one day of the design's size through ``daily_etl`` and
``build_features``, and what replacing a closed day would cost instead of completing it.

1. A chain of 200 stores x 2,000 SKUs simulated at a rate that gives day D at least
   1,000,000 sales lines ("1M+ transactions/day"), D and the days either side of it written
   to a lake directory (the ETL reads the UTC days around D); the dimensions, calendar,
   weather and local events in a fresh local warehouse server.
2. 89 days of history before D, made in the warehouse from D's own facts
   (:mod:`batch_history`), so both jobs meet a warehouse that holds 90 days.
3. ``daily_etl`` closes D, then ``build_features`` builds D, each in its own process as the
   job image runs it (Spark local mode on this machine's cores): seconds, rows/s, peak
   memory of the job's processes (Python, Spark's JVM and Python workers) and of the
   warehouse server, the cores each used, and where the time went (:mod:`batch_job`).
4. Completing against replacing: ``daily_etl`` runs D again (completion: nothing missing),
   then D is replaced (:mod:`batch_replace`: delete it from every fact and aggregate,
   insert it again from the processed zone); every total of D must come out the same.

Baseline in the same run: D's sales aggregated per store and SKU as one ClickHouse
``INSERT ... SELECT`` over the same fact rows (median of 3). Between steps the benchmark
waits until the warehouse runs no merges, so each step starts on a quiet warehouse.

Usage: ``python tests/bench/bench_batch.py [--stores 200 --products 2000 --rate 14
--history-days 90 --day D --driver-memory 4g] [--write docs/benchmarks.md]``; about 35
minutes on 2 cores, most of it making the history; ``--stores 10 --products 200
--history-days 8`` checks the script in a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_history import build_history, parts, settle, stage_day  # noqa: E402
from batch_replace import day_totals, month_rows, replace_day  # noqa: E402
from batch_report import render  # noqa: E402
from conftest import WarehouseProcess  # noqa: E402
from report import write_section  # noqa: E402
from stream_common import say  # noqa: E402

from retail.io.lake import LakeWriter  # noqa: E402
from retail.io.warehouse import connect  # noqa: E402
from retail.settings import LakeSettings  # noqa: E402
from retail.sim import SimConfig, Simulator, generate_catalog  # noqa: E402
from retail.simulate import ParquetSink  # noqa: E402
from retail.warehouse.load import load_dimensions  # noqa: E402
from retail.warehouse.migrate import Migrator  # noqa: E402

JOB = Path(__file__).resolve().parent / "batch_job.py"
BASELINE = ("INSERT INTO bench_agg SELECT date_key, store_key, product_key, sum(quantity), "
            "sum(revenue) FROM fact_sales WHERE date_key = {d:UInt32} "
            "GROUP BY date_key, store_key, product_key")


class Server:
    """The warehouse server's peak memory per step (VmHWM after ``clear_refs``)."""

    def __init__(self, proc: WarehouseProcess):
        self.proc, self.pid = proc, proc.proc.pid

    def reset_peak(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS

    def peak_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024


_HZ = os.sysconf("SC_CLK_TCK")


def _ticks() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, the process's own CPU ticks) of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            out[int(d)] = (int(f[1]), int(f[11]) + int(f[12]))
    return out


class Cores:
    """Cores used per component while a step runs, looked at every second, so processes
    that end before the step does (the job, its JVM, Spark's workers) still count: each
    counts for the nearest of its ancestors named in ``roots`` (by the parent it had when
    first seen), else for "other (not this benchmark)"."""

    OTHER = "other (not this benchmark)"

    def __init__(self, roots: dict[int, str]):
        self.roots, self.first, self.seen = roots, _ticks(), {}
        self.parent = {pid: ppid for pid, (ppid, _) in self.first.items()}
        self.t0, self.machine0 = time.perf_counter(), self._machine()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    @staticmethod
    def _machine() -> tuple[int, int]:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(v[:8]), v[3] + v[4]  # all ticks, idle + iowait

    def _look(self) -> None:
        for pid, (ppid, ticks) in _ticks().items():
            self.parent.setdefault(pid, ppid)
            self.seen[pid] = ticks

    def _watch(self) -> None:
        while not self.done.wait(1):
            self._look()

    def _group(self, pid: int) -> str:
        for _ in range(64):
            if pid in self.roots:
                return self.roots[pid]
            if pid not in self.parent:
                break
            pid = self.parent[pid]
        return self.OTHER

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.thread.join()
        self._look()
        wall = time.perf_counter() - self.t0
        out: dict[str, float] = {}
        for pid, ticks in self.seen.items():
            used = ticks - self.first.get(pid, (0, 0))[1]
            if used > 0:
                group = self._group(pid)
                out[group] = out.get(group, 0.0) + used / _HZ / wall
        total, idle = (a - b for a, b in zip(self._machine(), self.machine0))
        out["machine busy"] = 1 - idle / total if total else 0.0
        return out


def measured(server: Server, roots: dict[int, str], fn) -> dict:
    """Run ``fn`` with the server's peak memory and every process's cores measured."""
    server.reset_peak()
    cpu = Cores({**roots, server.pid: "warehouse server"})
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    return {**(out or {}), "wall_s": wall, "server_peak_mb": server.peak_mb(),
            "cpu": cpu.stop()}


def job(server: Server, name: str, day: date, lake: str, url: str, heap: str) -> dict:
    """``batch_job.py name`` in its own process with a Spark heap of ``heap``; its JSON
    result, measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
    env["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {heap} pyspark-shell"
    cmd = [sys.executable, str(JOB), name, "--day", str(day), "--lake", lake,
           "--warehouse", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)

    def wait() -> dict:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"{name} exited {proc.returncode}: {out[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    result = measured(server, {proc.pid: "job", os.getpid(): "bench"}, wait)
    say(f"{name}: {result['seconds']:.1f} s in the job ({result['wall_s']:.0f} s with Spark's "
        f"start), peak {result['peak_mb']:,.0f} MB, server peak "
        f"{result['server_peak_mb']:,.0f} MB")
    return result


def baseline(wh, day: date, server: Server) -> dict:
    wh.command("CREATE TABLE bench_agg (date_key UInt32, store_key Int64, product_key Int64, "
               "units Int64, revenue Decimal(38, 2)) ENGINE = MergeTree "
               "ORDER BY (store_key, product_key)")
    times = []

    def once() -> dict:
        wh.command("TRUNCATE TABLE bench_agg")
        t = time.perf_counter()
        wh.command(BASELINE, {"d": int(day.strftime("%Y%m%d"))})
        times.append(time.perf_counter() - t)
        return {}

    runs = [measured(server, {os.getpid(): "bench"}, once) for _ in range(3)]
    rows = int(wh.query_rows("SELECT count() FROM bench_agg")[0][0])
    return {"seconds": statistics.median(times), "times": times, "rows": rows,
            "server_peak_mb": max(r["server_peak_mb"] for r in runs)}


def run(args) -> dict:
    day = args.day or datetime.now(UTC).date() - timedelta(days=3)
    d = int(day.strftime("%Y%m%d"))
    r: dict = {"day": day, "started": datetime.now(UTC)}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        proc = WarehouseProcess(Path(tmp) / "server")
        proc.start()
        try:
            ws = proc.settings()
            Migrator(connect(ws, database=""), "retail", lambda db: connect(ws, db)).migrate()
            wh, server = connect(ws), Server(proc)
            catalog = generate_catalog(args.stores, args.products, 7)
            first = day - timedelta(days=args.history_days + 6)
            load_dimensions(wh, catalog, first, args.history_days + 14)
            lake = LakeSettings(root=str(Path(tmp) / "lake"))
            sink = ParquetSink(LakeWriter(lake))

            def write_lake(i: int, batch) -> None:
                for event_type, table in batch.tables.items():
                    sink.write(event_type, table, f"bench-{i:05d}")

            t = time.perf_counter()
            # the lake holds the days around D too: the ETL reads the UTC days D-1..D+1
            sim = Simulator(catalog, SimConfig(seed=7, rate=args.rate, days=3,
                                               start=day - timedelta(days=1)))
            r["staged"] = stage_day(wh, sim, day, write_lake)
            r["sim_s"] = time.perf_counter() - t
            r["sales_lines"] = int(wh.query_rows(
                "SELECT count() FROM bench_day_fact_sales WHERE date_key = {d:UInt32}",
                {"d": d})[0][0])
            say(f"simulated {day - timedelta(days=1)}..{day + timedelta(days=1)} into the lake "
                f"in {r['sim_s']:.0f} s; D: {r['sales_lines']:,} sales lines, "
                f"{sum(r['staged'].values()):,} fact rows")
            r["history"] = build_history(wh, day, args.history_days, progress=say)
            r["settle_s"] = [settle(wh, progress=say)]
            r["parts_before"] = parts(wh)
            url = ws.url

            r["etl"] = job(server, "etl", day, lake.root, url, args.driver_memory)
            r["settle_s"].append(settle(wh, progress=say))
            r["baseline"] = baseline(wh, day, server)
            say(f"baseline: {r['baseline']['seconds']:.2f} s (median of 3)")
            r["features"] = job(server, "features", day, lake.root, url, args.driver_memory)
            r["settle_s"].append(settle(wh, progress=say))

            r["totals_before"] = day_totals(wh, day)
            r["month_rows"] = month_rows(wh, day)
            r["complete"] = job(server, "etl", day, lake.root, url, args.driver_memory)
            r["settle_s"].append(settle(wh, progress=say))
            r["replace"] = measured(server, {os.getpid(): "bench"},
                                    lambda: {"steps": replace_day(wh, lake, day)})
            r["replace"]["seconds"] = r["replace"]["wall_s"]
            say(f"replace: {r['replace']['seconds']:.1f} s")
            r["totals_after"] = day_totals(wh, day)
            r["parts_after"] = parts(wh)
        finally:
            proc.stop()
    r["finished"] = datetime.now(UTC)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stores", type=int, default=200)
    p.add_argument("--products", type=int, default=2000)
    p.add_argument("--rate", type=float, default=14,
                   help="events per minute per store (14: >= 1M sales lines on any ordinary "
                        "day of 200 stores)")
    p.add_argument("--history-days", type=int, default=90,
                   help="days in the warehouse up to D, D included")
    p.add_argument("--day", type=date.fromisoformat,
                   help="the day D (default: 3 days ago, UTC)")
    p.add_argument("--driver-memory", default="4g",
                   help="Spark's heap in local mode, driver and both task slots (the chart "
                        "gives each job a 2g driver and two 2g executors; at this size the "
                        "ETL ran out of heap with 1g and 2g)")
    p.add_argument("--write", type=Path)
    p.add_argument("--keep-json", type=Path, help="also write the raw figures as JSON")
    args = p.parse_args()
    r = run(args)
    if args.keep_json:
        args.keep_json.write_text(json.dumps(r, default=str, indent=1))
    text = render(args, r)
    print(text)
    if args.write:
        write_section(args.write, "batch", text)


if __name__ == "__main__":
    main()
