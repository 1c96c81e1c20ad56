"""Feature store job: the features of closed business days (see docs/features.md).

Image: ``images/build_features`` (``retail-platform/build-features``), a Spark batch
application, run after ``daily_etl`` closed the day. Arguments: ``--date YYYY-MM-DD``, or
``--from YYYY-MM-DD --to YYYY-MM-DD`` for a backfill (one day at a time, oldest first).
Environment: ``RETAIL_WAREHOUSE__*``, ``RETAIL_LAKE__*`` (``FEATURES_BUCKET``: where
``features/date=D/`` goes) and ``RETAIL_ENV``. Each day gets a ``job_runs`` row.
Exit codes: 0 every day built; 1 a day is not closed (no end-of-day snapshot) or not in
``dim_date``, or the warehouse failed; 2 bad arguments or settings (nothing was done).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from retail.batch.runner import days_between
from retail.features.build import run_days
from retail.features.sources import DayNotReady, check_ready
from retail.io.warehouse import WarehouseError, WarehouseUnavailable, connect
from retail.log import configure_logging, event
from retail.settings import SettingsError, load_settings


class _Args(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with the flag named, like the CLI
        print(f"build_features: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_days(argv: list[str]) -> list[date]:
    p = _Args(prog="build_features", description=__doc__.splitlines()[0])
    p.add_argument("--date", type=date.fromisoformat)
    p.add_argument("--from", dest="first", type=date.fromisoformat)
    p.add_argument("--to", dest="last", type=date.fromisoformat)
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


def main(argv: list[str]) -> int:
    days = parse_days(argv)
    try:
        settings = load_settings()
        warehouse = settings.resolved_warehouse()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    log = logging.getLogger("build_features")
    try:
        wh = connect(warehouse)
        check_ready(wh, days)  # before Spark starts
    except (DayNotReady, WarehouseError, WarehouseUnavailable) as exc:
        event(log, logging.ERROR, "features failed", error=str(exc)[:1000])
        return 1
    from retail.streaming.job import spark_session  # Spark only once the days are ready

    spark = spark_session(settings, "retail-build-features")
    try:
        run_days(spark, settings, wh, days, on_day=lambda r: event(
            log, logging.INFO, "features built", day=str(r.day), rows=r.rows,
            written=r.written, seconds=round(r.seconds, 1), lake=r.lake_path))
    except (DayNotReady, WarehouseError, WarehouseUnavailable) as exc:
        event(log, logging.ERROR, "features failed", error=str(exc)[:1000])
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
