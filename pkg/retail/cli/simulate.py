"""``retail simulate`` and ``retail peek``."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retail.cli.common import (BadOption, console, day_option, err_console, handle_errors,
                               settings, with_options)
from retail.io.kafka import read_topic
from retail.io.lake import LakeWriter
from retail.io.parallel import ParallelProducer
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.truth import write_truth
from retail.sim.reference import reference_tables
from retail.simulate import (KafkaSink, NullSink, ParquetSink, RunSummary, WarehouseSink,
                             backfill, live)

_FLAGS = {"stores": "--stores", "products": "--products", "rate": "--rate", "seed": "--seed"}


class SinkKind(str, Enum):
    kafka = "kafka"
    parquet = "parquet"
    warehouse = "warehouse"
    null = "null"


def _stop_on_signals() -> threading.Event:
    """SIGINT/SIGTERM stop after the current batch; the producers then flush."""
    stop = threading.Event()

    def handler(signum, _frame):
        if stop.is_set():  # second signal: the user really wants out
            raise KeyboardInterrupt
        err_console.print(f"[yellow]{signal.Signals(signum).name}: finishing the current batch "
                          "and flushing (send again to abort)[/yellow]")
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def first_day(start: str | None, default: date | None, days: int, live_mode: bool,
              today: date) -> date:
    """The first simulated day: ``--start``, else the setting, else (backfill) the ``days``
    days ending yesterday or (live) today. A backfill must be over by today (UTC): a day
    still running would put events in the future, which the stream quarantines."""
    if start is not None:
        first, source = day_option("--start", start), "--start"
    elif live_mode:
        return today
    elif default is not None:
        first, source = default, "RETAIL_SIMULATOR__START_DATE"
    else:
        return today - timedelta(days=days)
    last = first + timedelta(days=days - 1)
    if not live_mode and last >= today:
        raise BadOption(
            f"{source} {first} with --days {days} simulates up to {last}, which is not over yet "
            f"(today is {today} UTC): the stream would quarantine its events as in the future. "
            f"The latest start for --days {days} is {today - timedelta(days=days)}; for events "
            "in real time use --live.")
    return first


def unfinished_day_note(utc_offsets, last: date, now: datetime) -> str | None:
    """Stores keep local time (UTC-5 to UTC-8), so a day that is over in UTC may still run in
    the west: say until when its events lie in the future."""
    offset = int(min(utc_offsets))
    ends = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1,
                                                                             hours=-offset)
    if ends <= now:
        return None
    return (f"note: {last} lasts until {ends:%Y-%m-%d %H:%M} UTC in the chain's UTC{offset:+d} "
            "stores; its events after now are in the future, which the stream quarantines "
            "until then (start a day earlier for days that are over everywhere)")


@handle_errors
def simulate(
    stores: int = typer.Option(None, help="stores in the chain, 1-5,000 (default: RETAIL_SIMULATOR__STORES, 20)"),
    products: int = typer.Option(None, help="SKUs in the catalog, 10-200,000 (default: RETAIL_SIMULATOR__PRODUCTS, 2000)"),
    days: int = typer.Option(1, min=1, help="days of history to backfill (live mode runs until stopped)"),
    live_mode: bool = typer.Option(False, "--live", help="emit events in real time from now on"),
    rate: float = typer.Option(None, help="events per minute per store while open, above 0 and at most 5,000; design 100-500 (default: RETAIL_SIMULATOR__RATE, 200)"),
    start: str = typer.Option(None, help="first day, YYYY-MM-DD; a backfill must end by yesterday, UTC (default: RETAIL_SIMULATOR__START_DATE, else the --days days ending yesterday; --live: today)"),
    seed: int = typer.Option(None, help="random seed; same seed and options give the same events"),
    sink: SinkKind = typer.Option(SinkKind.kafka, help="kafka, parquet (the lake), warehouse (fact tables directly) or null (measure only)"),
    workers: int = typer.Option(None, min=1, help="producer processes (default: RETAIL_KAFKA__PRODUCER_WORKERS, 2)"),
    speed: float = typer.Option(1.0, min=0.001, help="live: simulated seconds per real second"),
    duration: float = typer.Option(None, min=0.1, help="live: stop after this many seconds"),
    anomaly_rate: float = typer.Option(SimConfig.anomaly_rate, min=0.0, max=0.1, help="chance per store x SKU and day that a planted anomaly starts (docs/simulator.md)"),
    fade_rate: float = typer.Option(SimConfig.fade_rate, min=0.0, max=1.0, help="chance per SKU and 30 days that its demand starts to fade"),
    truth: Path = typer.Option(None, help="write the planted ground truth (anomalies, fades, affinities, customers) as parquet files into this folder when done; for evaluation only, the platform never reads it"),
) -> None:
    """Simulate POS events for a chain of stores: a backfill of N days, or live."""
    s = settings()
    # The flags obey the settings' bounds; nothing is generated or sent before they pass.
    sim_s = with_options(s.simulator, _FLAGS, stores=stores, products=products, rate=rate,
                         seed=seed)
    first = first_day(start, sim_s.start_date, days, live_mode, datetime.now(UTC).date())
    # Live mode runs until Ctrl-C / SIGTERM / --duration: give it a century of days.
    config = SimConfig(seed=sim_s.seed, rate=sim_s.rate, start=first,
                       days=36_500 if live_mode else days, anomaly_rate=anomaly_rate,
                       fade_rate=fade_rate)
    n_stores, n_products = sim_s.stores, sim_s.products
    with console.status(f"generating catalog: {n_stores:,} stores, {n_products:,} SKUs"):
        catalog = generate_catalog(n_stores, n_products, config.seed, sim_s.country)
        simulator = Simulator(catalog, config)
    console.print(f"catalog: {n_stores:,} stores, {n_products:,} SKUs, "
                  f"{catalog.n_pairs:,} store-SKU pairs; seed {config.seed}")
    last_day = first + timedelta(days=days - 1)
    note = None if live_mode else unfinished_day_note(catalog.store_offset, last_day,
                                                      datetime.now(UTC))
    if note:
        err_console.print(f"[yellow]{note}[/yellow]", highlight=False)

    kafka = s.resolved_kafka()
    if sink is SinkKind.kafka:
        out = KafkaSink(ParallelProducer(kafka, workers=workers,
                                         spool=s.local.home / "dead-letter-spool.jsonl"))
    elif sink is SinkKind.parquet:
        out = ParquetSink(_lake_with_reference(s, catalog, first,
                                             config.days if not live_mode else 366))
    elif sink is SinkKind.warehouse:
        from retail.io.warehouse import connect
        from retail.warehouse.load import AHEAD_DAYS, load_dimensions
        from retail.warehouse.runs import claim_days, finish_days

        wh = connect(s.resolved_warehouse())
        run_id = None if live_mode else f"sim-{simulator.fingerprint:016x}"
        if run_id:  # before anything is written: refuse a second history of the same days
            claim_days(wh, run_id, first, last_day)
        # the calendar and the promotions a week past the last day too: the daily
        # predictions of the last day read them (docs/simulator.md)
        load_dimensions(wh, catalog, first,
                        max(config.days if not live_mode else 366, 1) + AHEAD_DAYS,
                        seed=config.seed, promo_share=config.promo_share)
        console.print(f"warehouse: {s.resolved_warehouse().url} database "
                      f"{wh.database} (dimensions loaded)")
        out = WarehouseSink(wh, catalog, run_id,
                            lake=_lake_with_reference(s, catalog, first,
                                                      config.days if not live_mode else 366))
    else:
        out = NullSink()
    stop = _stop_on_signals()

    if live_mode:
        console.print(f"live from {datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z at {speed:g}x "
                      f"(Ctrl-C to stop)")
        last = {"t": time.monotonic()}

        def heartbeat(progress: RunSummary) -> None:
            if time.monotonic() - last["t"] >= 5.0:
                last["t"] = time.monotonic()
                console.print(f"{datetime.now(UTC):%H:%M:%S} live: {progress.total:,} events "
                              f"sent ({', '.join(f'{k} {v:,}' for k, v in sorted(progress.events.items()))})")

        summary = live(simulator, out, speed=speed, duration_s=duration, stop=stop,
                       on_tick=heartbeat)
    else:
        groups = len(simulator.store_groups()) * days
        with Progress(TextColumn("[bold]backfill[/bold] {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[events]:,} events"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task(f"{days} day(s) from {first}", total=groups, events=0)

            def advance(batch) -> None:
                bar.update(task, advance=1, events=bar.tasks[task].fields["events"] + len(batch))

            summary = backfill(simulator, out, stop=stop, on_batch=advance)
        if sink is SinkKind.warehouse and not summary.stopped_early:
            finish_days(wh, run_id, first, last_day, summary.total)
    _print_summary(summary, sink)
    if truth is not None:
        simulated = (datetime.now(UTC).date() - first).days + 1 if live_mode else days
        written = write_truth(simulator, truth, simulated)
        console.print(f"planted ground truth: {', '.join(f'{p.name} ({n:,} rows)' for p, n in written)}")


def _lake_with_reference(s, catalog, first, days: int) -> LakeWriter:
    """The lake, with the simulation's master data in ``reference/``."""
    writer = LakeWriter(s.lake)
    for name, table in (("stores", catalog.stores), ("products", catalog.products),
                        ("suppliers", catalog.suppliers),
                        *reference_tables(catalog, first, days).items()):
        writer.write_reference(name, table)
    console.print(f"lake: {writer.base} (master data in reference/)")
    return writer


def _print_summary(summary: RunSummary, sink: SinkKind) -> None:
    table = Table("event type", "events", "events/s", title=f"simulated into {sink.value}")
    for k, n in sorted(summary.events.items()):
        table.add_row(k, f"{n:,}", f"{n / summary.seconds:,.0f}" if summary.seconds else "-")
    table.add_row("[bold]total[/bold]", f"[bold]{summary.total:,}[/bold]",
                  f"[bold]{summary.rate:,.0f}[/bold]")
    console.print(table)
    p = summary.producer
    if p is not None:
        console.print(f"producer: sent {p.sent:,}, acked {p.acked:,}, failed {p.failed:,}, "
                      f"invalid {p.invalid:,}, dead-lettered {p.dead_lettered:,}, "
                      f"spooled {p.spooled:,}")
        if p.acked + p.failed < p.sent:
            console.print(f"[yellow]{p.sent - p.acked - p.failed:,} sends unconfirmed[/yellow]")
    if summary.stopped_early:
        console.print("[yellow]stopped before the end of the run (signal or --duration); "
                      "everything sent was flushed[/yellow]")


@handle_errors
def peek(topic: str, n: int = typer.Option(3, "-n", min=1, help="records to show"),
         out: Path = typer.Option(None, help="also write every record's value to this file")) -> None:
    """Print the first N records of TOPIC (key and JSON value) and its record count."""
    s = settings()
    records = read_topic(s.resolved_kafka(), topic)
    console.print(f"{topic}: {len(records):,} records")
    for r in records[:n]:
        console.print(f"[dim]p{r.partition}@{r.offset} key={r.key.decode() if r.key else None}[/dim]")
        console.print_json(r.value.decode("utf-8", "replace"))
    if out:
        out.write_bytes(b"".join(r.value + b"\n" for r in records))
        console.print(f"wrote {len(records):,} records to {out}")
