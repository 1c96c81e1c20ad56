"""``retail dq run|status|list``: the data-quality checks on the warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import (BadOption, console, day_option, handle_errors, print_table,
                               settings)

app = typer.Typer(help="Data-quality checks on the warehouse (docs/data-quality.md).",
                  no_args_is_help=True)

_STATUS = {"pass": "[green]pass[/green]", "warn": "[yellow]warn[/yellow]",
           "fail": "[red]fail[/red]"}


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value:.1%}"
    return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise BadOption(f"--as-of must be an ISO date and time such as 2026-03-11T18:30 "
                        f"(UTC unless it names an offset), got {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@app.command("run")
@handle_errors
def run(
    day: Annotated[str | None, typer.Option(
        "--date", help="Judge this store-local day YYYY-MM-DD (after a batch job closed it) "
        "instead of the last hours")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Judge as of this time (ISO 8601, UTC by default) instead of now")] = None,
    check: Annotated[list[str] | None, typer.Option(
        "--check", help="Only checks whose name matches this glob (repeatable), e.g. "
        "'freshness.*'")] = None,
    no_alerts: Annotated[bool, typer.Option(
        "--no-alerts", help="Do not write failing error checks to stream_alerts")] = False,
) -> None:
    """Run the checks, record them in dq_results and print them; exit 1 when an error
    check fails (it is also published to stream_alerts)."""
    from retail.dq.checks import select_checks
    from retail.dq.runner import execute, window_for
    from retail.io.warehouse import connect

    s = settings()
    try:
        checks = select_checks(check)
    except ValueError as exc:
        raise BadOption(str(exc)) from None
    window = window_for(s.dq, day_option("--date", day) if day else None, _as_of(as_of))
    with connect(s.resolved_warehouse()) as wh, console.status("checking") as spinner:
        result, alerts = execute(wh, window, checks, alerts=s.dq.alerts and not no_alerts,
                                 on_check=lambda c, i, n: spinner.update(
                                     f"checking {c.name} ({i + 1}/{n})"))
    table = Table("status", "check", "target", "observed", "threshold", "unit", "details")
    for r in result.results:
        table.add_row(_STATUS[r.status], r.check.name, r.check.target,
                      _number(r.observed, r.check.unit),
                      _number(r.check.threshold, r.check.unit), r.check.unit, r.details)
    print_table(table)
    counts = result.counts()
    console.print(f"run {result.run_id}: {counts['pass']} pass, {counts['warn']} warn, "
                  f"{counts['fail']} fail (hours {window.start:%Y-%m-%d %H:%M} to "
                  f"{window.end:%Y-%m-%d %H:%M} UTC, days {window.day_from} to "
                  f"{window.day_to}); results in dq_results"
                  + (f", {alerts} alert(s) in stream_alerts" if alerts else ""),
                  highlight=False)
    if result.failed:
        raise typer.Exit(1)


@app.command("status")
@handle_errors
def status() -> None:
    """The latest result of every check recorded in dq_results."""
    from retail.dq.checks import CHECKS
    from retail.dq.runner import latest
    from retail.io.warehouse import connect

    units = {c.name: c.unit for c in CHECKS}
    with connect(settings().resolved_warehouse()) as wh:
        rows = latest(wh)
    if not rows:
        console.print("no data-quality results recorded yet: run `retail dq run`")
        return
    table = Table("status", "check", "target", "observed", "threshold", "checked at (UTC)",
                  "details")
    for name, target, _sev, state, observed, threshold, details, at, _run in rows:
        unit = units.get(name, "")
        table.add_row(_STATUS.get(state, state), name, target, _number(observed, unit),
                      _number(threshold, unit), f"{at:%Y-%m-%d %H:%M:%S}", details)
    print_table(table)


@app.command("list")
@handle_errors
def list_checks() -> None:
    """The declared checks: what each judges, its threshold and severity."""
    from retail.dq.checks import CHECKS

    table = Table("check", "target", "severity", "threshold", "unit", "meaning")
    for c in CHECKS:
        table.add_row(c.name, c.target, c.severity, _number(c.threshold, c.unit), c.unit,
                      c.meaning)
    print_table(table)
