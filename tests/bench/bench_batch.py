"""`make bench` (batch): one simulated day of the design's size through the daily ETL.

A chain of 200 stores x 2,000 SKUs simulated for one day at a rate that gives at least
1,000,000 sales lines ("1M+ transactions/day"), written to a lake directory, with the
dimensions in a fresh local warehouse server. Then ``daily_etl`` closes the day (Spark local
mode on this machine's cores, as `retail batch daily-etl` runs it): seconds, rows/s, and the
peak memory of the job's processes (Python and Spark's JVM). Baseline in the same run: the
same day's sales aggregation as one ClickHouse ``INSERT ... SELECT`` over the same rows.

Usage: ``python tests/bench/bench_batch.py [--stores 200 --products 2000 --rate 12]
[--write docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WarehouseProcess  # noqa: E402
from report import write_section  # noqa: E402

from retail.io.lake import LakeWriter  # noqa: E402
from retail.io.warehouse import connect  # noqa: E402
from retail.settings import LakeSettings, Settings  # noqa: E402
from retail.sim import SimConfig, Simulator, generate_catalog  # noqa: E402
from retail.simulate import ParquetSink  # noqa: E402
from retail.warehouse.load import load_dimensions  # noqa: E402
from retail.warehouse.migrate import Migrator  # noqa: E402


def peak_mb(pid: int) -> float:
    """VmHWM of ``pid`` and its descendants (Spark's JVM is a child of Python)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(status.split("VmHWM:")[1].split()[0])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, IndexError):
            continue
        stack.extend(int(c) for c in children)
    return total / 1024


def run(args) -> dict:
    from retail.batch.runner import run_days
    from retail.streaming.job import spark_session

    day = datetime.now(UTC).date() - timedelta(days=3)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        server = WarehouseProcess(Path(tmp) / "server")
        server.start()
        try:
            ws = server.settings()
            Migrator(connect(ws, database=""), "retail", lambda db: connect(ws, db)).migrate()
            wh = connect(ws)
            catalog = generate_catalog(args.stores, args.products, 7)
            load_dimensions(wh, catalog, day - timedelta(days=30), 32)
            lake = LakeSettings(root=str(Path(tmp) / "lake"))
            t = time.perf_counter()
            sim = Simulator(catalog, SimConfig(seed=7, rate=args.rate, days=1, start=day))
            sink = ParquetSink(LakeWriter(lake))
            for i, batch in enumerate(sim.run()):
                for event_type, table in batch.tables.items():
                    sink.write(event_type, table, f"bench-{i:05d}")
            sim_s = time.perf_counter() - t
            print(f"simulated and wrote the day in {sim_s:.0f} s", flush=True)
            settings = Settings(lake=lake, warehouse=ws)
            spark = spark_session(settings, "bench-daily-etl")
            t = time.perf_counter()
            report = run_days(spark, settings, wh, [day])[0]
            etl_s = time.perf_counter() - t
            etl_peak = peak_mb(os.getpid())
            spark.stop()
            sales = next(r for r in report.topics if r.event_type == "sales_transaction")
            wh.command("CREATE TABLE bench_agg (date_key UInt32, store_key Int64, "
                       "product_key Int64, units Int64, revenue Decimal(38, 2)) "
                       "ENGINE = MergeTree ORDER BY (store_key, product_key)")
            t = time.perf_counter()
            wh.command("INSERT INTO bench_agg SELECT date_key, store_key, product_key, "
                       "sum(quantity), sum(revenue) FROM fact_sales WHERE date_key = {d:UInt32} "
                       "GROUP BY date_key, store_key, product_key",
                       {"d": int(day.strftime("%Y%m%d"))})
            base_s = time.perf_counter() - t
            return {"day": day, "sim_s": sim_s, "etl_s": etl_s, "etl_peak_mb": etl_peak,
                    "base_s": base_s, "sales_lines": sales.in_day,
                    "events": sum(r.in_day for r in report.topics),
                    "lake_rows": sum(r.lake for r in report.topics),
                    "balanced": report.balanced}
        finally:
            server.stop()


def render(args, r: dict) -> str:
    rows_s = r["events"] / r["etl_s"]
    return "\n".join([
        "## Batch: the daily ETL on a day of the design's size",
        "",
        f"`python tests/bench/bench_batch.py`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"{args.stores} stores x {args.products:,} SKUs, one day ({r['day']}) at rate "
        f"{args.rate:g}: {r['sales_lines']:,} sales lines, {r['events']:,} events of the "
        f"day, {r['lake_rows']:,} lake rows read (the UTC days around it), simulated and "
        f"written in {r['sim_s']:.0f} s. Spark local mode, the warehouse on `retail "
        "warehouse serve`.",
        "",
        "| step | seconds | rows/s | peak memory MB | vs baseline |",
        "|---|---:|---:|---:|---:|",
        f"| `daily_etl` (read, check, dedup, facts, snapshot, reconcile) | {r['etl_s']:.1f} | "
        f"{rows_s:,.0f} | {r['etl_peak_mb']:,.0f} | {r['etl_s'] / r['base_s']:.0f}x |",
        f"| baseline: the day's sales aggregation as one `INSERT ... SELECT` | "
        f"{r['base_s']:.2f} | {r['sales_lines'] / r['base_s']:,.0f} | - | 1x |",
        "",
        f"The day balanced: {r['balanced']}. Target on 2 cores: ETL and features of a day in "
        "under 10 minutes; the ETL alone took "
        f"{r['etl_s'] / 60:.1f} minutes.",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stores", type=int, default=200)
    p.add_argument("--products", type=int, default=2000)
    p.add_argument("--rate", type=float, default=12)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    text = render(args, run(args))
    print(text)
    if args.write:
        write_section(args.write, "batch", text)


if __name__ == "__main__":
    main()
