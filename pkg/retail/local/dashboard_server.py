"""The local web dashboards (``retail dashboard serve``) as a process of the local stack.

``retail local up --with-dashboard`` starts the app detached on 127.0.0.1:RETAIL_DASHBOARD__PORT
(8050), in a session of its own, records it in ``<home>/dashboard.json`` and waits until
``/healthz`` answers 200 (the app answers once the warehouse does), at most
RETAIL_DASHBOARD__START_TIMEOUT_S. ``retail local down`` stops exactly that process and its
process group. It reads the stack's warehouse with the same settings as the CLI; its log is
``<home>/logs/dashboard.log``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

# The process-group stop of the MLflow server and the start-time identity of Airflow's
# processes (a recycled pid has another start time) serve this process as they are.
from retail.local.airflow_server import _start_ticks
from retail.local.mlflow_server import _stop_group
from retail.local.stack import StackError, ensure_ports_free
from retail.settings import Settings

PORT_VARIABLE = "RETAIL_DASHBOARD__PORT"
HOST = "127.0.0.1"  # the local stack listens on loopback only


@dataclass(frozen=True)
class DashboardRecord:
    pid: int
    start_ticks: int | None
    port: int
    started_at: float

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _record_path(settings: Settings) -> Path:
    return settings.local.home / "dashboard.json"


def log_path(settings: Settings) -> Path:
    return settings.local.home / "logs" / "dashboard.log"


def _alive(record: DashboardRecord) -> bool:
    """True while the recorded pid is the very process ``up`` started."""
    return record.start_ticks is not None and _start_ticks(record.pid) == record.start_ticks


def read_record(settings: Settings) -> DashboardRecord | None:
    """The record of the app ``up`` started, while it runs."""
    path = _record_path(settings)
    if not path.exists():
        return None
    record = DashboardRecord(**json.loads(path.read_text()))
    return record if _alive(record) else None


def healthy(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout_s) as resp:
            return resp.status == 200
    except OSError:
        return False


def up(settings: Settings) -> tuple[DashboardRecord, bool]:
    """Start the app unless ours runs; return its record and whether it started now."""
    record = read_record(settings)
    if record is not None:
        return record, False
    port = settings.dashboard.port
    ensure_ports_free([(port, PORT_VARIABLE)])
    log = log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        # Its own session: the app and whatever it spawns stop together, as one group.
        proc = subprocess.Popen(
            [sys.executable, "-m", "retail", "dashboard", "serve", "--host", HOST,
             "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env=dict(os.environ))
    record = DashboardRecord(proc.pid, _start_ticks(proc.pid), port, time.time())
    _record_path(settings).write_text(json.dumps(asdict(record), indent=2))
    timeout_s = settings.dashboard.start_timeout_s
    deadline = time.monotonic() + timeout_s
    while not healthy(record.url):
        exited = proc.poll() is not None
        if exited or time.monotonic() > deadline:
            down(settings)
            why = (f"the dashboard app exited with code {proc.returncode}" if exited else
                   f"the dashboard app did not answer {record.url}/healthz within "
                   f"{timeout_s:g}s (RETAIL_DASHBOARD__START_TIMEOUT_S) and was stopped")
            raise StackError(f"{why}; see {log}:\n"
                             f"{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.25)
    return record, True


def down(settings: Settings, timeout_s: float = 15.0) -> DashboardRecord | None:
    """Stop the app ``up`` started (and its process group); return its record, or None."""
    record = read_record(settings)
    if record is not None:
        _stop_group(record.pid, lambda: None if _alive(record) else 0, timeout_s)
    _record_path(settings).unlink(missing_ok=True)
    return record
