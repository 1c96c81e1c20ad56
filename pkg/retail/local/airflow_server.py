"""The local Airflow as processes of the local stack: the API server (with the UI), the
scheduler (LocalExecutor), the DAG processor and the triggerer, on loopback, for watching the
schedules run.

``retail local up --with-airflow`` starts the four from Airflow's virtualenv with the
environment of :mod:`retail.pipeline.airflow_cli` (the one ``retail pipeline run`` uses: same
home, SQLite metadata database and DAG folder), records them in ``<home>/airflow.json`` and
waits until ``/api/v2/monitor/health`` reports the metadata database, the scheduler, the
DAG processor and the triggerer healthy. ``retail local down`` stops exactly those processes and their children
(each is the leader of its own process group). Logs: ``<home>/logs/airflow-<process>.log``;
task logs under ``<home>/airflow/logs/``.

Login: Airflow 3's simple auth manager with one user, ``admin`` (role admin). Its password is
generated here (``secrets``), printed once by ``up``, and kept only in Airflow's password file
in its home (mode 0600); there is no default password.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from retail.local.stack import StackError, ensure_ports_free
from retail.pipeline.airflow_cli import PASSWORDS_FILE, AirflowCli, api_url
from retail.settings import Settings

PORT_VARIABLE = "RETAIL_AIRFLOW__API_PORT"
# The scheduler and the triggerer do not serve task logs on a port of their own (that
# server binds every interface): the API server reads them from the shared home. The
# triggerer runs deferred tasks (the Power BI refresh waits for its dataset there).
COMMANDS = {"api-server": ("api-server", "--host", "127.0.0.1", "--workers", "1"),
            "scheduler": ("scheduler", "--skip-serve-logs"),
            "dag-processor": ("dag-processor",),
            "triggerer": ("triggerer", "--skip-serve-logs")}
_HEALTHY = ("metadatabase", "scheduler", "dag_processor", "triggerer")
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class AirflowRecord:
    pids: dict[str, int]
    # Each process's start time in clock ticks (/proc/<pid>/stat): a recycled pid differs.
    starts: dict[str, int | None]
    port: int
    passwords_file: str
    started_at: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _start_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def alive(record: AirflowRecord) -> dict[str, bool]:
    """Which of the recorded processes still run (the very processes ``up`` started)."""
    return {name: record.starts[name] is not None and _start_ticks(pid) == record.starts[name]
            for name, pid in record.pids.items()}


def _record_path(settings: Settings) -> Path:
    return settings.local.home / "airflow.json"


def read_record(settings: Settings) -> AirflowRecord | None:
    """The record of the processes ``up`` started, while any of them runs."""
    path = _record_path(settings)
    if not path.exists():
        return None
    record = AirflowRecord(**json.loads(path.read_text()))
    return record if any(alive(record).values()) else None


def health(url: str, timeout_s: float = 2.0) -> dict[str, str] | None:
    """Each component's status from the API server's health endpoint; None if it does not
    answer."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout_s) as resp:
            body = json.load(resp)
    except (OSError, ValueError):
        return None
    return {name: (part or {}).get("status") or "none" for name, part in body.items()}


def _ensure_password(passwords: Path) -> str | None:
    """Write a generated admin password unless the file holds one; the new one, or None."""
    if passwords.exists() and "admin" in json.loads(passwords.read_text() or "{}"):
        return None
    # Letters and digits only: nothing a shell or a form would take for an option or quote.
    password = "".join(secrets.choice(_ALPHABET) for _ in range(24))
    fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"admin": password}) + "\n")
    return password


def up(settings: Settings) -> tuple[AirflowRecord, str | None, bool]:
    """Start the four processes unless ours run; return the record, the admin password if
    it was generated now, and whether they started now."""
    record = read_record(settings)
    if record is not None and all(alive(record).values()):
        return record, None, False
    if record is not None:  # one of them exited: start the four afresh
        down(settings)
    cli = AirflowCli(settings)
    port = settings.airflow.api_port
    ensure_ports_free([(port, PORT_VARIABLE)])
    cli.migrate()
    passwords = cli.home / PASSWORDS_FILE
    password = _ensure_password(passwords)
    logs = settings.local.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = {name: cli.popen(*args, log=logs / f"airflow-{name}.log", start_new_session=True)
             for name, args in COMMANDS.items()}
    record = AirflowRecord({n: p.pid for n, p in procs.items()},
                           {n: _start_ticks(p.pid) for n, p in procs.items()}, port,
                           str(passwords), time.time())
    _record_path(settings).write_text(json.dumps(asdict(record), indent=2))
    deadline = time.monotonic() + settings.airflow.start_timeout_s
    while True:
        status = health(api_url(settings)) or {}
        if all(status.get(part) == "healthy" for part in _HEALTHY):
            return record, password, True
        exited = [n for n, p in procs.items() if p.poll() is not None]
        late = time.monotonic() > deadline
        if exited or late:
            down(settings)
            name = exited[0] if exited else "api-server"
            log = logs / f"airflow-{name}.log"
            why = (f"the Airflow {name} exited with code {procs[name].returncode}" if exited
                   else f"Airflow did not report healthy within "
                        f"{settings.airflow.start_timeout_s:g}s (RETAIL_AIRFLOW__START_TIMEOUT_S;"
                        f" health: {status or 'no answer'})")
            raise StackError(f"{why}; nothing is left running; see {log}:\n"
                             f"{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)


def down(settings: Settings, timeout_s: float = 20.0) -> AirflowRecord | None:
    """Stop the processes ``up`` started (and their children); return the record, or None."""
    record = read_record(settings)
    if record is not None:
        running = [record.pids[n] for n, on in alive(record).items() if on]
        for pid in running:
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(alive(record).values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in running:  # stragglers of a group (a task runner that hung)
            _signal_group(pid, signal.SIGKILL)
    _record_path(settings).unlink(missing_ok=True)
    return record


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
