"""Replenishment job: the reorder recommendations of a day from its forecasts and stock
(``--date``), or the weekly lead-time regression (``--train``). See docs/models.md,
"Replenishment".

Image: ``images/optimize_stock`` (``retail-platform/optimize-stock``), a Spark batch
application. Arguments: ``--date YYYY-MM-DD`` (daily, after ``predict_daily`` wrote D's
forecasts): writes ``fact_replenishment`` and each pair's order into D's horizon-1 row of
``fact_ml_predictions``; ``--train [--as-of YYYY-MM-DD]`` (weekly; default yesterday, UTC):
fits the supplier lead-time regression on the shipments, registers it, and makes it the
champion when it beats the supplier-mean baseline on the holdout weeks. Environment:
``RETAIL_WAREHOUSE__*``, ``RETAIL_MLFLOW__*``, ``RETAIL_REPLENISHMENT__*`` and
``RETAIL_ENV``. Exit codes: 0 done; 1 no forecast of D, too little shipment history, or
the warehouse or MLflow failed; 2 bad arguments or settings; 3 (``--date``) the lead-time
regression has no champion yet (a fresh install before the first weekly ``--train``: train
it first; nothing written, the log says so as a warning).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

from retail.batch.runner import each_day
from retail.jobstart import job_arguments, run_model_job, start_job
from retail.log import event
from retail.ml.replenishment.daily import (JOB, lead_time_champion, load_lead_time,
                                           optimize_day, train_lead_time)


def main(argv: list[str]) -> int:
    parser = job_arguments("optimize_stock", __doc__.splitlines()[0])
    parser.add_argument("--date", type=parser.day)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--as-of", dest="as_of", type=parser.day)
    args = parser.parse_args(argv)
    if args.train == (args.date is not None):
        parser.error("give --date D (recommendations) or --train (the lead-time regression)")
    if args.as_of is not None and not args.train:
        parser.error("--as-of goes with --train (--date is the recommendations' day)")
    start = start_job("optimize_stock")
    if start is None:
        return 2
    log, settings = start.log, start.settings.replenishment

    def work(spark, wh, registry) -> int:
        if args.train:
            as_of = args.as_of or datetime.now(UTC).date() - timedelta(days=1)
            done = train_lead_time(spark, wh, registry, settings, as_of)
            event(log, logging.INFO, "lead time trained", version=done.training.version,
                  promoted=done.promoted, reason=done.reason,
                  metrics={k: round(v, 4) for k, v in done.fit.metrics.items()})
            return 0
        lead = load_lead_time(spark, registry)
        each_day(wh, JOB, [args.date], lambda day: optimize_day(spark, wh, lead, settings, day),
                 lambda r: ("succeeded", r.pairs, r.orders, r.as_details()),
                 lambda r: event(log, logging.INFO, "recommended", **r.as_details()))
        return 0

    return run_model_job(start, "retail-optimize-stock", "optimize_stock", work,
                         champions=[] if args.train else [lead_time_champion])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
