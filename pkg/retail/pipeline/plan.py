"""Which DAG runs for which business day, and at which logical date.

A DAG closes the day before its logical date (``D = ds - 1``; models_train trains as of
``ds - 2``, the Friday before its Sunday run), so running business day ``D`` by hand means a
logical date of ``D + lag`` at the DAG's cron time, the run the scheduler would have made.
The crons are the DAG files' own (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

Kind = Literal["daily", "weekly", "predictions"]


@dataclass(frozen=True)
class DagSchedule:
    """A DAG's cron (minute, hour and day of week; every day of the month) and how many days
    its business day lags its logical date."""

    dag_id: str
    cron: str
    lag_days: int = 1

    def _fields(self) -> tuple[int, int, int | None]:
        minute, hour, _, _, weekday = self.cron.split()
        # cron counts Sunday as 0, Python's date.weekday() as 6.
        return int(minute), int(hour), None if weekday == "*" else (int(weekday) - 1) % 7

    def logical_date(self, day: date) -> datetime:
        """The logical date of the run that closes business day ``day``."""
        minute, hour, _ = self._fields()
        return datetime.combine(day + timedelta(days=self.lag_days), time(hour, minute),
                                tzinfo=UTC)

    def scheduled_for(self, day: date) -> bool:
        """Whether the schedule has a run closing ``day`` (a weekly DAG: one day in seven)."""
        weekday = self._fields()[2]
        return weekday is None or (day + timedelta(days=self.lag_days)).weekday() == weekday

    def describe(self) -> str:
        minute, hour, weekday = self._fields()
        when = "daily" if weekday is None else \
            ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays",
             "Sundays")[weekday]
        return f"{when} at {hour:02d}:{minute:02d} UTC, closing the day {self.lag_days} " \
               f"day(s) before"


DAGS = {d.dag_id: d for d in (
    DagSchedule("etl_close_day", "0 8 * * *"),
    DagSchedule("features_build", "0 9 * * *"),
    DagSchedule("predictions_run", "0 10 * * *"),
    DagSchedule("models_train", "0 2 * * 0", lag_days=2),
)}

# What each kind runs for a day, in this order (each DAG's sensor waits for the one before).
CHAINS: dict[str, tuple[str, ...]] = {
    "daily": ("etl_close_day", "features_build", "predictions_run"),
    "weekly": ("models_train",),
    "predictions": ("predictions_run",),
}


@dataclass(frozen=True)
class PlannedRun:
    dag: DagSchedule
    day: date

    @property
    def logical_date(self) -> datetime:
        return self.dag.logical_date(self.day)


def plan(kind: Kind, days: list[date], *, scheduled_only: bool) -> list[PlannedRun]:
    """The runs of ``kind`` for ``days``, day by day, each day's DAGs in chain order.

    ``scheduled_only`` (a range, as a backfill): a weekly DAG runs only for the days its
    schedule closes; otherwise (one day asked for by name) every DAG runs for it.
    """
    if kind not in CHAINS:
        raise ValueError(f"unknown pipeline {kind!r}: one of {', '.join(CHAINS)}")
    runs = [PlannedRun(DAGS[dag_id], day) for day in days for dag_id in CHAINS[kind]
            if not scheduled_only or DAGS[dag_id].scheduled_for(day)]
    if not runs:
        dags = ", ".join(f"{d} ({DAGS[d].describe()})" for d in CHAINS[kind])
        raise ValueError(f"no {kind} run falls on {days[0]}..{days[-1]}: {dags}; "
                         "name a single day with --date to run it for any day")
    return runs


def yesterday(now: datetime | None = None) -> date:
    """The business day the daily DAGs closed last (the day before today, UTC)."""
    return (now or datetime.now(UTC)).date() - timedelta(days=1)
