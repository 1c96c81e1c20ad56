"""``retail features build|list``: the feature store (see docs/features.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retail.cli.batch import day_range
from retail.cli.common import (BadOption, console, day_option, err_console, handle_errors,
                               print_table, settings)

app = typer.Typer(help="The feature store: one row per store x product x closed day.",
                  no_args_is_help=True)


@app.command("build")
@handle_errors
def build(
    day: Annotated[str | None, typer.Option("--date", help="Business day YYYY-MM-DD")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day of a backfill")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day of a backfill")] = None,
) -> None:
    """Build the features of closed days into feature_store_daily and the lake."""
    from retail.features.build import run_days
    from retail.features.sources import DayNotReady, check_ready
    from retail.io.warehouse import connect
    from retail.streaming.job import spark_session

    days = day_range(*(None if v is None else day_option(flag, v) for v, flag in
                       ((day, "--date"), (first, "--from"), (last, "--to"))))
    s = settings()
    wh = connect(s.resolved_warehouse())
    try:
        check_ready(wh, days)  # before Spark starts: a day not closed is known at once
    except DayNotReady as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    spark = spark_session(s, "retail-build-features")
    table = Table(title="features", title_justify="left")
    for col in ("day", "rows", "written", "seconds", "lake"):
        table.add_column(col, justify="left" if col in ("day", "lake") else "right")
    with Progress(TextColumn("[bold]features[/bold] {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"{len(days)} day(s), {days[0]}..{days[-1]}", total=len(days))

        def done(report) -> None:
            table.add_row(str(report.day), f"{report.rows:,}", f"{report.written:,}",
                          f"{report.seconds:.1f}", report.lake_path)
            bar.advance(task)

        try:
            run_days(spark, s, wh, days, on_day=done)
        except DayNotReady as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None
    print_table(table)
    console.print(f"built {len(days)} day(s) into {wh.database}.feature_store_daily "
                  "(written: rows new or changed); job_runs holds each day")


@app.command("list")
@handle_errors
def list_features(write: Annotated[Path | None, typer.Option(
        help="Replace the generated section of this Markdown file (docs/features.md) "
        "instead of printing it")] = None) -> None:
    """The feature store's columns: name, type, meaning."""
    from retail.features.definitions import features_markdown, with_features

    if write is None:
        console.print(features_markdown(), markup=False, highlight=False, soft_wrap=True)
        return
    if not write.is_file():
        raise BadOption(f"--write {write}: no such file")
    write.write_text(with_features(write.read_text()))
    console.print(f"wrote the feature list into {write}")
