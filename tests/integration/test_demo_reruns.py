"""The demo's flow (``make demo``) run three times on a small chain: every table's counts and
sums, and the executive KPIs, stay what the first run made of them.

Each run simulates the same day into Kafka again, streams it, and backfills the same
history straight into the warehouse, as a user re-running ``make demo`` does. The stream's
id memory in Spark is set to about a second so that, as in a re-run minutes or hours later,
only the warehouse's durable memory stands between the copies and the tables; the third
run also starts from a fresh checkpoint and reads every copy in Kafka again.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from retail.warehouse.load import DIMENSIONS, PROMOTIONS, REFERENCE
from tests.conftest import retail_cli as retail
from tests.conftest import stop_merges
from tests.integration.stream_harness import StreamEnv

pytestmark = pytest.mark.integration

CHAIN = ["--stores", "2", "--products", "30"]
# Tables whose rows record the runs themselves, not the data: they grow with every run.
RUN_LOGS = {"schema_migrations", "stream_batches", "stream_event_ids", "job_runs"}


@pytest.fixture
def demo_env(fresh_broker, fresh_database, migrated, tmp_path, monkeypatch) -> StreamEnv:
    env = StreamEnv(kafka=fresh_broker.settings, warehouse=fresh_database, wh=migrated,
                    root=tmp_path, stream={"dedup_minutes": 0.02})
    for key, value in env.env().items():
        if key.startswith("RETAIL_"):
            monkeypatch.setenv(key, value)
    # The counts compared move only when a run writes; the dimensions, the reference tables
    # and the promotion calendar stay mergeable, as `warehouse load-dims` merges them
    # itself (OPTIMIZE ... FINAL; a stopped merge cancels it).
    stop_merges(migrated, keep=(*DIMENSIONS, *REFERENCE, PROMOTIONS))
    return env


def _demo_flow(checkpoint: str | None = None) -> list[dict]:
    today = datetime.now(UTC).date()
    # as the Makefile's demo: the day before yesterday (over in every store's time zone)
    # through Kafka, the ten days before it straight into the warehouse
    stream_day, history_start = today - timedelta(days=2), today - timedelta(days=12)
    retail("simulate", *CHAIN, "--rate", "10", "--days", "1", "--start", str(stream_day))
    retail("warehouse", "load-dims", *CHAIN)
    stream = ["stream", "run", "--available-now", "--late-after", "2880"]
    if checkpoint:
        stream += ["--checkpoint", checkpoint]
    retail(*stream)
    retail("simulate", "--sink", "warehouse", *CHAIN, "--rate", "10", "--days", "10",
            "--start", str(history_start))
    retail("batch", "daily-etl", "--date", str(stream_day))  # the demo closes its day
    return json.loads(retail("query", "executive_kpis", "--format", "json"))


def _tables_summary(env: StreamEnv) -> dict[str, tuple]:
    """Per data table: count() and the sum of every numeric column (no FINAL: what an
    aggregate or a careless query sees)."""
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, name, kind in env.rows(
            "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine LIKE '%MergeTree') ORDER BY table, position"):
        if table in RUN_LOGS:
            continue
        numeric = kind.removeprefix("Nullable(").startswith(("Int", "UInt", "Float", "Decimal"))
        columns.setdefault(table, [])
        if numeric and not name.endswith("_key"):  # keys are hashes: their sums overflow
            columns[table].append((name, kind))
    out = {}
    for table, cols in columns.items():
        sums = ", ".join(f"toFloat64(sum(`{n}`))" for n, _ in cols)
        out[table] = env.rows(f"SELECT count(){', ' + sums if sums else ''} FROM `{table}`")[0]
    return out


def _same(a: dict[str, tuple], b: dict[str, tuple]) -> list[str]:
    differ = [t for t in a.keys() | b.keys() if t not in a or t not in b or len(a[t]) != len(b[t])
              or not all(math.isclose(x or 0, y or 0, rel_tol=1e-9, abs_tol=1e-6)
                         for x, y in zip(a[t], b[t], strict=True))]
    return sorted(differ)


def test_running_the_demo_flow_three_times_changes_no_count_sum_or_kpi(demo_env):
    kpis = _demo_flow()
    first = _tables_summary(demo_env)
    assert first["fact_sales"][0] > 0 and first["raw_events"][0] > 0
    assert kpis and kpis[0]["revenue"] > 0

    assert _demo_flow() == kpis
    assert _same(_tables_summary(demo_env), first) == []

    assert _demo_flow(checkpoint=str(demo_env.root / "fresh-checkpoint")) == kpis
    assert _same(_tables_summary(demo_env), first) == []
    (dropped,), = demo_env.rows("SELECT sum(duplicate_rows) FROM stream_batches")
    assert dropped > 0  # the warehouse memory, not luck, kept the copies out
