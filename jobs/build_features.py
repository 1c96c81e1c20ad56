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

import logging
import sys

from retail.batch.runner import day_arguments
from retail.features.build import run_days
from retail.features.sources import DayNotReady, check_ready
from retail.io.warehouse import WarehouseError, WarehouseUnavailable, connect
from retail.jobstart import start_job
from retail.log import event


def main(argv: list[str]) -> int:
    days = day_arguments(argv, "build_features", __doc__.splitlines()[0])
    start = start_job("build_features")
    if start is None:
        return 2
    settings, warehouse, log = start.settings, start.warehouse, start.log
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
