"""The shape of a micro-batch: how many Spark jobs it launches.

A Spark job costs a micro-batch a fixed slice of time (planning, scheduling, tasks and, for
a broadcast, a job of its own) whatever its size, and that fixed cost is a floor under the
stream's latency. The design runs one job per micro-batch: the read, parse and checks, on
the executors; the rest is computed from the Arrow table that job hands the driver. A
change that brings back a job per sink or per transform fails here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from retail.streaming.job import StreamRunner
from tests.integration.stream_harness import REPLAY_LATE_AFTER_MINUTES, StreamEnv

pytestmark = pytest.mark.integration

# Jobs per micro-batch after the first (the first also finds the fresh checkpoint's
# newest event, and loads and caches the reference data).
JOBS_PER_BATCH = 1


@pytest.fixture
def stream_env(fresh_broker, fresh_database, migrated, tmp_path) -> Iterator[StreamEnv]:
    yield StreamEnv(kafka=fresh_broker.settings, warehouse=fresh_database, wh=migrated,
                    root=tmp_path, stream={"late_after_minutes": REPLAY_LATE_AFTER_MINUTES})


def jobs_so_far() -> int:
    """Spark jobs submitted so far in this process's Spark context (the DAG scheduler's
    next job id; every job, whatever thread or job group launched it)."""
    sc = SparkSession.getActiveSession().sparkContext
    return int(sc._jsc.sc().dagScheduler().nextJobId())  # noqa: SLF001


def _jobs_per_batch(env: StreamEnv, **stream: object) -> list[tuple[int, int]]:
    """(rows, Spark jobs) of each micro-batch of a run over what is in Kafka."""
    seen: list[tuple[int, int]] = []
    last: int | None = None

    def on_batch(report) -> None:
        nonlocal last
        now = jobs_so_far()
        # batch 0: every job since the session started (the counter's first look)
        seen.append((report.input_rows, now - (last or 0)))
        last = now

    runner = StreamRunner(env.settings(**stream), on_batch=on_batch, max_restarts=0)
    runner.run(available_now=True)
    return seen


def test_a_micro_batch_launches_one_spark_job(stream_env):
    sim = stream_env.simulate(stores=2, products=20, rate=4)
    total = sum(t.num_rows for t in sim.tables.values())
    per_batch = _jobs_per_batch(stream_env, max_offsets_per_trigger=max(total // 5, 50))

    assert len(per_batch) >= 4, per_batch
    assert sum(rows for rows, _ in per_batch) == total
    steady = [jobs for _, jobs in per_batch[1:]]
    assert max(steady) <= JOBS_PER_BATCH, per_batch
    assert min(steady) >= 1, per_batch  # the counter sees the batches' jobs at all
