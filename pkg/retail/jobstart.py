"""What every job entrypoint does first: load and check its settings, then set up logging.

A bad setting is the operator's to fix, not a crash: :func:`start_job` prints the error
(it names the ``RETAIL_*`` variable) to stderr and returns None, and the job exits 2.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from retail.log import configure_logging
from retail.settings import Settings, SettingsError, WarehouseSettings, load_settings


@dataclass(frozen=True)
class JobStart:
    settings: Settings
    warehouse: WarehouseSettings  # resolved: the URL and credentials the job connects with
    log: logging.Logger


def start_job(name: str) -> JobStart | None:
    """The job's settings and its logger (named ``name``), or None after printing why the
    settings are refused."""
    try:
        settings = load_settings()
        warehouse = settings.resolved_warehouse()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return None
    configure_logging(settings.log.level, settings.log.format)
    return JobStart(settings, warehouse, logging.getLogger(name))
