"""Which simulation loaded which days into the warehouse (``job_runs``).

A backfill straight into the fact tables (``retail simulate --sink warehouse``) may be run
again: its batches carry deduplication tokens, so the same simulation adds nothing the
second time. A *different* simulation of days the warehouse already holds (another seed,
chain or start) would put a second history beside the first and every sum over those days
would double, so it is refused before anything is written.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa

from retail.io.warehouse import Warehouse

JOB = "simulate-warehouse"


class OverlappingSimulation(ValueError):
    """Another simulation already loaded some of the days asked for."""


def claim_days(wh: Warehouse, fingerprint: str, first: date, last: date) -> None:
    """Record that simulation ``fingerprint`` loads ``first``..``last``; refuse days that
    another simulation loaded.

    Raises:
        OverlappingSimulation: naming the days held and what to do instead.
    """
    held = wh.query_rows(
        "SELECT JSONExtractString(details, 'first') AS f, JSONExtractString(details, 'last') "
        "AS l FROM job_runs FINAL WHERE job = {job:String} "
        "AND JSONExtractString(details, 'fingerprint') != {fp:String} "
        "AND f <= {last:String} AND l >= {first:String} ORDER BY f",
        {"job": JOB, "fp": fingerprint, "first": str(first), "last": str(last)})
    if held:
        spans = ", ".join(f"{f}..{lst}" for f, lst in held)
        raise OverlappingSimulation(
            f"the warehouse already holds days {spans} from another simulation (other seed, "
            f"chain, rate or start); loading {first}..{last} too would count the days they "
            f"share twice. Choose a --start after them, or start from an empty warehouse "
            f"(retail warehouse reset --yes; for the demo: make clean)")
    _record(wh, fingerprint, first, last, "running")


def finish_days(wh: Warehouse, fingerprint: str, first: date, last: date, rows: int) -> None:
    """Mark the claim of :func:`claim_days` as loaded (an interrupted load keeps its claim:
    its days are partly in the warehouse)."""
    _record(wh, fingerprint, first, last, "succeeded", rows)


def _record(wh: Warehouse, fingerprint: str, first: date, last: date, status: str,
            rows: int | None = None) -> None:
    now = datetime.now(UTC)
    record_run(wh, JOB, f"{fingerprint}:{first}:{last}", status, started_at=now,
               finished_at=now if rows is not None else None, rows_out=rows or 0,
               details={"fingerprint": fingerprint, "first": str(first), "last": str(last)})


def record_run(wh: Warehouse, job: str, run_id: str, status: str, *, started_at: datetime,
               finished_at: datetime | None = None, rows_in: int = 0, rows_out: int = 0,
               details: dict | None = None) -> None:
    """One row of ``job_runs`` (the latest row per job and run id counts)."""
    ts = pa.timestamp("ms", "UTC")
    wh.insert_arrow("job_runs", pa.table({
        "run_id": [run_id], "job": [job], "status": [status],
        "started_at": pa.array([started_at], ts),
        "finished_at": pa.array([finished_at], ts),
        "rows_in": pa.array([rows_in], pa.uint64()), "rows_out": pa.array([rows_out], pa.uint64()),
        "details": [json.dumps(details or {}, default=str)]}))
