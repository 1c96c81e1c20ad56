"""Forecast monitoring job: realised accuracy of the forecasts for a day and the drift of the
main features (see docs/models.md, "Monitoring").

Image: ``images/evaluate_forecasts`` (``retail-platform/evaluate-forecasts``), run after
``build_features`` closed the day. Arguments: ``--date YYYY-MM-DD`` (the day forecast, whose
actual demand is in ``feature_store_daily``); the drift's reference window is
``--reference-from D1 --reference-to D2`` (the model's training window) or the
``--reference-days N`` (default 56) before the recent week. Writes ``model_evaluations`` and
``model_drift`` (a re-run replaces its rows) and a ``job_runs`` row. Environment:
``RETAIL_WAREHOUSE__*`` and ``RETAIL_ENV``. Exit codes: 0 evaluated (or no forecast for the
day: nothing to do); 1 the day's actuals are missing or the warehouse failed; 2 bad
arguments or settings (nothing was done).
"""

from __future__ import annotations

import logging
import sys

from retail.io.warehouse import WarehouseError, WarehouseUnavailable, connect
from retail.jobstart import job_arguments, start_job
from retail.log import event
from retail.ml.monitoring import REFERENCE_DAYS, ActualsNotReady, drift_windows, evaluate_day


def main(argv: list[str]) -> int:
    parser = job_arguments("evaluate_forecasts", __doc__.splitlines()[0])
    parser.add_argument("--date", type=parser.day, required=True)
    parser.add_argument("--reference-days", type=int, default=REFERENCE_DAYS)
    parser.add_argument("--reference-from", type=parser.day)
    parser.add_argument("--reference-to", type=parser.day)
    args = parser.parse_args(argv)
    try:
        windows = drift_windows(args.date, reference_days=args.reference_days,
                                reference_from=args.reference_from,
                                reference_to=args.reference_to)
    except ValueError as exc:
        parser.error(str(exc))
    start = start_job("evaluate_forecasts")
    if start is None:
        return 2
    settings, warehouse, log = start.settings, start.warehouse, start.log
    try:
        with connect(warehouse) as wh:
            report = evaluate_day(wh, args.date, windows)
    except (ActualsNotReady, WarehouseError, WarehouseUnavailable) as exc:
        event(log, logging.ERROR, "evaluation failed", day=str(args.date),
              error=str(exc)[:1000])
        return 1
    if not report.versions:
        event(log, logging.WARNING, "no forecast for the day: nothing evaluated",
              day=str(args.date))
        return 0
    significant = [d.feature for d in report.drift if d.status == "significant"]
    event(log, logging.WARNING if significant else logging.INFO, "evaluated",
          day=str(args.date), versions=[f"{m}:{v}" for m, v in report.versions],
          evaluations=report.evaluations_written, drift_rows=report.drift_written,
          significant_drift=significant)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
