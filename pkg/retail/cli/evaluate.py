"""``retail evaluate business``: the closed-loop experiment (docs/business-impact.md)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from retail.cli.common import BadOption, console, day_option, handle_errors, print_table, settings
from retail.cli.models import registry_errors

app = typer.Typer(help="Measure the platform's outcome (docs/business-impact.md).",
                  no_args_is_help=True)


@app.command("business")
@handle_errors
@registry_errors
def business(
    stores: Annotated[int, typer.Option(help="Stores of the simulated chain")] = 10,
    products: Annotated[int, typer.Option(help="SKUs of the simulated chain")] = 200,
    seed: Annotated[int, typer.Option(help="The chain's and its customers' seed")] = 42,
    rate: Annotated[float, typer.Option(help="Events a minute a store")] = 4.0,
    start: Annotated[str, typer.Option(help="The first simulated day, a Monday")] = "2026-01-05",
    warmup_weeks: Annotated[int, typer.Option(
        help="Weeks of history before the compared period (both arms by the fixed policy)")] = 12,
    compare_weeks: Annotated[int, typer.Option(help="Weeks compared")] = 8,
    feature_days: Annotated[int, typer.Option(
        help="Days of features the first training reads (the warm-up's last days)")] = 56,
    write: Annotated[Path | None, typer.Option(
        help="Write the report here (e.g. docs/business-impact.md) and its plots beside it "
        "in img/business-impact/")] = None,
    oracle: Annotated[list[str] | None, typer.Option(
        help="Replace a part of the platform's chain by the simulator's truth (the "
        "attribution; repeatable): forecast, safety-stock, lead-time, caps")] = None,
    keep: Annotated[bool, typer.Option(
        help="Keep the platform arm's scratch database (dropped by default)")] = False,
) -> None:
    """Simulate one chain twice with the same customers: ordering by its fixed policy, and
    by the platform's recommendations (the real jobs each night). Print both arms' metrics
    and their ratio, insert them into business_impact, and optionally write the report."""
    from retail.business.experiment import Experiment
    from retail.business.metrics import compare
    from retail.business.report import TARGETS, attribution, targets_met
    from retail.business.report import write as write_report
    from retail.io.warehouse import connect
    from retail.business.runner import run_business

    for flag, value in (("--stores", stores), ("--products", products)):
        if value < 1:
            raise BadOption(f"{flag} must be at least 1, got {value}")
    try:
        exp = Experiment(stores=stores, products=products, seed=seed, rate=rate,
                         start=day_option("--start", start), warmup_weeks=warmup_weeks,
                         compare_weeks=compare_weeks, feature_days=feature_days,
                         oracle=frozenset(oracle or ()))
    except ValueError as exc:  # the experiment's rules name its fields: name the flags
        raise BadOption("invalid options: " + re.sub(
            r"\b(start|warmup_weeks|compare_weeks|feature_days|oracle)\b",
            lambda m: "--" + m.group(1).replace("_", "-"),
            str(exc))) from None
    s = settings()
    # in a terminal a bar; in a log (no terminal: rich draws no bar) a line a simulated
    # week and a line a long step
    lines = not console.is_terminal
    with Progress(TextColumn("[bold]business[/bold] {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task(f"{exp.days} simulated days, two arms", total=2 * exp.days)

        def note(text: str) -> None:
            bar.update(task, description=text)
            if lines:
                console.print(f"[{time.strftime('%H:%M:%S')}] {text}", highlight=False)

        def on_day(day, what: str) -> None:
            if what in ("baseline", "warm-up", "compared"):
                bar.update(task, advance=1, description=f"{day} ({what})")
                if lines and day.weekday() == 6:
                    done = int(bar.tasks[0].completed)
                    console.print(f"[{time.strftime('%H:%M:%S')}] {what} to {day} "
                                  f"({done}/{2 * exp.days} simulated days)", highlight=False)
            else:
                note(f"{day}: {what}")

        result = run_business(s, exp, on_day=on_day, on_step=note, keep=keep)
    table = Table("metric", "baseline", "platform", "platform / baseline", "target",
                  title=f"business impact{' (' + exp.variant + ')' if exp.variant else ''}, "
                  f"run {result.run_id} "
                  f"({result.seconds / 60:.1f} min)", title_justify="left")
    met, target = targets_met(result), {t.metric: t for t in TARGETS}
    for c in compare(result.metrics["baseline"], result.metrics["platform"]):
        t = target.get(c.metric)
        verdict = "" if t is None else (
            f"[green]{t.promise}: met[/green]" if met[c.metric]
            else f"[red]{t.promise}: not met[/red]")
        table.add_row(c.metric, f"{c.baseline:,.4g}", f"{c.platform:,.4g}",
                      f"{c.ratio:.2f}x", verdict)
    print_table(table)
    console.print(f"{len(result.impact_rows())} row(s) in business_impact (run_id "
                  f"{result.run_id})")
    if write:
        with connect(s.resolved_warehouse()) as wh:
            ratios = attribution(wh, result.outcome.experiment)
        for path in write_report(result, write, ratios):
            console.print(f"wrote {path}")
