"""Daily predictions job: the champion demand forecast's D + 1 .. D + 7 for every store x
product, with 80 % and 95 % intervals and the stock-out risk (see docs/models.md, "Daily
predictions").

Image: ``images/predict_daily`` (``retail-platform/predict-daily``), a Spark batch
application, daily after ``build_features`` built D. Arguments: ``--date YYYY-MM-DD`` (the
run date D), or ``--from D1 --to D2`` (one run date at a time). Environment:
``RETAIL_WAREHOUSE__*``, ``RETAIL_MLFLOW__*`` and ``RETAIL_ENV``. Writes
``fact_ml_predictions`` (a re-run of the same run date and model version replaces its
rows) and a ``job_runs`` row per day. Exit codes: 0 predicted; 1 D not in the feature
store, the calendar or promotion plan of D + 1 .. D + 7 missing, or the warehouse or the
MLflow server failed; 2 bad arguments or settings; 3 the demand forecast has no champion
yet (a fresh install before the first weekly training: train it first; nothing predicted,
the log says so as a warning).
"""

from __future__ import annotations

import logging
import sys

from retail.batch.runner import day_arguments
from retail.jobstart import run_model_job, start_job
from retail.log import event
from retail.ml.forecast.daily import predict_days
from retail.ml.forecast.registered import champion as forecast_champion


def main(argv: list[str]) -> int:
    days = day_arguments(argv, "predict_daily", __doc__.splitlines()[0])
    start = start_job("predict_daily")
    if start is None:
        return 2

    def work(spark, wh, registry) -> int:
        predict_days(spark, wh, registry, days, horizon=start.settings.forecast.horizon_days,
                     on_day=lambda r: event(start.log, logging.INFO, "predicted",
                                            **r.as_details()))
        return 0

    return run_model_job(start, "retail-predict-daily", "predictions", work,
                         champions=[forecast_champion])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
