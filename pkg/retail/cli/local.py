"""``retail local up|down|status``: the embedded Kafka-protocol broker and its topics, the
warehouse, the MLflow server and, on request, a local Airflow and the web dashboards."""

from __future__ import annotations

import typer
from rich.table import Table

from retail.cli.common import console, handle_errors, print_table, settings
from retail.contracts import topics
from retail.io.kafka import describe
from retail.local import airflow_server, dashboard_server, mlflow_server, stack, warehouse_proc

app = typer.Typer(help="The embedded local stack: Kafka-protocol broker, ClickHouse (chDB) "
                       "warehouse and MLflow server (and Airflow, --with-airflow; the web "
                       "dashboards, --with-dashboard) on 127.0.0.1, "
                       "state in RETAIL_LOCAL__HOME (.retail/).",
                  no_args_is_help=True)


@app.command()
@handle_errors
def up(with_airflow: bool = typer.Option(
        False, "--with-airflow", help="Also start a local Airflow (API server and UI, "
        "scheduler, DAG processor, triggerer; LocalExecutor) on 127.0.0.1:RETAIL_AIRFLOW__API_PORT "
        "(8080), running the DAGs of dags/ as local subprocesses"),
        with_dashboard: bool = typer.Option(
        False, "--with-dashboard", help="Also start the web dashboards (retail dashboard "
        "serve) on 127.0.0.1:RETAIL_DASHBOARD__PORT (8050), reading this warehouse")) -> None:
    """Start the broker, the warehouse and the MLflow server; create topics, migrate.

    Only what is not running starts; the MLflow server not at all while
    RETAIL_MLFLOW__TRACKING_URI names another one. --with-airflow: also Airflow,
    whose admin password is printed once, when it is generated. --with-dashboard:
    also the web dashboards, once the warehouse is migrated.
    """
    from retail.cli.warehouse import migrator
    from retail.pipeline.airflow_cli import AirflowCli

    s = settings()
    run_mlflow = mlflow_server.wanted(s)
    if run_mlflow and mlflow_server.read_record(s) is None:
        mlflow_server.server_bin(s)  # missing: say so before anything starts
    start_airflow = with_airflow and airflow_server.read_record(s) is None
    start_dashboard = with_dashboard and dashboard_server.read_record(s) is None
    if start_airflow:
        AirflowCli(s)  # its virtualenv or the DAG folder missing: say so before anything starts
    # Every port first: a port another process holds must not leave a broker running.
    stack.ensure_ports_free(
        ([] if stack.read_record(s) else [(s.local.broker_port, "RETAIL_LOCAL__BROKER_PORT")])
        + ([] if warehouse_proc.read_record(s) else
           [(s.local.warehouse_port, "RETAIL_LOCAL__WAREHOUSE_PORT")])
        + ([] if not run_mlflow or mlflow_server.read_record(s) else
           [(s.local.mlflow_port, mlflow_server.PORT_VARIABLE)])
        + ([(s.airflow.api_port, airflow_server.PORT_VARIABLE)] if start_airflow else [])
        + ([(s.dashboard.port, dashboard_server.PORT_VARIABLE)] if start_dashboard else []))
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
    else:
        with console.status("starting the MLflow server (about 15 s)"):
            ml, _ = mlflow_server.up(s)
        console.print(f"mlflow up: pid {ml.pid}, UI and tracking at {ml.url} (backend "
                      f"{ml.backend_store}, artifacts in {ml.artifacts})")
    if with_airflow:
        _airflow_up(s)
    if with_dashboard:
        with console.status(f"starting the web dashboards (retail dashboard serve; waiting for "
                            f"/healthz, at most {s.dashboard.start_timeout_s:g} s)"):
            db, _ = dashboard_server.up(s)
        console.print(f"dashboard up: pid {db.pid}, {db.url} (pick a user in the page header; "
                      f"who sees what: retail access list; log "
                      f"{dashboard_server.log_path(s)})", highlight=False, soft_wrap=True)


def _airflow_up(s) -> None:
    with console.status("starting Airflow: API server, scheduler, DAG processor, triggerer (about 20 s)"):
        af, password, _ = airflow_server.up(s)
    pids = ", ".join(f"{name} {pid}" for name, pid in af.pids.items())
    console.print(f"airflow up: UI and API at {af.url} (pids {pids}; LocalExecutor, SQLite "
                  f"metadata in {s.local.home}/airflow/, logs in {s.local.home}/logs/airflow-*)",
                  highlight=False, soft_wrap=True)
    if password:
        console.print(f"airflow login: admin / {password} (shown this once; kept only in "
                      f"{af.passwords_file})", highlight=False, soft_wrap=True)
    else:
        console.print(f"airflow login: admin, password in {af.passwords_file}",
                      highlight=False, soft_wrap=True)
    console.print("airflow: new DAGs start paused; switch one on in the UI to let the scheduler "
                  "run it", highlight=False, soft_wrap=True)


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
    """Stop the broker, the warehouse, the MLflow server, Airflow and the web dashboards that
    `up` started (only those)."""
    s = settings()
    db = dashboard_server.down(s)  # first: it reads the warehouse
    console.print(f"dashboard stopped (pid {db.pid})" if db else "dashboard: nothing to stop")
    record = stack.down(s)
    console.print(f"broker stopped (pid {record.pid})" if record else "broker: nothing to stop")
    wh = warehouse_proc.down(s)
    console.print(f"warehouse stopped (pid {wh.pid})" if wh else "warehouse: nothing to stop")
    ml = mlflow_server.down(s)
    console.print(f"mlflow stopped (pid {ml.pid})" if ml else "mlflow: nothing to stop")
    af = airflow_server.down(s)
    console.print(f"airflow stopped (pids {', '.join(map(str, af.pids.values()))})" if af else
                  "airflow: nothing to stop", highlight=False)


def _airflow_status(s) -> str:
    af = airflow_server.read_record(s)
    if af is None:
        return "airflow: not running (retail local up --with-airflow starts it)"
    running = airflow_server.alive(af)
    pids = ", ".join(f"{name} {pid}" + ("" if running[name] else " [red]exited[/red]")
                     for name, pid in af.pids.items())
    parts = airflow_server.health(af.url) or {}
    healthy = ", ".join(f"{k} {v}" for k, v in parts.items() if v != "none") or "no answer"
    return f"airflow: running, pids {pids}, {af.url} (health: {healthy})"


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
    console.print(_airflow_status(s), highlight=False, soft_wrap=True)
    db = dashboard_server.read_record(s)
    console.print(f"dashboard: running, pid {db.pid}, {db.url} (healthz: "
                  f"{'ok' if dashboard_server.healthy(db.url) else 'no answer'})" if db else
                  "dashboard: not running (retail local up --with-dashboard starts it)",
                  highlight=False, soft_wrap=True)
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
