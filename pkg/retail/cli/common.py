"""Shared CLI plumbing: settings loading, logging, tables, and clear errors instead of
tracebacks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from retail.io.kafka import KafkaUnavailable
from retail.io.warehouse import WarehouseError, WarehouseUnavailable
from retail.local.stack import StackError
from retail.log import configure_logging
from retail.settings import Settings, SettingsError, error_message, load_settings, parse_day
from retail.warehouse.migrate import MigrationError

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=BaseModel)
console = Console()
# Errors and notes are single lines: not wrapped at the 80 columns rich assumes in a pipe.
err_console = Console(stderr=True, soft_wrap=True)
_verbose = {"on": False}  # `retail --verbose ...`


class BadOption(ValueError):
    """A command-line value is out of bounds; the message names the flag and what it allows."""


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected failures print one line naming the problem and exit non-zero: 2 for bad
    settings or options (nothing was done), 1 for a failure on the way."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (SettingsError, BadOption) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except (KafkaUnavailable, StackError, ValueError, WarehouseUnavailable,
                WarehouseError, MigrationError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def set_verbose(on: bool) -> None:
    _verbose["on"] = on


def settings(verbose: bool = False) -> Settings:
    """The settings, with logging configured: third-party INFO lines only when verbose
    (``retail --verbose``, a command's own ``--verbose``) or at ``RETAIL_LOG__LEVEL=DEBUG``."""
    s = load_settings()
    configure_logging(s.log.level, s.log.format, verbose=verbose or _verbose["on"])
    return s


def with_options(section: S, flags: dict[str, str], **values: object) -> S:
    """``section`` with the values given on the command line (None: not given), checked by
    the section's own rules; an error names the flag (``flags``: field -> flag)."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return section
    try:
        return type(section)(**{**section.model_dump(), **given})
    except ValidationError as exc:
        raise BadOption("invalid options:\n  " + "\n  ".join(
            f"{flags.get(str(e['loc'][0]), e['loc'][0])}: {error_message(e)}, got "
            f"{e['input']!r}" if e["loc"] else error_message(e)
            for e in exc.errors())) from None


def day_option(flag: str, text: str) -> date:
    """A ``YYYY-MM-DD`` flag value; the error names the flag."""
    try:
        return parse_day(text)
    except ValueError as exc:
        raise BadOption(f"{flag} {exc}") from None


def print_table(table: Table, out: Console | None = None) -> Console:
    """Print ``table`` whole and return the console used. Without a terminal (a pipe, a log
    file) rich assumes 80 columns and squeezes wide tables ("stre…"); there the table gets
    the width it needs."""
    out = out or console
    if not out.is_terminal:
        need = out.measure(table, options=out.options.update_width(10_000)).maximum
        if need > out.width:
            out = Console(width=need, file=out.file)
    out.print(table)
    return out
