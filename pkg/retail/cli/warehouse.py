"""``retail warehouse serve|migrate|status|reset|load-dims``: the ClickHouse warehouse."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from retail.cli.common import console, handle_errors, print_table, settings
from retail.io.warehouse import connect
from retail.settings import Settings

app = typer.Typer(help="The ClickHouse warehouse: local server, migrations, dimensions.",
                  no_args_is_help=True)


def migrator(s: Settings):
    from retail.warehouse.migrate import Migrator

    ws = s.resolved_warehouse()
    return Migrator(connect(ws, database=""), ws.database, lambda db: connect(ws, db))


@app.command()
@handle_errors
def serve(
    port: Annotated[int | None, typer.Option(help="Port (default RETAIL_LOCAL__WAREHOUSE_PORT)"
                                             )] = None,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    path: Annotated[Path | None, typer.Option(help="chDB data directory (default "
                                              "<RETAIL_LOCAL__HOME>/warehouse)")] = None,
    max_queries: Annotated[int | None, typer.Option(
        min=1, help="Queries run at once; more wait up to queue_max_wait_ms (default "
        "RETAIL_LOCAL__WAREHOUSE_MAX_QUERIES)")] = None,
) -> None:
    """Run the local ClickHouse server (chDB behind ClickHouse's HTTP interface)."""
    from retail.local.chserver import serve as run

    s = settings()
    data = path or s.local.home / "warehouse"
    bind_port = port or s.local.warehouse_port

    def ready(server: object) -> None:
        console.print(f"warehouse serving on http://{host}:{bind_port} (data in {data}); "
                      "Ctrl-C stops", highlight=False)
        # SIGTERM (retail local down, Kubernetes) stops as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: server.shutdown_soon())

    password = s.warehouse.password.get_secret_value() if s.warehouse.password else ""
    try:
        run(data, host, bind_port, s.warehouse.user, password, ready=ready,
            max_queries=max_queries or s.local.warehouse_max_queries)
    except KeyboardInterrupt:
        pass
    console.print("warehouse stopped")


@app.command()
@handle_errors
def migrate() -> None:
    """Apply pending schema migrations in order (safe to re-run)."""
    m = migrator(settings())
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("migrating", total=None)

        def step(mig, i: int, n: int) -> None:
            bar.update(task, description=f"{mig.filename} [{i}/{n}]")

        done = m.migrate(step)
    for mig in done:
        console.print(f"applied {mig.filename} ({len(mig.statements())} statements)")
    console.print(f"database {m.database}: {len(done)} applied now, "
                  f"{len(m.migrations)} known, up to date")


@app.command()
@handle_errors
def status() -> None:
    """Show each migration: applied, pending, changed (refused) or missing (no file)."""
    m = migrator(settings())
    states = m.status()
    table = Table(title=f"migrations in {m.database}")
    for col in ("version", "name", "state", "applied at (UTC)"):
        table.add_column(col)
    colors = {"applied": "green", "pending": "yellow", "changed": "red", "missing": "red"}
    for st in states:
        table.add_row(f"{st.version:04d}", st.name,
                      f"[{colors[st.state]}]{st.state}[/]", st.applied_at)
    print_table(table)
    if any(st.state in ("pending", "changed", "missing") for st in states):
        raise typer.Exit(3)


@app.command()
@handle_errors
def reset(yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False) -> None:
    """Drop the warehouse database: every table, view and the migration ledger."""
    m = migrator(settings())
    if not yes:
        typer.confirm(f"drop database {m.database} and all its data?", abort=True)
    m.reset()
    console.print(f"dropped database {m.database}; run `retail warehouse migrate` to recreate")


@app.command("load-dims")
@handle_errors
def load_dims(
    stores: Annotated[int | None, typer.Option(help="Stores (default simulator setting)")] = None,
    products: Annotated[int | None, typer.Option(help="SKUs (default simulator setting)")] = None,
    seed: Annotated[int | None, typer.Option(help="Catalog seed")] = None,
    start: Annotated[str, typer.Option(help="First calendar day, YYYY-MM-DD")] = "2023-01-01",
    days: Annotated[int, typer.Option(min=1, help="Calendar days")] = 365 * 4,
) -> None:
    """Fill dim_date, dim_store, dim_product, dim_supplier from the simulator's catalog, and
    publish the promotion calendar through a week past the last day."""
    from retail.cli.common import day_option, with_options
    from retail.sim.catalog import generate_catalog
    from retail.warehouse.load import AHEAD_DAYS, load_dimensions

    s = settings()
    sim = with_options(s.simulator, {"stores": "--stores", "products": "--products",
                                     "seed": "--seed"}, stores=stores, products=products,
                       seed=seed)
    first = day_option("--start", start)
    catalog = generate_catalog(sim.stores, sim.products, sim.seed, sim.country)
    with connect(s.resolved_warehouse()) as wh:
        counts = load_dimensions(wh, catalog, first, days)
    for table, (sent, total) in counts.items():
        console.print(f"{table}: {sent:,} rows sent, {total:,} rows in the table")
    console.print("promotion_calendar: the promotions planned through "
                  f"{first + timedelta(days=days - 1 + AHEAD_DAYS)} (seed {sim.seed})")
