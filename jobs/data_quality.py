"""Data-quality job: the declared checks (``retail.dq.checks``) against the warehouse, their
results in ``dq_results`` and an alert in ``stream_alerts`` per failing error check.

Image: ``images/data_quality`` (``retail-platform/data-quality``), run every hour by a
CronJob (``manifests/cronjob-data-quality.yaml``) and after each batch job with
``--date D``. Arguments: ``--date YYYY-MM-DD`` judges that store-local day instead of the
last hours; ``--as-of T`` judges as of an ISO time instead of now; ``--check GLOB``
(repeatable) runs the matching checks only. Environment: ``RETAIL_WAREHOUSE__*``,
``RETAIL_DQ__*`` (``retail.settings.DqSettings``: lookback hours and days, alerts on/off)
and ``RETAIL_ENV``. Exit codes: 0 every error check passed (warnings allowed), 1 an error
check failed (it was alerted) or the warehouse is unreachable, 2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime

from retail.dq.checks import select_checks
from retail.dq.runner import execute, window_for
from retail.io.warehouse import WarehouseError, WarehouseUnavailable, connect
from retail.jobstart import start_job
from retail.log import event
from retail.settings import parse_day


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _as_of(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO date and time such as 2026-03-11T18:30, got {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _parse(argv: list[str]) -> argparse.Namespace | int:
    parser = argparse.ArgumentParser(prog="data_quality", description=__doc__.split("\n")[0])
    parser.add_argument("--date", type=_day, help="store-local day YYYY-MM-DD")
    parser.add_argument("--as-of", type=_as_of, help="judge as of this ISO time (UTC)")
    parser.add_argument("--check", action="append", help="only checks matching this glob")
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed what was wrong
        return int(exc.code or 0)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if isinstance(args, int):
        return args
    try:
        checks = select_checks(args.check)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    start = start_job("data_quality")
    if start is None:
        return 2
    settings, warehouse, log = start.settings, start.warehouse, start.log
    try:
        with connect(warehouse) as wh:
            run, alerts = execute(wh, window_for(settings.dq, args.date, args.as_of), checks,
                                  alerts=settings.dq.alerts)
    except (WarehouseUnavailable, WarehouseError) as exc:
        event(log, logging.ERROR, "data-quality run failed", url=warehouse.url,
              error=(str(exc).splitlines() or [type(exc).__name__])[0][:500])
        return 1
    for r in run.results:
        if r.status != "pass":
            event(log, logging.ERROR if r.status == "fail" else logging.WARNING, r.status,
                  check=r.check.name, target=r.check.target, observed=r.observed,
                  threshold=r.check.threshold, details=r.details[:500])
    event(log, logging.INFO, "checked", run_id=run.run_id, **run.counts(), alerts=alerts,
          window_start=str(run.window.start), window_end=str(run.window.end))
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
