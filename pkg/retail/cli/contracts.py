"""``retail contracts list|show``: the event contracts and the topics that carry them."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from retail.cli.common import console, handle_errors
from retail.contracts import contract, event_types, topics

app = typer.Typer(help="Event contracts (JSON Schemas) and topic definitions.",
                  no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """Every event type with its version and topic, then every topic."""
    width = max(len(t.name) for t in topics())
    table = Table("event type", "version")
    table.add_column("topic", no_wrap=True, min_width=width)
    table.add_column("fields")
    for t in event_types():
        c = contract(t)
        table.add_row(t, str(c.version), c.topic, str(len(c.fields)))
    console.print(table)
    tt = Table()
    tt.add_column("topic", no_wrap=True, min_width=width)
    for header in ("partitions", "retention", "event types"):
        tt.add_column(header)
    for t in topics():
        tt.add_row(t.name, str(t.partitions), f"{t.retention_ms / 86_400_000:g} d",
                   ", ".join(t.event_types))
    console.print(tt)


@app.command()
@handle_errors
def show(event_type: str, version: int | None = typer.Option(None, help="default: latest")) -> None:
    """Print the full JSON Schema of EVENT_TYPE (envelope included)."""
    c = contract(event_type, version)
    typer.echo(json.dumps(c.schema, indent=2))
