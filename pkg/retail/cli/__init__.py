"""The ``retail`` command: one sub-command per verb."""

from __future__ import annotations

import typer

from retail.cli import access as access_cmd
from retail.cli import batch as batch_cmd
from retail.cli import contracts as contracts_cmd
from retail.cli import dashboard as dashboard_cmd
from retail.cli import dq as dq_cmd
from retail.cli import evaluate as evaluate_cmd
from retail.cli import features as features_cmd
from retail.cli import forecast as forecast_cmd
from retail.cli import insights as insights_cmd
from retail.cli import lake as lake_cmd
from retail.cli import local as local_cmd
from retail.cli import masterdata as masterdata_cmd
from retail.cli import models as models_cmd
from retail.cli import pipeline as pipeline_cmd
from retail.cli import query as query_cmd
from retail.cli import simulate as simulate_cmd
from retail.cli import stock as stock_cmd
from retail.cli import stream as stream_cmd
from retail.cli import warehouse as warehouse_cmd
from retail.cli.common import set_verbose

app = typer.Typer(
    name="retail",
    help="Retail inventory platform: local stack, POS simulator, event contracts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also show third-party libraries' INFO logs (py4j, "
        "Kafka, HTTP clients); RETAIL_LOG__LEVEL=DEBUG shows everything")) -> None:
    set_verbose(verbose)


app.add_typer(local_cmd.app, name="local")
app.add_typer(access_cmd.app, name="access")
app.add_typer(dashboard_cmd.app, name="dashboard")
app.add_typer(contracts_cmd.app, name="contracts")
app.add_typer(warehouse_cmd.app, name="warehouse")
app.add_typer(stream_cmd.app, name="stream")
app.add_typer(masterdata_cmd.app, name="masterdata")
app.add_typer(batch_cmd.app, name="batch")
app.add_typer(lake_cmd.app, name="lake")
app.add_typer(dq_cmd.app, name="dq")
app.add_typer(features_cmd.app, name="features")
app.add_typer(forecast_cmd.app, name="forecast")
app.add_typer(evaluate_cmd.app, name="evaluate")
app.add_typer(models_cmd.app, name="models")
app.add_typer(stock_cmd.app, name="stock")
app.add_typer(pipeline_cmd.app, name="pipeline")
app.add_typer(insights_cmd.anomalies_app, name="anomalies")
app.command("slow-movers")(insights_cmd.slow_movers)
app.command("recommend")(insights_cmd.recommend)
app.command("simulate")(simulate_cmd.simulate)
app.command("peek")(simulate_cmd.peek)
app.command("query")(query_cmd.query)


def main() -> None:
    app()
