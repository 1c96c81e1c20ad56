"""Running ``daily_etl`` over days, one at a time, oldest first, with a ``job_runs`` row each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import SparkSession

from retail.batch.daily_etl import JOB, DayReport, run_day
from retail.io.warehouse import Warehouse
from retail.settings import Settings
from retail.warehouse.runs import record_run


class DayUnbalanced(RuntimeError):
    """A day's facts do not hold exactly its events."""

    def __init__(self, report: DayReport) -> None:
        bad = [t for t in report.topics if not t.balanced]
        super().__init__(f"{report.day} does not reconcile: " + "; ".join(t.problem()
                                                                          for t in bad))
        self.report = report


def days_between(first: date, last: date) -> list[date]:
    """``first``..``last`` inclusive, oldest first.

    Raises:
        ValueError: ``last`` before ``first``.
    """
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def run_days(spark: SparkSession, settings: Settings, wh: Warehouse, days: list[date],
             on_day: Callable[[DayReport], None] | None = None) -> list[DayReport]:
    """Close each day in turn; stop at the first that fails (its ``job_runs`` row says
    why). Raises :class:`DayUnbalanced` or what :func:`run_day` raises."""
    reports = []
    for day in days:
        started = datetime.now(UTC)
        run_id = f"{day}:{started:%Y%m%dT%H%M%S}"
        record_run(wh, JOB, run_id, "running", started_at=started, details={"day": str(day)})
        try:
            report = run_day(spark, settings, wh, day)
        except Exception as exc:
            record_run(wh, JOB, run_id, "failed", started_at=started,
                       finished_at=datetime.now(UTC),
                       details={"day": str(day), "error": str(exc)[:2000]})
            raise
        rows_in = sum(t.lake + t.late for t in report.topics)
        rows_out = sum(t.inserted for t in report.topics)
        record_run(wh, JOB, run_id, "succeeded" if report.balanced else "failed",
                   started_at=started, finished_at=datetime.now(UTC), rows_in=rows_in,
                   rows_out=rows_out, details=report.as_details())
        if on_day is not None:
            on_day(report)
        reports.append(report)
        if not report.balanced:
            raise DayUnbalanced(report)
    return reports
