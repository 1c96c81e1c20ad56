"""One batch job of the benchmark in its own process, as the job image runs it: its own
Python and Spark JVM, so its peak memory is its own. Prints one JSON line: the job's seconds,
Spark's start-up, the peak memory of the process tree (Python, the JVM and Spark's Python
workers), where the time went, and the job's report.

Usage (from bench_batch.py): ``python tests/bench/batch_job.py etl|features --day D
--lake DIR --warehouse URL``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

OTHER = "other (Python between the steps, job_runs)"
# Spark is lazy: its work runs in the gaps between our calls, named after the call that
# ends the gap (the action sits just before it).
ETL_STEPS = [  # (module or object path, attribute, label, label of the gap before it)
    ("retail.batch.daily_etl.Reference", "load", "reference, lake listing, late records",
     None),
    ("retail.batch.daily_etl", "lake_day_files", "reference, lake listing, late records",
     None),
    ("retail.batch.daily_etl", "late_records", "reference, lake listing, late records", None),
    ("retail.batch.daily_etl", "keep_day", OTHER,
     "read the lake, parse and check, store-local day, count (Spark: the first action, "
     "fills the cache)"),
    ("retail.batch.daily_etl", "_quarantine", "quarantine the refused rows (Spark)", None),
    ("retail.batch.daily_etl", "fact_tables", "fact rows (Arrow)",
     "one per event id, collect the day per event type (Spark to Arrow)"),
    ("retail.batch.daily_etl", "_write_processed", "processed zone (Parquet)", None),
    ("retail.batch.daily_etl", "_fact_ids", "fact ids of the day, before and after "
     "(warehouse)", None),
    ("wh", "insert_arrow", lambda table: "job_runs" if table == "job_runs" else
     "insert the missing facts (warehouse, materialized views)", None),
    ("retail.batch.daily_etl", "snapshot_day", "end-of-day snapshot (warehouse)", None),
]
FEATURE_STEPS = [
    ("retail.features.sources", "check_ready", "check the day is closed", None),
    ("wh", "query_arrow", "read the sources (warehouse queries, Arrow)", None),
    ("spark", "createDataFrame", "sources into Spark (createDataFrame from Arrow)", None),
    ("retail.features.build", "write_changed", "compare with the store, insert the changed "
     "rows (warehouse)", "compute the features and collect them (Spark to Arrow)"),
    ("retail.features.build", "write_lake", "lake file (Parquet)", None),
]


class Trace:
    """Seconds per step: inside each traced call (the outermost one only) and in the gaps
    between calls, named after the call that ends the gap."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, list] = defaultdict(list)  # label -> [(seconds, result rows)]
        self.depth = 0
        self.mark = time.perf_counter()

    def wrap(self, owner, name: str, label, gap: str | None) -> None:
        """Trace ``owner.name``; ``label`` is a name, or a function of the first argument."""
        inner = getattr(owner, name)
        name_of = label if callable(label) else lambda _: label

        @functools.wraps(inner)
        def traced(*args, **kwargs):
            if self.depth:
                return inner(*args, **kwargs)
            start = time.perf_counter()
            self.seconds[gap or OTHER] += start - self.mark
            step = name_of(args[0] if args else None)
            self.depth += 1
            try:
                out = inner(*args, **kwargs)
            finally:
                self.depth -= 1
                self.mark = time.perf_counter()
                self.seconds[step] += self.mark - start
            self.calls[step].append((self.mark - start, getattr(out, "num_rows", None),
                                      args[0] if args and isinstance(args[0], str) else None))
            return out

        setattr(owner, name, traced)

    def close(self) -> dict[str, float]:
        self.seconds[OTHER] += time.perf_counter() - self.mark
        return dict(self.seconds)


def _owner(path: str, objects: dict):
    """``wh``/``spark``, a module, or an attribute of a module, by its dotted path."""
    if path in objects:
        return objects[path]
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, attr = path.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def peak_mb(pid: int) -> float:
    """VmHWM of ``pid`` and its descendants (Spark's JVM is a child of Python)."""
    total, stack = 0, [pid]
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", choices=["etl", "features"])
    p.add_argument("--day", type=date.fromisoformat, required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--warehouse", required=True)
    a = p.parse_args()

    from retail.io.warehouse import connect
    from retail.settings import LakeSettings, Settings, WarehouseSettings
    from retail.streaming.job import spark_session

    settings = Settings(lake=LakeSettings(root=a.lake),
                        warehouse=WarehouseSettings(url=a.warehouse, database="retail"))
    wh = connect(settings.warehouse)
    t = time.perf_counter()
    spark = spark_session(settings, f"bench-{a.job}")
    session_s = time.perf_counter() - t
    trace = Trace()
    for path, name, label, gap in ETL_STEPS if a.job == "etl" else FEATURE_STEPS:
        trace.wrap(_owner(path, {"wh": wh, "spark": spark}), name, label, gap)
    t = time.perf_counter()
    trace.mark = t
    if a.job == "etl":
        from retail.batch.runner import run_days

        details = run_days(spark, settings, wh, [a.day])[0].as_details()
    else:
        from retail.features import sources
        from retail.features.build import run_days

        sources.check_ready(wh, [a.day])  # as the job does, before its days
        details = run_days(spark, settings, wh, [a.day])[0].as_details()
    seconds = time.perf_counter() - t
    phases = trace.close()
    out = {"seconds": seconds, "session_s": session_s, "peak_mb": peak_mb(os.getpid()),
           "phases": phases, "details": details}
    if a.job == "features":
        names = {sql: name for name, sql in sources._QUERIES.items()}  # noqa: SLF001
        out["sources"] = [
            {"name": names.get(sql, "?"), "seconds": s, "rows": rows} for s, rows, sql in
            trace.calls["read the sources (warehouse queries, Arrow)"]]
    spark.stop()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
