"""Demand forecast training job: tune and backtest the GBT on rolling weekly origins, log the
run to MLflow, register the model, and make it the champion only if its backtest WAPE beats
the champion's on the same origins (see docs/models.md, "Demand forecast").

Image: ``images/train_demand_forecast`` (``retail-platform/train-demand-forecast``), a Spark
batch application, weekly after ``build_features``. Arguments: ``--as-of YYYY-MM-DD`` (the
training cut-off, no target day after it is read; default yesterday, UTC). Environment:
``RETAIL_WAREHOUSE__*``, ``RETAIL_MLFLOW__*`` (the tracking server), ``RETAIL_FORECAST__*``
(the tuning grid, origins, sampling) and ``RETAIL_ENV``. Writes a registered model version,
``model_feature_importance`` rows and a ``job_runs`` row. Exit codes: 0 trained and
registered (promoted or not: the log says which and why); 1 the feature store cannot cover
the backtest, or the warehouse or the MLflow server failed; 2 bad arguments or settings.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

from retail.batch.runner import each_day
from retail.jobstart import job_arguments, run_model_job, start_job
from retail.log import event
from retail.ml.forecast.registered import train_and_register


def main(argv: list[str]) -> int:
    parser = job_arguments("train_demand_forecast", __doc__.splitlines()[0])
    parser.add_argument("--as-of", dest="as_of", type=parser.day,
                        default=datetime.now(UTC).date() - timedelta(days=1))
    args = parser.parse_args(argv)
    start = start_job("train_demand_forecast")
    if start is None:
        return 2
    log = start.log

    def work(spark, wh, registry) -> int:
        done = each_day(wh, "train_demand_forecast", [args.as_of], lambda day: train_and_register(
            spark, wh, registry, start.settings.forecast, day,
            on_step=lambda line: event(log, logging.INFO, "training", step=line)),
            lambda r: ("succeeded", len(r.result.backtest), 0, {
                "as_of": str(args.as_of), "version": r.training.version,
                "promoted": r.promotion.promoted, "reason": r.promotion.reason,
                "wape": r.result.score, "champion_wape": r.result.champion_score}))[0]
        event(log, logging.INFO, "trained", version=done.training.version,
              run_id=done.training.run_id, promoted=done.promotion.promoted,
              reason=done.promotion.reason, wape=round(done.result.score, 4),
              ratios={m: {k: round(v, 3) for k, v in r.items()}
                      for m, r in done.result.ratios.items()},
              coverage=done.result.coverage, seconds=round(done.result.seconds, 1))
        return 0

    return run_model_job(start, "retail-train-demand-forecast", "training", work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
