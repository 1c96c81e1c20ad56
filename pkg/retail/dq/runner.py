"""Running the declared checks against the warehouse, recording and alerting.

A run evaluates each check's SQL with the run's parameters (:class:`Window`) and the check's
own (a ``latency`` check, ``bi.*``: times its bounded query against the run's budget), turns
each observed value into a status, writes one ``dq_results`` row per check and,
for each failing ``error`` check, one ``stream_alerts`` row (``alert_type`` ``data_quality``),
the table the dashboards and Power BI already show.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from retail.dq.checks import CHECKS, Check, Status
from retail.io.warehouse import Warehouse, WarehouseError
from retail.settings import DqSettings
from retail.streaming.reference import standard_offset_hours
from retail.warehouse.runs import record_run

ALERT_TYPE = "data_quality"
JOB = "data_quality"
_MS = pa.timestamp("ms", "UTC")


def _param_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _date_key(d: date) -> int:
    return d.year * 10_000 + d.month * 100 + d.day


@dataclass(frozen=True)
class Window:
    """What a run looks at: ``now`` (freshness and stream health are judged against it),
    the complete UTC hours ``[start, end)`` (hour-grain checks) and the store-local days
    ``day_from..day_to`` (day-grain checks, rows before ``end``); and ``bi_budget_ms``, the
    milliseconds a ``bi_`` view may take (the ``latency`` checks' threshold; None: the
    declared one)."""

    now: datetime
    start: datetime
    end: datetime
    day_from: date
    day_to: date
    bi_budget_ms: int | None = None

    @classmethod
    def hourly(cls, now: datetime, lookback_hours: int, lookback_days: int) -> Window:
        """The hourly run: the last ``lookback_hours`` complete hours before ``now`` and the
        ``lookback_days`` local days up to today (the hour in progress is left out)."""
        now = now.astimezone(UTC)
        end = now.replace(minute=0, second=0, microsecond=0)
        return cls(now, end - timedelta(hours=lookback_hours), end,
                   (now - timedelta(days=lookback_days)).date(), (now + timedelta(days=1)).date())

    @classmethod
    def day(cls, day: date, now: datetime) -> Window:
        """The run after a batch job closed ``day``: its local day, and the UTC hours that
        any store's local ``day`` overlaps (store time zones span UTC-12..UTC+14)."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = min(midnight + timedelta(days=1, hours=12),
                  now.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
        return cls(now.astimezone(UTC), midnight - timedelta(hours=14), end, day, day)

    def parameters(self, timezones: Iterable[str]) -> dict[str, object]:
        zones = sorted(set(timezones))
        return {"now": _param_time(self.now), "start": _param_time(self.start),
                "end": _param_time(self.end), "day_from": _date_key(self.day_from),
                "day_to": _date_key(self.day_to), "tz_names": zones,
                "tz_offsets": [standard_offset_hours(z) * 3600 for z in zones]}


def window_for(settings: DqSettings, day: date | None = None,
               as_of: datetime | None = None) -> Window:
    """The hourly window as of ``as_of`` (default: now), or local ``day``'s, with the
    settings' budget for the ``bi_`` views."""
    now = as_of or datetime.now(UTC)
    window = Window.day(day, now) if day else \
        Window.hourly(now, settings.lookback_hours, settings.lookback_days)
    return replace(window, bi_budget_ms=settings.bi_budget_ms)


@dataclass(frozen=True)
class Result:
    check: Check
    status: Status
    observed: float | None
    details: str
    checked_at: datetime
    duration_ms: int


@dataclass
class Run:
    run_id: str
    window: Window
    results: list[Result] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        """Failing ``error`` checks: these make the run fail and raise alerts."""
        return [r for r in self.results if r.status == "fail"]

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in ("pass", "warn", "fail")}


def new_run_id(now: datetime) -> str:
    return f"dq-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def evaluate(wh: Warehouse, check: Check, parameters: dict[str, object]) -> Result:
    """One check. A query the warehouse refuses (a missing table, a bad column) is a finding
    of the check's severity with the error in ``details``; an unreachable warehouse raises.
    A ``latency`` check's observed value is the milliseconds its statement took, measured
    here as a client sees it (the round trip included)."""
    started = time.monotonic()
    try:
        rows = wh.query_rows(check.sql, {**parameters, **check.params})
        elapsed_ms = (time.monotonic() - started) * 1000
        observed, details = rows[0] if rows else (None, "no result")
        if check.measure == "latency":
            answered = "no result" if observed is None else f"{int(observed):,} {details}"
            observed = round(elapsed_ms, 1)
            details = (f"{answered} in {observed:,.1f} ms (budget "
                       f"{check.threshold:,.0f} ms)")
        observed = None if observed is None else float(observed)
        status = check.status(observed)
    except WarehouseError as exc:
        observed, details = None, f"query failed: {(str(exc).splitlines() or ['?'])[0][:400]}"
        status = "fail" if check.severity == "error" else "warn"
    return Result(check, status, observed, details, datetime.now(UTC),
                  int((time.monotonic() - started) * 1000))


def budgeted(check: Check, budget_ms: int | None) -> Check:
    """``check`` with ``budget_ms`` as its threshold when it is a ``latency`` check (the
    results, ``dq_results`` and the alerts then carry the budget the run judged by)."""
    if check.measure != "latency" or budget_ms is None:
        return check
    return replace(check, threshold=budget_ms)


def run_checks(wh: Warehouse, window: Window, checks: Iterable[Check] = CHECKS, *,
               run_id: str | None = None,
               on_check: Callable[[Check, int, int], None] | None = None) -> Run:
    """Evaluate ``checks`` (all declared ones by default) in order; ``on_check(check, i, n)``
    is called before each (progress). ``latency`` checks are judged by the window's
    ``bi_budget_ms``."""
    checks = [budgeted(c, window.bi_budget_ms) for c in checks]
    zones = [r[0] for r in wh.query_rows("SELECT DISTINCT timezone FROM dim_store FINAL")]
    parameters = window.parameters(zones)
    run = Run(run_id or new_run_id(window.now), window)
    for i, check in enumerate(checks):
        if on_check:
            on_check(check, i, len(checks))
        run.results.append(evaluate(wh, check, parameters))
    return run


def execute(wh: Warehouse, window: Window, checks: Iterable[Check] = CHECKS, *,
            alerts: bool = True,
            on_check: Callable[[Check, int, int], None] | None = None) -> tuple[Run, int]:
    """A whole run: evaluate, write ``dq_results``, publish the alerts (unless ``alerts`` is
    off) and a ``job_runs`` row (failed when an ``error`` check failed). Returns the run
    and the number of alerts published."""
    started = datetime.now(UTC)
    run = run_checks(wh, window, checks, on_check=on_check)
    record(wh, run)
    published = publish_alerts(wh, run) if alerts and run.failed else 0
    record_run(wh, JOB, run.run_id, "failed" if run.failed else "succeeded",
               started_at=started, finished_at=datetime.now(UTC), rows_out=len(run.results),
               details={**run.counts(), "alerts": published,
                        "failed": [r.check.name for r in run.failed],
                        "window": [str(window.start), str(window.end)],
                        "days": [str(window.day_from), str(window.day_to)]})
    return run, published


def record(wh: Warehouse, run: Run) -> int:
    """One ``dq_results`` row per result (a replayed insert of the same run is dropped)."""
    rs, w = run.results, run.window
    table = pa.table({
        "run_id": [run.run_id] * len(rs), "check_name": [r.check.name for r in rs],
        "category": [r.check.category for r in rs], "target": [r.check.target for r in rs],
        "severity": [r.check.severity for r in rs], "status": [r.status for r in rs],
        "observed": pa.array([r.observed for r in rs], pa.float64()),
        "threshold": pa.array([float(r.check.threshold) for r in rs], pa.float64()),
        "details": [r.details for r in rs],
        "window_start": pa.array([w.start] * len(rs), _MS),
        "window_end": pa.array([w.end] * len(rs), _MS),
        "checked_at": pa.array([r.checked_at for r in rs], _MS),
        "duration_ms": pa.array([r.duration_ms for r in rs], pa.uint32())})
    return wh.insert_arrow("dq_results", table, dedup_token=f"dq_results:{run.run_id}")


def alert_rows(run: Run) -> pa.Table:
    """``stream_alerts`` rows for the run's failing ``error`` checks; the alert id is
    derived from the run and the check, so publishing twice keeps one alert."""
    failed = run.failed
    return pa.table({
        "alert_id": [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run.run_id}/{r.check.name}"))
                     for r in failed],
        "alert_type": [ALERT_TYPE] * len(failed),
        "severity": ["high"] * len(failed),
        "store_id": [""] * len(failed), "product_id": [""] * len(failed),
        "metric_value": pa.array([r.observed for r in failed], pa.float64()),
        "threshold": pa.array([float(r.check.threshold) for r in failed], pa.float64()),
        "details": [json.dumps({"run_id": run.run_id, "check": r.check.name,
                                "target": r.check.target, "unit": r.check.unit,
                                "details": r.details}) for r in failed],
        "event_time": pa.array([r.checked_at for r in failed], _MS)})


def publish_alerts(wh: Warehouse, run: Run) -> int:
    return wh.insert_arrow("stream_alerts", alert_rows(run),
                           dedup_token=f"dq_alerts:{run.run_id}")


def latest(wh: Warehouse) -> list[tuple]:
    """The newest result of every check recorded: ``(check, target, severity, status,
    observed, threshold, details, checked_at, run_id)``, by check name."""
    return wh.query_rows(
        "SELECT check_name, argMax(target, checked_at), argMax(severity, checked_at), "
        "argMax(status, checked_at), argMax(observed, checked_at), "
        "argMax(threshold, checked_at), argMax(details, checked_at), max(checked_at), "
        "argMax(run_id, checked_at) FROM dq_results GROUP BY check_name ORDER BY check_name")
