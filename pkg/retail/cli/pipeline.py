"""``retail pipeline run``: the DAGs of dags/ on this machine, through a local Airflow."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from retail.cli.batch import day_range
from retail.cli.common import (BadOption, console, day_option, err_console, handle_errors,
                               print_table, settings)

app = typer.Typer(
    help="Run the DAGs of dags/ on this machine through a local Airflow (its own virtualenv, "
         ".venv-airflow; its home and SQLite metadata database in RETAIL_LOCAL__HOME/airflow), "
         "every task a local subprocess running jobs/<job>.py with this Python and the "
         "RETAIL_* settings. The local stack must be up (retail local up).",
    no_args_is_help=True)


class Pipeline(str, Enum):
    daily = "daily"
    weekly = "weekly"
    predictions = "predictions"


_STYLE = {"success": "green", "failed": "red", "upstream_failed": "red",
          "up_for_retry": "yellow", "up_for_reschedule": "yellow", "skipped": "cyan"}


@app.command()
@handle_errors
def run(
    pipeline: Annotated[Pipeline, typer.Argument(
        help="daily: etl_close_day, features_build, predictions_run, in that order for each "
             "day; weekly: models_train (trains as of the day); predictions: predictions_run")],
    day: Annotated[str | None, typer.Option(
        "--date", help="Business day YYYY-MM-DD (default: yesterday, UTC)")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", help="First business day of a backfill (with --to)")] = None,
    last: Annotated[str | None, typer.Option(
        "--to", help="Last business day of a backfill (with --from)")] = None,
) -> None:
    """Run a pipeline's DAGs for business days, one `airflow dags test` each.

    Business day D runs at the logical date its schedule gives it:
    D + 1 day at the DAG's cron time (models_train: D + 2 days at 02:00).

    A --from/--to backfill runs the weekly DAG only for the days its
    schedule closes (Fridays); --date runs it for any day.

    A failed DAG run does not stop the next ones: each DAG's first task,
    a sensor, decides whether its upstream day is there. Exit code 1 if
    any DAG run failed.

    Progress: a line per task try as it starts and ends, a table at the
    end. Airflow's own output (task logs included) goes to a file under
    RETAIL_LOCAL__HOME/airflow/logs/pipeline/.
    """
    from retail.pipeline.airflow_cli import AirflowCli
    from retail.pipeline.dagtest import log_path, run_dag
    from retail.pipeline.plan import plan, yesterday

    given = [None if v is None else day_option(flag, v)
             for v, flag in ((day, "--date"), (first, "--from"), (last, "--to"))]
    ranged = given[1] is not None or given[2] is not None
    days = day_range(*given) if any(given) else [yesterday()]
    try:
        runs = plan(pipeline.value, days, scheduled_only=ranged)
    except ValueError as exc:
        raise BadOption(str(exc)) from None
    s = settings()
    cli = AirflowCli(s)
    with console.status("airflow db migrate (the local metadata database)"):
        if cli.migrate():
            console.print(f"Airflow {cli.version}: metadata database ready in {cli.home}")
    log = log_path(cli.home, pipeline.value, datetime.now(UTC))
    console.print(f"{pipeline.value}: {len(runs)} DAG run(s), {days[0]}..{days[-1]}; "
                  f"Airflow's output in {log}", highlight=False, soft_wrap=True)
    results = []
    with log.open("a", encoding="utf-8") as fh:
        for planned in runs:
            name = f"{planned.dag.dag_id} {planned.day}"
            failed = [r.run.dag.dag_id for r in results if r.run.day == planned.day
                      and not r.ok]
            if failed:
                console.print(f"[yellow]{name}: runs although {', '.join(failed)} failed for "
                              "this day; its sensor decides[/yellow]", highlight=False,
                              soft_wrap=True)
            console.print(f"[bold]{name}[/bold]: logical date "
                          f"{planned.logical_date.isoformat()}", highlight=False, soft_wrap=True)

            def progress(event, name=name) -> None:
                if event.state is None:
                    again = f" (try {event.try_number})" if event.try_number > 1 else ""
                    console.print(f"  {name} {event.task}: started{again}", highlight=False,
                                  soft_wrap=True)
                    return
                style = _STYLE.get(event.state, "white")
                why = f": {escape(event.error)}" if event.error and event.state in (
                    "failed", "skipped") else ""
                console.print(f"  {name} {event.task}: [{style}]{event.state}[/{style}] "
                              f"in {event.seconds:.1f} s{why}", highlight=False, soft_wrap=True)

            result = run_dag(cli, planned, fh, progress)
            results.append(result)
            style = "green" if result.ok else "red"
            # A task's failure was shown on its line; a run without tasks says why here.
            why = f": {escape(result.error)}" if result.error and not result.tasks else ""
            console.print(f"[{style}]{name}: {result.state}[/{style}] in "
                          f"{result.seconds:.0f} s{why}", highlight=False, soft_wrap=True)
    print_table(_summary(results))
    failures = [r for r in results if not r.ok]
    if failures:
        err_console.print(f"[red]{len(failures)} of {len(results)} DAG run(s) failed[/red]: "
                          + ", ".join(f"{r.run.dag.dag_id} {r.run.day}" for r in failures)
                          + f"; Airflow's output (task logs included): {log}", highlight=False)
        raise typer.Exit(1)


def _summary(results) -> Table:
    table = Table(title="pipeline runs", title_justify="left")
    for col in ("DAG", "day", "task", "state", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for result in results:
        rows = result.tasks or ()
        if not rows:  # the run never started a task (a DAG that failed to parse)
            table.add_row(result.run.dag.dag_id, str(result.run.day), "-",
                          f"[red]{result.state}[/red]", f"{result.seconds:.1f}")
        for task in rows:
            style = _STYLE.get(task.state, "white")
            table.add_row(result.run.dag.dag_id, str(result.run.day), task.task,
                          f"[{style}]{task.state}[/{style}]",
                          "-" if task.seconds is None else f"{task.seconds:.1f}")
        table.add_section()
    return table
