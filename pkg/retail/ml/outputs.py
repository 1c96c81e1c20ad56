"""Writing a model run's rows for a day: a run replaces every row an earlier run of the same
day and model version wrote, so a re-run on changed data (late events) leaves none of the
pairs it no longer flags behind (the tables' ReplacingMergeTree keys alone would)."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from retail.io.warehouse import Warehouse

# the model tables a run replaces (migrations 0017 and 0018: etl_writer may delete there)
TABLES = ("ml_anomalies", "ml_slow_movers", "ml_recommendations", "ml_product_affinity")


def replace_run(wh: Warehouse, table: str, parts: Iterable[pa.Table], *, date_key: int,
                model_version: str) -> int:
    """Delete ``table``'s rows of ``date_key`` and ``model_version``, then insert ``parts``;
    the rows written. Readers see none of that day's rows of the version for the moment
    between the two (a lightweight DELETE, then the inserts).

    Raises:
        ValueError: ``table`` is not a model table, or a part holds another day or version.
    """
    if table not in TABLES:
        raise ValueError(f"{table} is not a model table a run replaces ({', '.join(TABLES)})")
    parts = list(parts)
    for part in parts:
        days = set(part.column("date_key").to_pylist())
        versions = set(part.column("model_version").to_pylist())
        if days - {date_key} or versions - {model_version}:
            raise ValueError(f"rows for {table} hold date_key {sorted(days)} and "
                             f"model_version {sorted(versions)}: this run writes "
                             f"{date_key} and {model_version} only")
    # the table name is one of TABLES (ours), never data
    wh.command(f"DELETE FROM {table} WHERE date_key = {{d:UInt32}} "
               "AND model_version = {v:String}", {"d": date_key, "v": model_version})
    return sum(wh.insert_arrow(table, part) for part in parts)
