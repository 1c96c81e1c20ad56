"""Daily ETL job: close store-local business days (see docs/batch.md).

Image: ``images/daily_etl`` (``retail-platform/daily-etl``), a Spark batch application.
Arguments: ``--date YYYY-MM-DD``, or ``--from YYYY-MM-DD --to YYYY-MM-DD`` for a backfill
(one day at a time, oldest first). Environment: ``RETAIL_WAREHOUSE__*``, ``RETAIL_LAKE__*``,
``RETAIL_STREAM__MAX_EVENT_BYTES`` / ``__MAX_FUTURE_MINUTES`` (the stream's contract limits,
applied again) and ``RETAIL_ENV``. Each day gets a ``job_runs`` row with its reconciliation.
Exit codes: 0 every day closed and balanced; 1 a day is missing from the lake, does not
balance, or the warehouse failed; 2 bad arguments or settings (nothing was done).
"""

from __future__ import annotations

import logging
import sys

from retail.batch.runner import DayUnbalanced, day_arguments, run_days
from retail.batch.sources import LakeDayMissing
from retail.io.warehouse import WarehouseError, connect
from retail.jobstart import LazySpark, start_job
from retail.log import event


def main(argv: list[str]) -> int:
    days = day_arguments(argv, "daily_etl", __doc__.splitlines()[0])
    start = start_job("daily_etl")
    if start is None:
        return 2
    settings, warehouse, log = start.settings, start.warehouse, start.log
    from retail.streaming.job import spark_session  # Spark only once the arguments are good

    # started when the first day's lake files are found: a missing day fails without a JVM
    spark = LazySpark(lambda: spark_session(settings, "retail-daily-etl"))
    try:
        run_days(spark, settings, connect(warehouse), days, on_day=lambda r: event(
            log, logging.INFO, "day closed", day=str(r.day), seconds=round(r.seconds, 1),
            events=sum(t.in_day for t in r.topics), inserted=sum(t.inserted for t in r.topics),
            late=sum(t.late for t in r.topics)))
    except (DayUnbalanced, LakeDayMissing, WarehouseError) as exc:
        event(log, logging.ERROR, "daily ETL failed", error=str(exc)[:1000])
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
