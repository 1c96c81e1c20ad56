"""Closing days whose facts were loaded straight into the warehouse: a chain's history
imported from the system before this one, or a simulator backfill.

Such days have no raw events in the lake for the daily ETL to reconcile (or, for a
backfill, nothing the facts lack), yet the feature build reads only closed days: a day is
closed when ``fact_inventory`` holds its end-of-day snapshot. :func:`close_imported` writes
that snapshot and nothing else, and records each day in ``job_runs`` under its own job name,
``close_imported``, so a day closed this way is never taken for a reconciled one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from retail.batch.runner import each_day
from retail.batch.snapshot import snapshot_day
from retail.io.warehouse import Warehouse
from retail.streaming.reference import Reference
from retail.warehouse.keys import date_key

JOB = "close_imported"
MODE = "imported: the end-of-day snapshot only; no lake read, no reconciliation"


class NothingImported(ValueError):
    """A day to close holds no sales fact: its facts were not loaded."""


@dataclass
class ImportedDay:
    day: date
    sales_lines: int
    snapshot_rows: int


def close_imported(wh: Warehouse, days: list[date],
                   on_day: Callable[[ImportedDay], None] | None = None) -> list[ImportedDay]:
    """Write the end-of-day snapshot of each day in turn, oldest first (a re-run writes only
    what changed), with a ``job_runs`` row each; stop at the first that fails.

    Raises:
        NothingImported: a day without any ``fact_sales`` row (nothing was loaded for it; a
            day the stores really sold nothing is closed by the daily ETL from the lake).
    """
    ref = Reference.load(wh)

    def close(day: date) -> ImportedDay:
        lines = int(wh.query_rows("SELECT count() FROM fact_sales WHERE date_key = {d:UInt32}",
                                  {"d": date_key(day)})[0][0])
        if not lines:
            raise NothingImported(
                f"{day}: fact_sales in {wh.database} has no row for it, so there is nothing "
                "imported to close: load the day's facts first, or close it from the lake "
                "with `retail batch daily-etl --date D`")
        return ImportedDay(day, lines, snapshot_day(wh, ref, day))

    def outcome(d: ImportedDay) -> tuple[str, int, int, dict]:
        return ("succeeded", d.sales_lines, d.snapshot_rows,
                {"day": str(d.day), "mode": MODE, "sales_lines": d.sales_lines,
                 "snapshot_rows": d.snapshot_rows})

    return each_day(wh, JOB, days, close, outcome, on_day)
