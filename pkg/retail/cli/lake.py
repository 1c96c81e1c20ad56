"""``retail lake init|status``: the lake's buckets in the object store (or its directories)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.table import Table

from retail.cli.common import console, err_console, handle_errors, print_table, settings
from retail.io.objectstore import ObjectStoreError, bucket_status, describe_rule, init_buckets

P = ParamSpec("P")
R = TypeVar("R")
app = typer.Typer(help="The lake's object store: buckets, versioning, retention.",
                  no_args_is_help=True)


def _store_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """The store unreachable or refusing a call: one line naming the setting, exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ObjectStoreError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@app.command()
@handle_errors
@_store_errors
def init() -> None:
    """Create the buckets (raw, processed, models, features) with their versioning and
    retention; safe to re-run (what is already as designed is left alone)."""
    report = init_buckets(settings().lake)
    table = Table(title=f"lake buckets at {report.location}")
    for col in ("bucket", "holds", "done", "versioning", "lifecycle"):
        table.add_column(col)
    for b in report.buckets:
        done = "[green]as designed, unchanged[/]" if not b.done else \
            "[yellow]" + "\n".join(b.done) + "[/]"
        table.add_row(b.name, b.role, done, b.versioning, "\n".join(b.lifecycle) or "-")
    print_table(table)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    changed = sum(1 for b in report.buckets if b.done)
    console.print(f"{changed} of {len(report.buckets)} buckets changed" if changed else
                  "nothing changed: every bucket was already as designed", highlight=False)


@app.command()
@handle_errors
@_store_errors
def status(
    max_objects: Annotated[int, typer.Option(
        "--max-objects", min=0, help="Count objects up to this many per bucket")] = 10_000,
) -> None:
    """Each bucket: exists, versioning, lifecycle rules, objects and their size; exit 3 when
    a bucket is missing or differs from its design (run `retail lake init`)."""
    where, buckets = bucket_status(settings().lake, max_objects=max_objects)
    table = Table(title=f"lake buckets at {where}")
    for col in ("bucket", "holds", "exists", "versioning", "lifecycle", "objects", "size",
                "differs from design"):
        table.add_column(col, justify="right" if col in ("objects", "size") else "left")
    for b in buckets:
        st = b.state
        more = "+" if b.truncated else ""
        table.add_row(
            st.policy.name, st.policy.role, "yes" if st.exists else "[red]no[/]",
            st.versioning if st.exists else "-",
            "\n".join(describe_rule(r) for r in st.rules) or "-",
            f"{b.objects:,}{more}" if st.exists else "-",
            f"{_size(b.size)}{more}" if st.exists else "-",
            "[yellow]" + "\n".join(b.pending) + "[/]" if b.pending else "[green]no[/]")
    print_table(table)
    if any(b.pending for b in buckets):
        err_console.print("some buckets differ from the design: run `retail lake init`")
        raise typer.Exit(3)
