"""``retail stream run|status``: the stream processor in the foreground, and its progress."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import (console, err_console, handle_errors, print_table, settings,
                               with_options)

app = typer.Typer(help="The stream processor: Kafka -> Spark -> warehouse, lake, alerts.",
                  no_args_is_help=True)


_FLAGS = {"checkpoint_dir": "--checkpoint", "max_offsets_per_trigger": "--max-offsets",
          "late_after_minutes": "--late-after", "starting_offsets": "--starting-offsets"}


def _progress_line(r, verbose: bool = False) -> str:  # r: BatchReport
    rate = r.input_rows / r.seconds if r.seconds else 0.0
    rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(r.rejected.items())) or "none"
    lag = f"{r.lag_s:.1f} s" if r.lag_s is not None else "-"
    wm = f"{r.watermark:%Y-%m-%d %H:%M:%S}" if r.watermark else "-"
    return (f"batch {r.batch_id}: {r.input_rows:,} rows ({r.good_rows:,} good; rejected: "
            f"{rejected}) in {r.seconds:.2f} s = {rate:,.0f} rows/s, lag {lag}, "
            f"watermark {wm}, alerts {r.alerts:,} (restock {r.restock_alerts:,})"
            + ("\n  " + ", ".join(f"{k} {v:.2f}s" for k, v in r.stages.items())
               if verbose else ""))


@app.command("run")
@handle_errors
def run(
    available_now: Annotated[bool, typer.Option(
        "--available-now", help="Process what is in Kafka now, then exit")] = False,
    checkpoint: Annotated[str | None, typer.Option(
        help="Checkpoint directory (default RETAIL_STREAM__CHECKPOINT_DIR)")] = None,
    max_offsets: Annotated[int | None, typer.Option(
        "--max-offsets", help="Records per micro-batch at most")] = None,
    late_after: Annotated[float | None, typer.Option(
        "--late-after", help="Watermark delay in minutes (later events are quarantined)")] = None,
    starting_offsets: Annotated[str | None, typer.Option(
        help="earliest | latest, for a new checkpoint")] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also print the seconds each step of a batch took, and "
        "third-party INFO logs (py4j, Kafka)")] = False,
) -> None:
    """Run the stream processor in the foreground; Ctrl-C stops it after the current batch."""
    from retail.streaming.job import StreamRunner

    s = settings(verbose)
    s = s.model_copy(update={"stream": with_options(
        s.stream, _FLAGS, checkpoint_dir=checkpoint, max_offsets_per_trigger=max_offsets,
        late_after_minutes=late_after, starting_offsets=starting_offsets)})
    runner = StreamRunner(s, on_batch=lambda r: console.print(_progress_line(r, verbose),
                                                          highlight=False, soft_wrap=True),
                          on_event=lambda m: err_console.print(f"[yellow]{m}[/yellow]"))
    console.print(f"stream processor: checkpoint {s.stream_checkpoint()}, "
                  f"{'available now' if available_now else 'continuous'}; Ctrl-C stops")
    summary = runner.run(available_now=available_now, handle_signals=True)
    rate = summary.input_rows / summary.seconds if summary.seconds else 0.0
    console.print(f"done: {summary.batches} batches, {summary.input_rows:,} rows "
                  f"({summary.rejected_rows:,} quarantined, {summary.duplicates_dropped:,} "
                  f"duplicates dropped), {summary.alerts:,} alerts, {summary.seconds:.1f} s "
                  f"({rate:,.0f} rows/s overall), {summary.restarts} restarts", highlight=False)


@app.command("status")
@handle_errors
def status(last: Annotated[int, typer.Option(min=1, help="Batches to show")] = 10) -> None:
    """The latest micro-batches recorded in the warehouse."""
    from retail.io.warehouse import connect

    with connect(settings().resolved_warehouse()) as wh:
        rows = wh.query_rows(
            "SELECT stream_id, batch_id, input_rows, rejected_rows, late_rows, duplicate_rows, "
            "alerts, dateDiff('millisecond', started_at, finished_at), lag_ms, watermark, finished_at "
            "FROM stream_batches FINAL ORDER BY finished_at DESC LIMIT {n:UInt32}", {"n": last})
    table = Table("stream", "batch", "rows", "rejected", "late", "repeats", "alerts", "ms",
                  "lag ms", "watermark", "finished")
    for r in rows:
        table.add_row(r[0][:8], *[str(v) if v is not None else "-" for v in r[1:]])
    if rows:
        print_table(table)
    else:
        console.print("no micro-batches recorded yet")
