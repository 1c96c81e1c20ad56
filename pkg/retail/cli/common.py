"""Shared CLI plumbing: settings loading, logging, and clear errors instead of tracebacks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from retail.io.kafka import KafkaUnavailable
from retail.io.warehouse import WarehouseError, WarehouseUnavailable
from retail.local.stack import StackError
from retail.log import configure_logging
from retail.settings import Settings, SettingsError, load_settings
from retail.warehouse.migrate import MigrationError

P = ParamSpec("P")
R = TypeVar("R")
console = Console()
err_console = Console(stderr=True)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected failures print one line naming the problem and exit non-zero."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SettingsError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except (KafkaUnavailable, StackError, ValueError, WarehouseUnavailable,
                WarehouseError, MigrationError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def settings() -> Settings:
    s = load_settings()
    configure_logging(s.log.level, s.log.format)
    return s
