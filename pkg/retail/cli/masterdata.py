"""``retail masterdata load|schema``: a chain's own stores, products and suppliers into the
warehouse's dimensions (``retail.warehouse.masterdata``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import BadOption, console, err_console, handle_errors, print_table, \
    settings
from retail.io.warehouse import connect

app = typer.Typer(help="A chain's own master data: stores, products, suppliers into the "
                  "dimensions.", no_args_is_help=True)


def _file(flag: str, path: Path | None) -> Path | None:
    from retail.warehouse.masterdata import EXTENSIONS

    if path is None:
        return None
    if path.suffix.lower() not in EXTENSIONS:
        raise BadOption(f"{flag} {path}: unknown extension {path.suffix or '(none)'!r}; "
                        f"give a {' or '.join(EXTENSIONS)} file")
    if not path.is_file():
        raise BadOption(f"{flag} {path}: no such file")
    return path


def _problems(problems: list, cap: int) -> None:
    table = Table(title=f"{len(problems):,} problems in "
                  f"{len({(p.file, p.line) for p in problems}):,} rows; nothing was loaded")
    for col in ("file", "line/row", "field", "value", "reason"):
        table.add_column(col, overflow="fold")
    for p in problems[:cap]:
        value = "" if p.value is None else p.value if len(p.value) <= 40 else p.value[:39] + "…"
        table.add_row(p.file, "-" if p.line is None else f"{p.unit} {p.line}", p.field, value,
                      p.reason)
    print_table(table, err_console)
    if len(problems) > cap:
        by_field = Counter(f"{Path(p.file).name} {p.field}" for p in problems)
        err_console.print(f"… and {len(problems) - cap:,} more (--max-errors shows more); "
                          "all by field: " + ", ".join(f"{k} {n:,}" for k, n in
                                                       by_field.most_common()), highlight=False)
    err_console.print("[red]error:[/red] nothing was loaded; correct the rows above and run "
                      "again", highlight=False)


@app.command()
@handle_errors
def load(
    stores: Annotated[Path | None, typer.Option(help="Stores file (.csv or .parquet)")] = None,
    products: Annotated[Path | None, typer.Option(help="Products file (.csv or .parquet)")
                        ] = None,
    suppliers: Annotated[Path | None, typer.Option(help="Suppliers file (.csv or .parquet)")
                         ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and compare with the "
                                          "warehouse, write nothing")] = False,
    max_errors: Annotated[int, typer.Option(min=1, help="Problems listed (all are counted)")
                          ] = 50,
) -> None:
    """Load a chain's stores, products and suppliers into the dimensions.

    Any subset of the three files. New rows are added, changed rows replace the old ones,
    unchanged rows are left alone; nothing is written if any row of any file is bad (exit 1).
    The files' schema: `retail masterdata schema` (docs/masterdata.md)."""
    from retail.warehouse.masterdata import load_masterdata

    given = {name: path for name, path in (("stores", _file("--stores", stores)),
                                           ("products", _file("--products", products)),
                                           ("suppliers", _file("--suppliers", suppliers)))
             if path is not None}
    if not given:
        raise BadOption("give at least one of --stores, --products, --suppliers")
    s = settings()
    with connect(s.resolved_warehouse()) as wh, console.status("starting") as status:
        result = load_masterdata(wh, given, dry_run=dry_run,
                                 step=lambda text: status.update(text))
    if result.problems:
        _problems(result.problems, max_errors)
        raise typer.Exit(1)
    table = Table(title="dry run: nothing written" if dry_run else "loaded")
    for col in ("table", "rows in file", "new", "changed", "unchanged"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for c in result.changes:
        table.add_row(c.table, f"{c.rows:,}", f"{c.new:,}", f"{c.changed:,}",
                      f"{c.unchanged:,}")
    print_table(table)


@app.command()
@handle_errors
def schema(write: Annotated[Path | None, typer.Option(
        help="Replace the schema section of this Markdown file (docs/masterdata.md) "
        "instead of printing it")] = None) -> None:
    """The columns each file may have: types, required, defaults, rules, meaning."""
    from retail.warehouse.masterdata import schema_markdown, with_schema

    if write is None:
        console.print(schema_markdown(), markup=False, highlight=False, soft_wrap=True)
        return
    if not write.is_file():
        raise BadOption(f"--write {write}: no such file")
    write.write_text(with_schema(write.read_text()))
    console.print(f"wrote the schema into {write}")
