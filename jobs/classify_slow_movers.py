"""Slow movers and markdowns job: train the random-forest classifier (evaluated against the
rule "days of cover > horizon" on the newest labelled weeks, promoted only when its PR-AUC
beats the champion's on the same window) and score every store x product with stock on the
run date, with a markdown suggestion (see docs/slow_movers.md).

Image: ``images/classify_slow_movers`` (``retail-platform/classify-slow-movers``), a Spark
batch application: ``--task train`` weekly, ``--task score`` daily, after
``build_features``. Arguments: ``--date YYYY-MM-DD`` (the run date; default yesterday,
UTC), ``--task train|score|all`` (default all). Environment: ``RETAIL_WAREHOUSE__*``,
``RETAIL_MLFLOW__*``, ``RETAIL_SLOW_MOVERS__*`` and ``RETAIL_ENV``. Writes a registered
model version (train), ``ml_slow_movers`` rows (score; a re-run of the same run date and
model version replaces them) and a ``job_runs`` row. Exit codes: 0 done (promoted or not:
the log says which and why); 1 too few feature days to train, D not in the feature store,
or the warehouse or the MLflow server failed; 2 bad arguments or settings; 3 (scoring) no
champion to score with yet (a fresh install before the first weekly training, or no version
has beaten its baseline: train it first; the log says so as a warning).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

from retail.jobstart import job_arguments, run_model_job, start_job
from retail.log import event
from retail.ml.slow_movers.daily import TASKS, run_days
from retail.ml.slow_movers.registered import champion


def main(argv: list[str]) -> int:
    parser = job_arguments("classify_slow_movers", __doc__.splitlines()[0])
    parser.add_argument("--date", type=parser.day,
                        default=datetime.now(UTC).date() - timedelta(days=1))
    parser.add_argument("--task", choices=TASKS, default="all")
    args = parser.parse_args(argv)
    start = start_job("classify_slow_movers")
    if start is None:
        return 2

    def work(spark, wh, registry) -> int:
        run_days(spark, wh, registry, start.settings.slow_movers, [args.date], args.task,
                 on_day=lambda r: event(start.log, logging.INFO, "slow movers",
                                        task=args.task, **r.as_details()))
        return 0

    return run_model_job(start, "retail-classify-slow-movers", "slow movers", work,
                         champions=[champion] if args.task == "score" else [])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
