"""What the three insight-model benches share: their chain options, a Spark session sized for
the design's chain, and a simulated chain in a warehouse server of its own."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from conftest import WarehouseProcess
from pyspark.sql import SparkSession
from stream_common import say

from retail.io.warehouse import ClickHouseWarehouse, connect
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink, backfill
from retail.warehouse.load import AHEAD_DAYS, load_dimensions
from retail.warehouse.migrate import Migrator


def chain_arguments(description: str, days: int, settings: str) -> argparse.ArgumentParser:
    """``--stores --products --days --rate --seed --start --settings --json``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--stores", type=int, default=200)
    p.add_argument("--products", type=int, default=2000)
    p.add_argument("--days", type=int, default=days)
    p.add_argument("--rate", type=float, default=4.0, help="events/minute/store")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start", type=date.fromisoformat, default=date(2026, 3, 2))
    p.add_argument("--settings", default="{}", help=f"{settings} as JSON")
    p.add_argument("--json", type=Path, help="write the figures here")
    return p


def bench_spark(app: str) -> SparkSession:
    """Local Spark on both cores, with the jobs' 6g heap (BENCH_DRIVER_MEMORY): 1g ran out
    at 200 x 2,000."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master("local[2]").appName(app)
            .config("spark.driver.memory", os.environ.get("BENCH_DRIVER_MEMORY", "6g"))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.ui.enabled", "false").getOrCreate())


def simulated_chain(a: argparse.Namespace, folder: Path, run_id: str, **planted: float
                    ) -> tuple[WarehouseProcess, ClickHouseWarehouse, Simulator, float]:
    """``a``'s chain (with ``planted`` rates: ``anomaly_rate``, ``fade_rate``) simulated into
    a fresh, migrated warehouse server under ``folder``: (server, client, simulator, the
    seconds the simulation and load took)."""
    server = WarehouseProcess(folder / "server")
    server.start(timeout_s=300)
    ws = server.settings()
    Migrator(connect(ws, database=""), "retail", lambda db: connect(ws, db)).migrate()
    wh = connect(ws)
    catalog = generate_catalog(a.stores, a.products, a.seed)
    load_dimensions(wh, catalog, a.start, a.days + AHEAD_DAYS, seed=a.seed)
    sim = Simulator(catalog, SimConfig(seed=a.seed, rate=a.rate, start=a.start, days=a.days,
                                       **planted))
    t = time.perf_counter()
    backfill(sim, WarehouseSink(wh, catalog, run_id=run_id))
    seconds = time.perf_counter() - t
    say(f"simulated and loaded {a.stores} x {a.products} x {a.days} days in {seconds:.0f} s")
    return server, wh, sim, seconds
