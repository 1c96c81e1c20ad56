"""``retail local up|down|status``: the embedded Kafka-protocol broker and its topics, the
warehouse and the MLflow server."""

from __future__ import annotations

import typer
from rich.table import Table

from retail.cli.common import console, handle_errors, print_table, settings
from retail.contracts import topics
from retail.io.kafka import describe
from retail.local import mlflow_server, stack, warehouse_proc

app = typer.Typer(help="The embedded local stack: Kafka-protocol broker, ClickHouse (chDB) "
                       "warehouse and MLflow server on 127.0.0.1, state in RETAIL_LOCAL__HOME "
                       "(.retail/).",
                  no_args_is_help=True)


@app.command()
@handle_errors
def up() -> None:
    """Start the broker, the warehouse and the MLflow server; create topics, migrate.

    Only what is not running starts; the MLflow server not at all while
    RETAIL_MLFLOW__TRACKING_URI names another one.
    """
    from retail.cli.warehouse import migrator

    s = settings()
    run_mlflow = mlflow_server.wanted(s)
    if run_mlflow and mlflow_server.read_record(s) is None:
        mlflow_server.server_bin(s)  # missing: say so before anything starts
    # Every port first: a port another process holds must not leave a broker running.
    stack.ensure_ports_free(
        ([] if stack.read_record(s) else [(s.local.broker_port, "RETAIL_LOCAL__BROKER_PORT")])
        + ([] if warehouse_proc.read_record(s) else
           [(s.local.warehouse_port, "RETAIL_LOCAL__WAREHOUSE_PORT")])
        + ([] if not run_mlflow or mlflow_server.read_record(s) else
           [(s.local.mlflow_port, mlflow_server.PORT_VARIABLE)]))
    record, created = stack.up(s, storage_engine=s.local.storage_engine)
    console.print(f"broker up: pid {record.pid}, 127.0.0.1:{record.port} "
                  f"({record.storage_engine}), state in {s.local.home}/")
    console.print(f"topics created: {', '.join(created) if created else 'none (all existed)'}")
    _reset_stream_checkpoint(s, fresh_broker=bool(created))
    with console.status("starting the warehouse (chDB)"):
        wh, _ = warehouse_proc.up(s)
    console.print(f"warehouse up: pid {wh.pid}, http://127.0.0.1:{wh.port} (ClickHouse HTTP "
                  f"interface; data in {wh.path})")
    applied = migrator(s).migrate()
    console.print(f"schema: {len(applied)} migration(s) applied now, up to date")
    if not run_mlflow:
        console.print(f"mlflow: not started here, RETAIL_MLFLOW__TRACKING_URI is "
                      f"{s.mlflow.tracking_uri}")
        return
    with console.status("starting the MLflow server (about 15 s)"):
        ml, _ = mlflow_server.up(s)
    console.print(f"mlflow up: pid {ml.pid}, UI and tracking at {ml.url} (backend "
                  f"{ml.backend_store}, artifacts in {ml.artifacts})")


def _reset_stream_checkpoint(s, *, fresh_broker: bool) -> None:
    """A new in-memory broker starts with empty topics; a local stream checkpoint would point
    past their ends (and the stream would refuse to run), so it goes too."""
    import shutil
    from pathlib import Path

    checkpoint = Path(s.stream_checkpoint()).resolve()
    home = Path(s.local.home).resolve()
    if fresh_broker and s.local.storage_engine.startswith("memory://") \
            and checkpoint.is_relative_to(home) and checkpoint.exists():
        shutil.rmtree(checkpoint)
        console.print(f"stream checkpoint {checkpoint} removed (the broker starts empty)")


@app.command()
@handle_errors
def down() -> None:
    """Stop the broker, the warehouse and the MLflow server that `up` started (only those)."""
    s = settings()
    record = stack.down(s)
    console.print(f"broker stopped (pid {record.pid})" if record else "broker: nothing to stop")
    wh = warehouse_proc.down(s)
    console.print(f"warehouse stopped (pid {wh.pid})" if wh else "warehouse: nothing to stop")
    ml = mlflow_server.down(s)
    console.print(f"mlflow stopped (pid {ml.pid})" if ml else "mlflow: nothing to stop")


@app.command()
@handle_errors
def status() -> None:
    """Show whether the broker runs, and every topic with partitions and end offsets."""
    s = settings()
    record = stack.read_record(s)
    if record is None:
        console.print("broker: [yellow]not running[/yellow] (start it with `retail local up`)")
        raise typer.Exit(3)
    console.print(f"broker: running, pid {record.pid}, 127.0.0.1:{record.port}")
    wh = warehouse_proc.read_record(s)
    console.print(f"warehouse: running, pid {wh.pid}, http://127.0.0.1:{wh.port}" if wh else
                  "warehouse: [yellow]not running[/yellow]")
    ml = mlflow_server.read_record(s)
    console.print(f"mlflow: running, pid {ml.pid}, {ml.url}" if ml else
                  "mlflow: [yellow]not running[/yellow]" if mlflow_server.wanted(s) else
                  f"mlflow: {s.mlflow.tracking_uri} (RETAIL_MLFLOW__TRACKING_URI)")
    declared = {t.name: t for t in topics()}
    table = Table()
    table.add_column("topic", no_wrap=True, min_width=max(len(name) for name in declared))
    for header in ("partitions", "end offsets", "messages", "declared"):
        table.add_column(header)
    for state in describe(s.resolved_kafka()):
        offs = " ".join(f"{p}:{o}" for p, o in sorted(state.end_offsets.items()))
        ok = declared.get(state.name)
        table.add_row(state.name, str(state.partitions), offs, f"{state.messages:,}",
                      "yes" if ok and ok.partitions == state.partitions else "no")
    print_table(table)
