"""What every job entrypoint does first: load and check its settings, then set up logging.

A bad setting is the operator's to fix, not a crash: :func:`start_job` prints the error
(it names the ``RETAIL_*`` variable) to stderr and returns None, and the job exits 2.

Exit codes every job shares: 0 done, 1 failed, 2 bad arguments or settings (nothing done);
the model jobs add :data:`NO_CHAMPION` (3): the model they score with has no champion yet.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from retail.log import configure_logging
from retail.settings import (Settings, SettingsError, WarehouseSettings, load_settings,
                             parse_day)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# A model job's exit code when the only problem is that its model has no champion yet (a
# fresh install before the first weekly training): not a failure to page about, so a
# schedule can skip the task on it.
NO_CHAMPION = 3


@dataclass(frozen=True)
class JobStart:
    settings: Settings
    warehouse: WarehouseSettings  # resolved: the URL and credentials the job connects with
    log: logging.Logger


def start_job(name: str) -> JobStart | None:
    """The job's settings and its logger (named ``name``), or None after printing why the
    settings are refused."""
    try:
        settings = load_settings()
        warehouse = settings.resolved_warehouse()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return None
    configure_logging(settings.log.level, settings.log.format)
    return JobStart(settings, warehouse, logging.getLogger(name))


class LazySpark:
    """A Spark session started on first use: a job that fails on its inputs before it needs
    Spark (a day the lake does not hold) fails in a second, without a JVM (on a cluster,
    without a driver pod's executors). Stands in for the session it makes."""

    def __init__(self, make: Callable[[], SparkSession]) -> None:
        self._make = make
        self._session: SparkSession | None = None

    def __getattr__(self, name: str):
        if self._session is None:
            self._session = self._make()
        return getattr(self._session, name)

    @property
    def started(self) -> bool:
        return self._session is not None

    def stop(self) -> None:
        if self._session is not None:
            self._session.stop()


def run_with_spark(start: JobStart, app_name: str, work: Callable[[SparkSession], int],
                   failures: tuple[type[BaseException], ...], what: str) -> int:
    """Run ``work`` in a Spark session named ``app_name``, always stopped after; one of
    ``failures`` is logged as "``what`` failed" and exits 1 (anything else is a bug and
    raises)."""
    from retail.log import event
    from retail.streaming.job import spark_session  # Spark only once the job starts

    spark = spark_session(start.settings, app_name)
    try:
        return work(spark)
    except failures as exc:
        event(start.log, logging.ERROR, f"{what} failed", error=str(exc)[:1000])
        return 1
    finally:
        spark.stop()


class JobArguments(argparse.ArgumentParser):
    """A job's argument parser: a bad argument exits 2 with the flag named, like the CLI."""

    def error(self, message: str) -> None:
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)

    @staticmethod
    def day(text: str) -> date:
        """A ``type=`` for YYYY-MM-DD flags."""
        try:
            return parse_day(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None


def job_arguments(prog: str, description: str) -> JobArguments:
    return JobArguments(prog=prog, description=description)


def run_model_job(start: JobStart, app_name: str, what: str,
                  work: Callable[[SparkSession, object, object], int],
                  champions: Sequence[Callable[[object], object]] = ()) -> int:
    """A model job's frame: the warehouse and the registry connected first (an MLflow server
    that does not answer fails here, before Spark starts), each of ``champions`` (a model's
    champion lookup, given the registry) asked next, then ``work(spark, wh, registry)`` in a
    Spark session; the expected failures (bad input days, the registry, the warehouse) are
    logged as "``what`` failed" and exit 1, except a model without a champion
    (:class:`~retail.ml.registry.NoChampion`), logged as a warning, which exits
    :data:`NO_CHAMPION` (3): before Spark starts when ``champions`` names the model, as a
    scoring run does (a schedule's skip costs no Spark driver)."""
    from retail.io.warehouse import WarehouseError, WarehouseUnavailable, connect
    from retail.log import event
    from retail.ml.registry import NoChampion, Registry, RegistryError

    failures = (ValueError, RegistryError, WarehouseError, WarehouseUnavailable)

    def no_champion(exc: NoChampion) -> int:
        event(start.log, logging.WARNING, f"{what} not done: no champion yet",
              error=str(exc)[:1000], exit_code=NO_CHAMPION)
        return NO_CHAMPION

    try:
        wh, registry = connect(start.warehouse), Registry.from_settings(start.settings)
        for champion in champions:
            champion(registry)
    except NoChampion as exc:  # a RegistryError: caught first
        return no_champion(exc)
    except failures as exc:
        event(start.log, logging.ERROR, f"{what} failed", error=str(exc)[:1000])
        return 1

    def guarded(spark: SparkSession) -> int:
        try:
            return work(spark, wh, registry)
        except NoChampion as exc:
            return no_champion(exc)

    return run_with_spark(start, app_name, guarded, failures, what)
