"""The local warehouse server as a background process of the local stack.

``retail local up`` starts ``retail warehouse serve`` detached, records it in
``<home>/warehouse.json`` and waits for ``/ping``; ``retail local down`` stops exactly that
process. Its log is ``<home>/logs/warehouse.log``; its data ``<home>/warehouse/``.
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

from retail.local.stack import StackError, ensure_ports_free, stop_recorded
from retail.settings import Settings


@dataclass(frozen=True)
class WarehouseRecord:
    pid: int
    port: int
    path: str
    started_at: float


def _record_path(settings: Settings) -> Path:
    return settings.local.home / "warehouse.json"


def _alive(record: WarehouseRecord) -> bool:
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in cmdline and str(record.port).encode() in cmdline


def read_record(settings: Settings) -> WarehouseRecord | None:
    path = _record_path(settings)
    if not path.exists():
        return None
    record = WarehouseRecord(**json.loads(path.read_text()))
    return record if _alive(record) else None


def _ping(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as resp:
            return resp.read() == b"Ok.\n"
    except OSError:
        return False


def up(settings: Settings, timeout_s: float = 60.0) -> tuple[WarehouseRecord, bool]:
    """Start the server unless ours runs; return its record and whether it started now."""
    record = read_record(settings)
    if record is not None:
        return record, False
    port = settings.local.warehouse_port
    ensure_ports_free([(port, "RETAIL_LOCAL__WAREHOUSE_PORT")])
    home = settings.local.home
    (home / "logs").mkdir(parents=True, exist_ok=True)
    data = home / "warehouse"
    log = home / "logs" / "warehouse.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "retail", "warehouse", "serve", "--port", str(port),
             "--path", str(data)], stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env=dict(os.environ))
    deadline = time.monotonic() + timeout_s
    while not _ping(port):
        if proc.poll() is not None:
            raise StackError(f"the warehouse server exited with code {proc.returncode}:\n"
                             f"{log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise StackError(f"the warehouse server did not answer on 127.0.0.1:{port} within "
                             f"{timeout_s:g}s; see {log}")
        time.sleep(0.1)
    record = WarehouseRecord(proc.pid, port, str(data), time.time())
    _record_path(settings).write_text(json.dumps(asdict(record), indent=2))
    return record, True


def down(settings: Settings, timeout_s: float = 20.0) -> WarehouseRecord | None:
    """Stop the server that ``up`` started (it finishes the query in flight first)."""
    return stop_recorded(_record_path(settings), read_record(settings), _alive, timeout_s)
