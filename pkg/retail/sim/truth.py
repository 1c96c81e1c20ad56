"""The planted ground truth as files: what tests and benchmarks score the models against."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from retail.sim.engine import Simulator

TRUTH_TABLES = ("anomalies", "fades", "affinities", "customers")


def write_truth(sim: Simulator, folder: Path, days: int | None = None) -> list[tuple[Path, int]]:
    """Write ``planted_<name>.parquet`` for each of :data:`TRUTH_TABLES` into ``folder``
    (created): the anomalies started so far, the fades begun by the last simulated day (of
    ``days``, default the configured days), the affinity groups and the loyal customers.
    Returns each file and its rows."""
    folder.mkdir(parents=True, exist_ok=True)
    planted = sim.planted
    tables = {"anomalies": planted.anomalies(),
              "fades": planted.fades(through=max((days or sim.config.days) - 1, 0)),
              "affinities": planted.affinities(), "customers": planted.customers()}
    written = []
    for name in TRUTH_TABLES:
        path = folder / f"planted_{name}.parquet"
        pq.write_table(tables[name], path)
        written.append((path, tables[name].num_rows))
    return written
