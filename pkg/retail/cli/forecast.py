"""``retail forecast evaluate``: the realised accuracy of a day's forecasts and the drift of
the main features (docs/models.md, "Monitoring")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import (BadOption, console, day_option, err_console, handle_errors,
                               print_table, settings)
from retail.cli.models import model_session, registry_errors

app = typer.Typer(help="Demand forecasts: training, daily predictions, a pair's forecast, "
                  "monitoring (docs/models.md).", no_args_is_help=True)

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


@app.command("train")
@handle_errors
@registry_errors
def train_command(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Training cut-off YYYY-MM-DD (default: yesterday, UTC); the "
        "feature store must hold the weeks before it")] = None,
) -> None:
    """Tune and backtest the GBT on rolling weekly origins, log the run to MLflow, register
    the model; it becomes the champion only if its backtest WAPE beats the champion's on
    the same origins (RETAIL_FORECAST__* sets the grid)."""
    from datetime import UTC, datetime, timedelta

    from retail.ml.forecast.registered import train_and_register

    when = (day_option("--as-of", as_of) if as_of
            else datetime.now(UTC).date() - timedelta(days=1))
    with (model_session("retail-train-demand-forecast") as (s, wh, registry, spark),
          console.status(f"training the demand forecast up to {when}") as status):
        done = train_and_register(spark, wh, registry, s.forecast, when,
                                  on_step=lambda line: status.update(line))
    r = done.result
    table = Table("model", "WAPE", "to seasonal naive", "to oracle", title=(
        f"backtest, origins {', '.join(r.origins)} (store x product x day, 7 days)"),
        title_justify="left")
    for model, ratio in sorted(r.ratios.items(), key=lambda kv: kv[1]["wape"]):
        table.add_row(model, f"{ratio['wape']:.3f}", f"{ratio['to_seasonal_naive']:.2f}",
                      "-" if ratio["to_oracle"] != ratio["to_oracle"]
                      else f"{ratio['to_oracle']:.2f}")
    print_table(table)
    p = done.promotion
    console.print(
        f"{p.name} version {done.training.version} (run {done.training.run_id}): "
        f"mean WAPE over the origins {r.score:.4f}; interval coverage on the last origin "
        f"{', '.join(f'{k} %: {v:.1%}' for k, v in r.coverage.items())}; "
        f"{'[green]champion[/green]' if p.promoted else '[yellow]not promoted[/yellow]'} "
        f"({p.reason}); {r.seconds:.0f} s", highlight=False)


@app.command("predict")
@handle_errors
@registry_errors
def predict_command(
    day: Annotated[str | None, typer.Option("--date", help="Run date YYYY-MM-DD")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First run date")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last run date")] = None,
) -> None:
    """The champion's forecasts of D+1..D+7 (80 % and 95 % intervals, stock-out risk) for
    every store x product in the feature store on D, into fact_ml_predictions."""
    from retail.cli.batch import day_range
    from retail.ml.forecast.daily import predict_days

    days = day_range(*(None if v is None else day_option(flag, v) for v, flag in
                       ((day, "--date"), (first, "--from"), (last, "--to"))))
    with (model_session("retail-predict-daily") as (s, wh, registry, spark),
          console.status(f"predicting {len(days)} run date(s)")):
        done = predict_days(spark, wh, registry, days, horizon=s.forecast.horizon_days)
    for r in done:
        console.print(f"{r.day}: {r.rows:,} forecasts of {r.pairs:,} store x product pairs "
                      f"by version {r.model_version} into fact_ml_predictions "
                      f"({r.seconds:.1f} s)", highlight=False)


@app.command("show")
@handle_errors
def show_command(
    store: Annotated[str, typer.Option("--store", help="Store id, e.g. S00001")],
    product: Annotated[str, typer.Option("--product", help="Product id, e.g. P000001")],
    day: Annotated[str | None, typer.Option(
        "--date", help="Run date YYYY-MM-DD (default: the latest with forecasts)")] = None,
) -> None:
    """A pair's forecast with its intervals and stock-out risk, and its recommendation."""
    from retail.io.warehouse import connect
    from retail.ml.forecast.show import pair_forecast

    s = settings()
    with connect(s.resolved_warehouse()) as wh:
        shown = pair_forecast(wh, store, product, day_option("--date", day) if day else None)
    if shown is None:
        raise BadOption(f"--store {store} --product {product}: no forecast in "
                        "fact_ml_predictions" + (f" made on {day}" if day else "") +
                        " (retail forecast predict --date D)")
    table = Table("day", "h", "forecast", "80 %", "95 %", "stock-out risk", title=(
        f"{store} x {product}, made on {shown.run_date} by version {shown.version}"),
        title_justify="left")
    for r in shown.forecasts:
        table.add_row(str(r["day"]), str(r["horizon"]), f"{r['forecast']:.1f}",
                      f"{r['low_80']:.1f} - {r['high_80']:.1f}",
                      f"{r['low_95']:.1f} - {r['high_95']:.1f}", f"{r['risk']:.0%}")
    print_table(table)
    rec = shown.recommendation
    if rec is None:
        console.print("no recommendation yet (retail stock optimize --date "
                      f"{shown.run_date})")
        return
    console.print(
        f"on hand {rec['on_hand']}, on order {rec['on_order']}; reorder point "
        f"{rec['reorder_point']:.1f}, order up to {rec['order_up_to']:.1f} (safety stock "
        f"{rec['safety_stock']:.1f}, class {rec['abc_class']}, lead time "
        f"{rec['lead_time_days']:.1f} +- {rec['lead_time_sd_days']:.1f} days): order "
        f"[bold]{rec['order_qty']}[/bold] (packs of {rec['pack_size']})"
        + (f" by {rec['order_by_date']}" if rec["order_by_date"] else "")
        + (f"; why: {', '.join(rec['reasons'])}" if rec["reasons"] else "")
        + f"; stock-out risk before the next delivery {rec['stock_out_risk']:.0%}",
        highlight=False)
