"""A stream processor under test: its own broker, warehouse database, lake and checkpoint.

``StreamEnv`` simulates a chain into Kafka (keeping the simulator's tables and stock as
the truth), runs the stream in-process (``run``) or as ``retail stream run`` in a
subprocess (``env`` gives its environment), and reads back what landed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from retail.io.producer import EventProducer
from retail.io.warehouse import ClickHouseWarehouse
from retail.settings import KafkaSettings, Settings, WarehouseSettings, load_settings
from retail.sim.catalog import generate_catalog
from retail.sim.engine import SimConfig, Simulator
from retail.warehouse.load import load_dimensions

# Backfilled days are not in time order per partition (the simulator writes a day per
# store-SKU pair): replaying history needs a watermark delay longer than a day.
REPLAY_LATE_AFTER_MINUTES = 3 * 24 * 60


@dataclass
class SimRun:
    tables: dict[str, pa.Table]
    stock: dict[str, int]  # store_id|product_id -> units on hand at the end

    def count(self, event_type: str) -> int:
        t = self.tables.get(event_type)
        return 0 if t is None else t.num_rows


@dataclass
class StreamEnv:
    kafka: KafkaSettings
    warehouse: WarehouseSettings
    wh: ClickHouseWarehouse
    root: Path
    stream: dict = field(default_factory=dict)

    @property
    def lake_root(self) -> Path:
        return self.root / "lake"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    def env(self, **stream: object) -> dict[str, str]:
        """Environment variables for ``retail stream run`` in a subprocess."""
        out = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
        out.update({
            "PYSPARK_PYTHON": sys.executable,
            "RETAIL_KAFKA__BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "RETAIL_KAFKA__FLAVOR": "tansu",
            "RETAIL_WAREHOUSE__URL": self.warehouse.url,
            "RETAIL_WAREHOUSE__DATABASE": self.warehouse.database,
            "RETAIL_LAKE__ROOT": str(self.lake_root),
            "RETAIL_LOCAL__HOME": str(self.root / "home"),
            "RETAIL_STREAM__CHECKPOINT_DIR": str(self.checkpoint),
        })
        for k, v in {**self.stream, **stream}.items():
            out[f"RETAIL_STREAM__{k.upper()}"] = str(v)
        return out

    def settings(self, **stream: object) -> Settings:
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env(**stream))
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def run(self, **stream: object):
        """Process everything in Kafka now (Trigger.AvailableNow) in this process."""
        from retail.streaming.job import StreamRunner

        reports = []
        runner = StreamRunner(self.settings(**stream), on_batch=reports.append, max_restarts=0)
        summary = runner.run(available_now=True)
        summary.reports = reports
        return summary

    def simulate(self, *, stores: int = 2, products: int = 30, days: int = 1,
                 start: date | None = None, rate: float = 10.0, seed: int = 7) -> SimRun:
        """Simulate into Kafka; load the chain's dimensions into the warehouse.

        The default start is two days ago: recent enough for the real-time tables' TTLs
        (raw events are kept 7 days), past enough that nothing is in the future.
        """
        start = start or datetime.now(UTC).date() - timedelta(days=2)
        catalog = generate_catalog(stores, products, seed)
        sim = Simulator(catalog, SimConfig(seed=seed, rate=rate, start=start, days=days))
        load_dimensions(self.wh, catalog, start, days + 1)
        producer = EventProducer(self.kafka, name="test-sim")
        parts: dict[str, list[pa.Table]] = {}
        for batch in sim.run():
            for event_type, table in batch.tables.items():
                producer.send_table(event_type, table)
                parts.setdefault(event_type, []).append(table)
        producer.close()
        assert producer.stats.failed == 0 and producer.stats.invalid == 0, producer.stats
        return SimRun({k: pa.concat_tables(v) for k, v in parts.items()}, sim.ground_truth())

    def rows(self, sql: str, parameters: dict | None = None) -> list[tuple]:
        return self.wh.query_rows(sql, parameters)
