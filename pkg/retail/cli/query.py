"""``retail query NAME [--store S] [--stores S1,S2] [--as-of YYYY-MM-DD] [--format
table|csv|json]``: run a dashboard query (``retail.queries``) against the warehouse; ``retail
query --list`` lists them. ``--stores`` shows what a reader limited to those stores sees (the
dashboards' row-level security); without it every store counts.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import pyarrow as pa
import typer
from rich.table import Table

from retail.cli.common import (BadOption, console, day_option, handle_errors, print_table,
                               settings)
from retail.io.warehouse import Warehouse, connect

if TYPE_CHECKING:
    from retail.queries import Query


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _list() -> None:
    from retail.queries import list_queries

    table = Table(title="dashboard queries")
    for col in ("name", "title", "stores"):
        table.add_column(col)
    for q in list_queries():
        table.add_row(q.name, q.title, "--store (needed)" if q.needs_store else
                      "--stores" if q.restricts_stores else "model-wide")
    console.print(table)


def _plain(value: object) -> object:
    """A JSON/CSV-friendly scalar."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(_plain(value))


def _render(result: pa.Table, fmt: OutputFormat, title: str) -> None:
    rows = result.to_pylist()
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows],
                              indent=2))
    elif fmt is OutputFormat.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.column_names)
        writer.writerows([_plain(v) for v in row.values()] for row in rows)
        typer.echo(out.getvalue(), nl=False)
    else:
        if len(rows) == 1 and len(rows[0]) > 4:  # one KPI row: one line per column
            table = Table("column", "value", title=title)
            for key, value in rows[0].items():
                table.add_row(key, _cell(value))
        else:
            table = Table(title=title)
            for field in result.schema:
                numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) \
                    or pa.types.is_decimal(field.type)
                table.add_column(field.name, justify="right" if numeric else "left",
                                 overflow="fold")
            for row in rows:
                table.add_row(*(_cell(v) for v in row.values()))
        print_table(table).print(f"{len(rows)} rows", style="dim", highlight=False)


def _check_as_of(day: date, first: date, last: date) -> None:
    if not first <= day <= last:
        raise BadOption(f"--as-of {day}: outside the data, which has sales from {first} to "
                        f"{last}; pick a day in that range (or leave --as-of out: {last})")


def _check_store(wh: Warehouse, store: str, flag: str = "--store") -> None:
    """``store`` is in dim_store (bound as a parameter, never spliced into the SQL)."""
    known, found, other_case, example = wh.query_rows(
        "SELECT uniqExact(store_id), countIf(store_id = {store:String}), "
        "anyIf(store_id, lower(store_id) = lower({store:String})), min(store_id) "
        "FROM dim_store", {"store": store})[0]
    if found:
        return
    if not known:
        raise BadOption(f"{flag} {store!r}: dim_store is empty (load the stores: retail "
                        "warehouse load-dims)")
    hint = f"did you mean {other_case!r}? " if other_case else ""
    raise BadOption(f"{flag}: unknown store {store!r} ({hint}store ids look like {example}; "
                    f"{known:,} stores known)")


def _store_list(text: str, q: Query, store: str | None) -> list[str]:
    """The ``--stores`` option's ids, checked against the query before any is looked up."""
    ids = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not ids:
        raise BadOption("--stores: give store ids separated by commas, e.g. --stores S00001,"
                        "S00002")
    if not (q.restricts_stores or q.needs_store):
        raise BadOption(f"--stores: query {q.name} is model-wide (it holds no store figures)")
    if store is not None and store not in ids:
        raise BadOption(f"--store {store!r} is not among --stores ({', '.join(ids)})")
    return ids


@handle_errors
def query(
    name: Annotated[str | None, typer.Argument(help="Query name (see --list)")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Store id, for the store "
                                              "queries")] = None,
    stores: Annotated[str | None, typer.Option("--stores", help="Only these stores' figures, "
                                               "comma-separated ids (default: every store)")
                      ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day, YYYY-MM-DD (default: the "
                                              "latest day with sales)")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format")
                   ] = OutputFormat.table,
    list_: Annotated[bool, typer.Option("--list", help="List the queries")] = False,
) -> None:
    """Run a dashboard query against the warehouse; without NAME (or with --list) list them."""
    from retail.queries import get_query, run_query, sales_days

    if list_ or name is None:
        _list()
        return
    try:
        q = get_query(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    day = None if as_of is None else day_option("--as-of", as_of)
    allowed = None if stores is None else _store_list(stores, q, store)
    with connect(settings().resolved_warehouse()) as wh:
        first, last = sales_days(wh)
        if day is not None:
            _check_as_of(day, first, last)
        if store is not None and q.needs_store:
            _check_store(wh, store)
        for one in allowed or ():
            _check_store(wh, one, "--stores")
        day = day or last
        result = run_query(wh, q.name, as_of=day, store_id=store, stores=allowed)
    where = f", store {store}" if store else f", stores {', '.join(allowed)}" if allowed else ""
    _render(result, fmt, f"{q.title} (as of {day.isoformat()}{where})")
