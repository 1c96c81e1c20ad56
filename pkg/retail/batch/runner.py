"""Running a daily job over days, one at a time, oldest first, with a ``job_runs`` row each;
the jobs' day arguments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from pyspark.sql import SparkSession

from retail.batch.daily_etl import JOB, DayReport, run_day
from retail.io.warehouse import Warehouse
from retail.jobstart import job_arguments
from retail.settings import Settings
from retail.warehouse.runs import record_run

R = TypeVar("R")


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


def each_day(wh: Warehouse, job: str, days: list[date], run_one: Callable[[date], R],
             outcome: Callable[[R], tuple[str, int, int, dict]],
             on_day: Callable[[R], None] | None = None) -> list[R]:
    """Run ``run_one`` for each day in turn, oldest first, with a ``job_runs`` row per day
    (``running``, then what ``outcome`` says: status, rows in, rows out, details, or
    ``failed`` with the error); stop at the first that raises."""
    reports = []
    for day in days:
        started = datetime.now(UTC)
        run_id = f"{day}:{started:%Y%m%dT%H%M%S}"
        record_run(wh, job, run_id, "running", started_at=started, details={"day": str(day)})
        try:
            report = run_one(day)
        except Exception as exc:
            record_run(wh, job, run_id, "failed", started_at=started,
                       finished_at=datetime.now(UTC),
                       details={"day": str(day), "error": str(exc)[:2000]})
            raise
        status, rows_in, rows_out, details = outcome(report)
        record_run(wh, job, run_id, status, started_at=started, finished_at=datetime.now(UTC),
                   rows_in=rows_in, rows_out=rows_out, details=details)
        if on_day is not None:
            on_day(report)
        reports.append(report)
    return reports


def run_days(spark: SparkSession, settings: Settings, wh: Warehouse, days: list[date],
             on_day: Callable[[DayReport], None] | None = None) -> list[DayReport]:
    """Close each day in turn; stop at the first that fails (its ``job_runs`` row says
    why). Raises :class:`DayUnbalanced` or what :func:`run_day` raises."""

    def outcome(report: DayReport) -> tuple[str, int, int, dict]:
        return ("succeeded" if report.balanced else "failed",
                sum(t.lake + t.late for t in report.topics),
                sum(t.inserted for t in report.topics), report.as_details())

    def then(report: DayReport) -> None:
        if on_day is not None:
            on_day(report)
        if not report.balanced:
            raise DayUnbalanced(report)

    return each_day(wh, JOB, days, lambda day: run_day(spark, settings, wh, day), outcome,
                    then)


def day_arguments(argv: list[str], prog: str, description: str) -> list[date]:
    """A job's ``--date D`` or ``--from D1 --to D2``; bad ones exit 2 naming the flag."""
    p = job_arguments(prog, description)
    p.add_argument("--date", type=p.day)
    p.add_argument("--from", dest="first", type=p.day)
    p.add_argument("--to", dest="last", type=p.day)
    a = p.parse_args(argv)
    if a.date is not None and (a.first or a.last):
        p.error("give --date, or --from and --to, not both")
    if a.date is not None:
        return [a.date]
    if a.first is None or a.last is None:
        p.error("give --date D, or --from D1 --to D2 (both)")
    if a.last < a.first:
        p.error(f"--to {a.last} is before --from {a.first}")
    return days_between(a.first, a.last)
