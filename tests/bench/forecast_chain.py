"""The forecast benchmark's chain, built once and kept on disk.

A chain of ``stores`` x ``products`` simulated for ``days`` days (the oracle recorded) into
a local warehouse server whose data directory lives under ``.retail/bench-forecast/<key>``,
the key naming the size, rate and seed. What is built, in order:

1. the dimensions, calendar, weather and local events (``load_dimensions``);
2. every simulated day's events into the fact tables (``WarehouseSink``: the stream's
   path, so the materialized views fill every daily aggregate); the simulator's expected
   demand to ``oracle.parquet``;
3. for each day features are built for: its end-of-day inventory snapshot
   (``retail.batch.snapshot.snapshot_day``, the daily ETL's last step: the ETL's lake
   parsing and fact completion are not run, the facts are complete already), then
   ``build_features``'s rows of the day into ``feature_store_daily`` (the lake copy is not
   written).

``built.json`` records the seconds of each step; a later run finds it and only starts the
server. Delete the folder to rebuild.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from conftest import WarehouseProcess
from stream_common import say

from retail.batch.snapshot import snapshot_day
from retail.features.build import feature_rows, write_changed
from retail.io.warehouse import connect
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink
from retail.streaming.reference import Reference
from retail.warehouse.load import load_dimensions
from retail.warehouse.migrate import Migrator

ROOT = Path(__file__).resolve().parents[2] / ".retail" / "bench-forecast"


@dataclass(frozen=True)
class Chain:
    stores: int
    products: int
    days: int
    seed: int = 42
    rate: float = 4.0  # events per minute per store: ~24 units a pair-day at 300 SKUs
    start: date = date(2026, 3, 2)  # a Monday
    feature_days: int = 92  # the last days the feature store holds

    @property
    def key(self) -> str:
        return (f"{self.stores}x{self.products}x{self.days}d-r{self.rate:g}-s{self.seed}-"
                f"{self.start:%Y%m%d}-f{self.feature_days}")

    @property
    def last(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def first_feature_day(self) -> date:
        return self.last - timedelta(days=min(self.feature_days, self.days) - 1)


class Built:
    """A started server over a built chain: ``wh``, ``oracle`` (Arrow), ``timings``."""

    def __init__(self, chain: Chain, folder: Path, *, migrate: bool = False):
        self.chain, self.folder = chain, folder
        self.server = WarehouseProcess(folder / "server")
        self.server.start(timeout_s=300)
        self.settings = ws = self.server.settings()
        if migrate:
            Migrator(connect(ws, database=""), "retail", lambda db: connect(ws, db)).migrate()
        self.wh = connect(ws)

    @property
    def oracle(self):
        return pq.read_table(self.folder / "oracle.parquet")

    @property
    def timings(self) -> dict:
        return json.loads((self.folder / "built.json").read_text())

    def stop(self) -> None:
        self.server.stop()


def build(chain: Chain, spark, root: Path = ROOT) -> Built:
    """The chain's warehouse, built unless ``built.json`` says it is; the server started."""
    folder = root / chain.key
    done = folder / "built.json"
    if done.exists():
        say(f"chain {chain.key}: cached in {folder}")
        return Built(chain, folder)
    if folder.exists():  # an interrupted build: start again
        import shutil
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    built = Built(chain, folder, migrate=True)
    wh = built.wh
    catalog = generate_catalog(chain.stores, chain.products, chain.seed)
    load_dimensions(wh, catalog, chain.start, chain.days + 14)
    t = time.perf_counter()
    sim = Simulator(catalog, SimConfig(seed=chain.seed, rate=chain.rate, start=chain.start,
                                       days=chain.days), record_expected=True)
    sink = WarehouseSink(wh, catalog, run_id=f"bench-forecast-{chain.key}")
    seen = None
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            sink.write(event_type, table, f"{batch.day:%Y%m%d}-{batch.stores[0]:05d}")
        if batch.day != seen and batch.day.day == 1:
            say(f"simulating {batch.day} ({time.perf_counter() - t:.0f} s)")
        seen = batch.day
    sim_s = time.perf_counter() - t
    pq.write_table(sim.expected_demand(), folder / "oracle.parquet")
    say(f"simulated {chain.days} days in {sim_s:.0f} s: {dict(sink.rows)}")
    ref = Reference.load(wh)
    days = [chain.first_feature_day + timedelta(days=k)
            for k in range((chain.last - chain.first_feature_day).days + 1)]
    snap_s, feature_s = 0.0, []
    for day in days:
        t = time.perf_counter()
        snapshot_day(wh, ref, day)
        snap_s += time.perf_counter() - t
        t = time.perf_counter()
        rows = feature_rows(spark, wh, day)
        write_changed(wh, day, rows)
        feature_s.append(time.perf_counter() - t)
        say(f"features of {day}: {rows.num_rows:,} rows in {feature_s[-1]:.1f} s")
    timings = {"chain": {**asdict(chain), "start": str(chain.start)},
               "pairs": len(catalog.pair_store), "sim_s": sim_s,
               "sim_s_per_day": sim_s / chain.days, "fact_rows": dict(sink.rows),
               "snapshot_s": snap_s, "feature_days": len(days), "features_s": sum(feature_s),
               "features_s_per_day": sum(feature_s) / len(days)}
    done.write_text(json.dumps(timings, indent=1))
    return built
