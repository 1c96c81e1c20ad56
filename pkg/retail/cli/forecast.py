"""``retail forecast evaluate``: the realised accuracy of a day's forecasts and the drift of
the main features (docs/models.md, "Monitoring")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import (BadOption, console, day_option, err_console, handle_errors,
                               print_table, settings)

app = typer.Typer(help="Demand forecasts: monitoring (docs/models.md).", no_args_is_help=True)

_STATUS = {"stable": "[green]stable[/green]", "moderate": "[yellow]moderate[/yellow]",
           "significant": "[red]significant[/red]", "no_data": "no data"}


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@app.command("evaluate")
@handle_errors
def evaluate(
    day: Annotated[str, typer.Option(
        "--date", help="The day forecast, YYYY-MM-DD, once its actuals are in the feature "
        "store (after `retail features build --date D`)")],
    reference_days: Annotated[int, typer.Option(
        "--reference-days", help="Drift reference: the N days before the recent week")] = 56,
    reference_from: Annotated[str | None, typer.Option(
        "--reference-from", help="Drift reference window's first day (the training window; "
        "with --reference-to)")] = None,
    reference_to: Annotated[str | None, typer.Option(
        "--reference-to", help="Drift reference window's last day")] = None,
) -> None:
    """WAPE, bias and MAE per model version x horizon x category of the forecasts for
    --date into model_evaluations, the features' PSI (recent week against the reference
    window) into model_drift; print both. A re-run replaces the day's rows."""
    from retail.io.warehouse import connect
    from retail.ml.monitoring import ActualsNotReady, drift_windows, evaluate_day

    when = day_option("--date", day)
    try:
        windows = drift_windows(
            when, reference_days=reference_days,
            reference_from=day_option("--reference-from", reference_from)
            if reference_from else None,
            reference_to=day_option("--reference-to", reference_to) if reference_to else None)
    except ValueError as exc:
        raise BadOption(str(exc)) from None
    s = settings()
    try:
        with connect(s.resolved_warehouse()) as wh, console.status(f"evaluating {when}"):
            report = evaluate_day(wh, when, windows)
    except ActualsNotReady as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if not report.versions:
        console.print(f"no forecast for {when} in fact_ml_predictions: nothing to evaluate")
        return
    table = Table("model", "version", "horizon", "category", "pairs", "actual", "forecast",
                  "WAPE", "bias", "MAE", "in 80 %", "in 95 %")
    for r in report.accuracy.to_pylist():
        table.add_row(r["model"], r["model_version"], str(r["horizon"]), r["category"],
                      str(r["n"]), f"{r['actual_sum']:,.0f}", f"{r['forecast_sum']:,.0f}",
                      _share(r["wape"]), _share(r["bias"]), f"{r['mae']:.2f}",
                      _share(r["coverage_80"]), _share(r["coverage_95"]))
    print_table(table)
    drift = Table("feature", "PSI", "status", "reference mean", "recent mean")
    for d in report.drift:
        drift.add_row(d.feature, "-" if d.psi is None else f"{d.psi:.3f}",
                      _STATUS[d.status],
                      "-" if d.reference_mean is None else f"{d.reference_mean:,.2f}",
                      "-" if d.recent_mean is None else f"{d.recent_mean:,.2f}")
    print_table(drift)
    console.print(f"{report.evaluations_written} evaluation row(s) in model_evaluations, "
                  f"{report.drift_written} in model_drift (reference {windows.reference_from} "
                  f"to {windows.reference_to}, recent {windows.recent_from} to "
                  f"{windows.recent_to})", highlight=False)
