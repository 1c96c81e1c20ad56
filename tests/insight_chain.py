"""One small simulated chain, shared by the insight models' integration tests (anomalies,
slow movers, cross-sell): planted anomalies and fades at high rates, loyal customers and
basket affinities, loaded into a warehouse database of its own, some days closed and
featurized. Built once per session (about a minute); read-only for its users, who write
their models' outputs through their jobs' idempotent writes only.

``tests/conftest.py`` registers :func:`insight_chain`."""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from retail.features.build import run_days
from retail.io.lake import LakeWriter
from retail.io.warehouse import connect
from retail.settings import LakeSettings, WarehouseSettings, load_settings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.truth import write_truth
from retail.simulate import WarehouseSink, backfill
from retail.streaming.job import spark_session
from retail.warehouse.load import AHEAD_DAYS, load_dimensions
from retail.warehouse.migrate import Migrator

STORES, PRODUCTS, RATE, SEED = 4, 120, 4.0, 19
LAST = date(2026, 10, 18)  # a Sunday
DAYS = 49
START = LAST - timedelta(days=DAYS - 1)
# weekly, from the fourth week: each has 21 days of history before it
FEATURE_DAYS = [START + timedelta(days=d) for d in range(20, DAYS, 7)]
ANOMALY_RATE, FADE_RATE = 0.01, 0.15


@dataclass
class InsightChain:
    settings: WarehouseSettings
    env: dict[str, str]  # RETAIL_* for the CLI and the jobs (and PYSPARK_PYTHON)
    sim: Simulator
    start: date
    end: date
    feature_days: list[date]
    truth_dir: Path


@pytest.fixture(scope="session")
def insight_chain(warehouse_settings, tmp_path_factory):
    from tests.conftest import retail_cli

    root = tmp_path_factory.mktemp("insight-chain")
    ws = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    with connect(ws, database="") as admin:
        Migrator(admin, ws.database, lambda db: connect(ws, db)).migrate()
    env = {"RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE": ws.database,
           "RETAIL_LAKE__ROOT": str(root / "lake"), "RETAIL_LOCAL__HOME": str(root / "home"),
           "PYSPARK_PYTHON": sys.executable}
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=START, days=DAYS,
                                       anomaly_rate=ANOMALY_RATE, fade_rate=FADE_RATE))
    try:
        with pytest.MonkeyPatch.context() as mp, connect(ws) as wh:
            for key, value in env.items():
                mp.setenv(key, value)
            clock = time.perf_counter()
            load_dimensions(wh, catalog, START, DAYS + AHEAD_DAYS, seed=SEED)
            backfill(sim, WarehouseSink(wh, catalog, run_id="insight-chain",
                                        lake=LakeWriter(LakeSettings(root=str(root / "lake")))))
            steps = {"simulated and loaded": time.perf_counter() - clock}
            clock = time.perf_counter()
            for day in FEATURE_DAYS:  # the features read the facts; their day needs closing
                retail_cli("batch", "close-imported", "--from", str(day), "--to", str(day))
            steps[f"closed {len(FEATURE_DAYS)} days"] = time.perf_counter() - clock
            clock = time.perf_counter()
            # the weekly days in one Spark plan (the CLI builds a range of days)
            built = run_days(spark_session(load_settings(), "insight-chain"), load_settings(),
                             wh, FEATURE_DAYS)
            assert [r.day for r in built] == FEATURE_DAYS and all(r.rows for r in built)
            steps["featurized them"] = time.perf_counter() - clock
            print("insight chain:", ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
        truth = root / "truth"
        write_truth(sim, truth)
        yield InsightChain(ws, env, sim, START, LAST, FEATURE_DAYS, truth)
    finally:
        with connect(ws, database="") as admin:
            admin.command(f"DROP DATABASE IF EXISTS `{ws.database}` SYNC")
