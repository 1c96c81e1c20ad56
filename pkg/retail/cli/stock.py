"""``retail stock optimize|train-lead-time``: the replenishment recommendations of a day and
the supplier lead-time regression (docs/models.md, "Replenishment")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import console, day_option, handle_errors, print_table
from retail.cli.models import model_session, registry_errors

app = typer.Typer(help="Replenishment: reorder recommendations and supplier lead times.",
                  no_args_is_help=True)


@app.command("optimize")
@handle_errors
@registry_errors
def optimize(day: Annotated[str, typer.Option(
        "--date", help="Run date YYYY-MM-DD, after `retail forecast predict --date D`")]
             ) -> None:
    """Recommendations of D (safety stock, reorder point, order-up-to level, the order in
    whole packs with its reasons, the stock-out risk) into fact_replenishment, and each
    pair's order into D's horizon-1 forecast row."""
    from retail.batch.runner import each_day
    from retail.ml.replenishment.daily import JOB, load_lead_time, optimize_day

    when = day_option("--date", day)
    with (model_session("retail-optimize-stock") as (s, wh, registry, spark),
          console.status(f"recommending orders for {when}")):
        lead = load_lead_time(spark, registry)
        r = each_day(wh, JOB, [when], lambda d: optimize_day(
            spark, wh, lead, s.replenishment, d),
            lambda r: ("succeeded", r.pairs, r.orders, r.as_details()))[0]
    from retail.ml.forecast.show import top_orders

    table = Table("store", "product", "on hand", "on order", "order", "by", "why",
                  "stock-out risk", title=f"the riskiest orders of {when}",
                  title_justify="left")
    for o in top_orders(wh, when):
        table.add_row(o["store_id"], o["product_id"], str(o["on_hand"]), str(o["on_order"]),
                      str(o["order_qty"]), str(o["order_by_date"] or "-"),
                      ", ".join(o["reasons"]) or "-", f"{o['stock_out_risk']:.0%}")
    print_table(table)
    console.print(f"{when}: {r.orders:,} of {r.pairs:,} store x product pairs to order, "
                  f"{r.units:,} units, from the forecasts of version {r.model_version} into "
                  f"fact_replenishment ({r.seconds:.1f} s); a pair: retail forecast show "
                  "--store S --product P", highlight=False)


@app.command("train-lead-time")
@handle_errors
@registry_errors
def train_lead_time_command(as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Last order day YYYY-MM-DD (default: yesterday, UTC)")] = None
                            ) -> None:
    """Fit the supplier lead-time regression on the shipments, register it, and make it
    the champion when it beats the supplier-mean baseline on the holdout weeks."""
    from datetime import UTC, datetime, timedelta

    from retail.ml.replenishment.daily import train_lead_time

    when = (day_option("--as-of", as_of) if as_of
            else datetime.now(UTC).date() - timedelta(days=1))
    with (model_session("retail-optimize-stock") as (s, wh, registry, spark),
          console.status(f"fitting lead times up to {when}")):
        done = train_lead_time(spark, wh, registry, s.replenishment, when)
    table = Table("", "MAE (days)", "RMSE (days)", title="holdout", title_justify="left")
    m = done.fit.metrics
    table.add_row("regression", f"{m['mae']:.3f}", f"{m['rmse']:.3f}")
    table.add_row("supplier mean", f"{m['baseline_mae']:.3f}", f"{m['baseline_rmse']:.3f}")
    print_table(table)
    console.print(f"{done.training.name} version {done.training.version}: "
                  f"{'[green]champion[/green]' if done.promoted else '[yellow]not promoted[/yellow]'}"
                  f" ({done.reason})", highlight=False)
