"""``retail batch daily-etl`` and ``close-imported``: close store-local business days (see
docs/batch.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import BadOption, console, err_console, handle_errors, print_table, \
    settings

app = typer.Typer(help="The daily batch: closed days, their reconciliation.",
                  no_args_is_help=True)


def day_range(day: date | None, first: date | None, last: date | None) -> list[date]:
    """The days of ``--date`` or ``--from``/``--to`` (oldest first)."""
    from retail.batch.runner import days_between

    if day is not None and (first is not None or last is not None):
        raise BadOption("give --date, or --from and --to, not both")
    if day is not None:
        return [day]
    if first is None or last is None:
        raise BadOption("give --date D, or --from D1 --to D2 (both)")
    if last < first:
        raise BadOption(f"--to {last} is before --from {first}")
    return days_between(first, last)


def reconciliation_table(report) -> Table:  # report: DayReport
    table = Table(title=f"{report.day}: {'balanced' if report.balanced else 'NOT balanced'} "
                  f"({report.seconds:.1f} s)", title_justify="left")
    for col in ("event type", "lake", "late", "rejected", "duplicates", "in day",
                "facts before", "inserted", "facts after", ""):
        table.add_column(col, justify="left" if col in ("event type", "rejected", "")
                         else "right")
    for t in report.topics:
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(t.rejected.items())) or "-"
        table.add_row(t.event_type, f"{t.lake:,}", f"{t.late:,}", rejected,
                      f"{t.duplicates:,}", f"{t.in_day:,}", f"{t.facts_before:,}",
                      f"{t.inserted:,}", f"{t.facts_after:,}",
                      "ok" if t.balanced else "[red]does not balance[/red]")
    return table


@app.command("daily-etl")
@handle_errors
def daily_etl(
    day: Annotated[str | None, typer.Option("--date", help="Business day YYYY-MM-DD")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day of a backfill")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day of a backfill")] = None,
) -> None:
    """Close business days: lake + late events -> checked, deduplicated, in the facts once."""
    from retail.batch.runner import DayUnbalanced, run_days
    from retail.batch.sources import LakeDayMissing
    from retail.io.warehouse import connect
    from retail.streaming.job import spark_session

    days = day_range(*(_parse(v, flag) for v, flag in
                       ((day, "--date"), (first, "--from"), (last, "--to"))))
    s = settings()
    wh = connect(s.resolved_warehouse())
    spark = spark_session(s, "retail-daily-etl")
    console.print(f"daily ETL: {len(days)} day(s), {days[0]}..{days[-1]}, lake {s.lake.root}")
    try:
        run_days(spark, s, wh, days, on_day=lambda r: print_table(reconciliation_table(r)))
    except DayUnbalanced as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except LakeDayMissing as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"closed {len(days)} day(s); job_runs holds each day's reconciliation")


@app.command("close-imported")
@handle_errors
def close_imported_days(
    day: Annotated[str | None, typer.Option("--date", help="Day YYYY-MM-DD")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day")] = None,
) -> None:
    """Close days whose facts were loaded straight into the warehouse (imported history, a
    backfill): their end-of-day snapshot only, no lake reconciliation (docs/batch.md)."""
    from rich.progress import Progress

    from retail.batch.imported import NothingImported, close_imported
    from retail.io.warehouse import connect

    days = day_range(*(_parse(v, flag) for v, flag in
                       ((day, "--date"), (first, "--from"), (last, "--to"))))
    wh = connect(settings().resolved_warehouse())
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("closing imported days", total=len(days))
        try:
            closed = close_imported(wh, days, on_day=lambda d: progress.update(
                task, advance=1, description=f"closed {d.day} ({d.snapshot_rows:,} snapshot "
                                             "rows)"))
        except NothingImported as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None
    rows = sum(d.snapshot_rows for d in closed)
    console.print(f"closed {len(closed)} imported day(s), {days[0]}..{days[-1]}: {rows:,} "
                  "end-of-day snapshot rows; job_runs records them as close_imported "
                  "(not reconciled with the lake)")


def _parse(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadOption(f"{flag} must be a date YYYY-MM-DD, got {value!r}") from None
