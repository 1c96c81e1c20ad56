"""The local MLflow server (tracking, model registry, UI) as a process of the local stack.

``retail local up`` starts ``mlflow server`` from its own virtualenv (``.venv-mlflow``: the
full ``mlflow`` package pins pyarrow<26, the platform runs pyarrow 26; the jobs use the
``mlflow-skinny`` client of the same version), records it in ``<home>/mlflow.json`` and waits
for ``/health``; ``retail local down`` stops exactly that process and its workers. The backend
store is ``<home>/mlflow/mlflow.db`` (SQLite), the artifacts go to the lake's models bucket
(``<lake root>/retail-models`` locally, ``s3://retail-models`` when the lake is on S3) through
the server (``--serve-artifacts``: clients need no S3 credentials). Its log is
``<home>/logs/mlflow.log``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from retail.local.stack import StackError, ensure_ports_free
from retail.settings import Settings

PORT_VARIABLE = "RETAIL_LOCAL__MLFLOW_PORT"
# pkg/retail/local/mlflow_server.py -> the repository (an editable install, as make installs).
_REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class MlflowRecord:
    pid: int
    port: int
    backend_store: str
    artifacts: str
    started_at: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wanted(settings: Settings) -> bool:
    """Whether the stack runs a local server: only while no tracking URI points elsewhere."""
    return settings.mlflow.tracking_uri is None


def server_bin(settings: Settings) -> Path:
    """The ``mlflow`` executable of the server's virtualenv; a clear error if it is missing."""
    path = settings.mlflow.server_bin or _REPO / ".venv-mlflow" / "bin" / "mlflow"
    if not os.access(path, os.X_OK):
        raise StackError(f"the local MLflow server runs from its own virtualenv and {path} is "
                         "missing: run `make install` (it creates .venv-mlflow with the full "
                         "mlflow package) or set RETAIL_MLFLOW__SERVER_BIN")
    return path


def backend_store(settings: Settings) -> str:
    return f"sqlite:///{(settings.local.home / 'mlflow' / 'mlflow.db').resolve()}"


def artifacts_destination(settings: Settings) -> str:
    """The lake's models bucket: a folder of the local lake, or the bucket on S3."""
    lake = settings.lake
    if lake.is_s3:
        return f"s3://{lake.models_bucket}"
    return str(Path(lake.root).expanduser().resolve() / lake.models_bucket)


def _server_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    lake = settings.lake
    if lake.is_s3:  # the server writes the artifacts with boto3
        env.update({k: v for k, v in {
            "MLFLOW_S3_ENDPOINT_URL": lake.s3_endpoint,
            "AWS_DEFAULT_REGION": lake.s3_region,
            "AWS_ACCESS_KEY_ID": lake.s3_access_key and lake.s3_access_key.get_secret_value(),
            "AWS_SECRET_ACCESS_KEY": lake.s3_secret_key
            and lake.s3_secret_key.get_secret_value()}.items() if v})
    return env


def _record_path(settings: Settings) -> Path:
    return settings.local.home / "mlflow.json"


def _alive(record: MlflowRecord) -> bool:
    """True if the recorded pid is still the server we started (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"server" in cmdline and str(record.port).encode() in cmdline and \
        any(part.endswith(b"mlflow") for part in cmdline)


def read_record(settings: Settings) -> MlflowRecord | None:
    path = _record_path(settings)
    if not path.exists():
        return None
    record = MlflowRecord(**json.loads(path.read_text()))
    return record if _alive(record) else None


def healthy(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout_s) as resp:
            return resp.status == 200
    except OSError:
        return False


def up(settings: Settings) -> tuple[MlflowRecord, bool]:
    """Start the server unless ours runs; return its record and whether it started now."""
    record = read_record(settings)
    if record is not None:
        return record, False
    binary = server_bin(settings)
    port = settings.local.mlflow_port
    ensure_ports_free([(port, PORT_VARIABLE)])
    home = settings.local.home
    for folder in (home / "logs", home / "mlflow"):
        folder.mkdir(parents=True, exist_ok=True)
    artifacts = artifacts_destination(settings)
    if not artifacts.startswith("s3://"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    log = home / "logs" / "mlflow.log"
    with log.open("ab") as fh:
        # Its own session: the server forks uvicorn workers, stopped with it as one group.
        proc = subprocess.Popen(
            [str(binary), "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", backend_store(settings), "--artifacts-destination",
             artifacts, "--serve-artifacts", "--workers", "1"],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=_server_env(settings))
    record = MlflowRecord(proc.pid, port, backend_store(settings), artifacts, time.time())
    timeout_s = settings.mlflow.server_start_timeout_s
    deadline = time.monotonic() + timeout_s
    while not healthy(record.url):
        if proc.poll() is not None:
            raise StackError(f"the MLflow server exited with code {proc.returncode}; see {log}:"
                             f"\n{log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            _stop_group(proc.pid, proc.poll, 10.0)
            raise StackError(f"the MLflow server did not answer {record.url}/health within "
                             f"{timeout_s:g}s (RETAIL_MLFLOW__SERVER_START_TIMEOUT_S); "
                             f"see {log}")
        time.sleep(0.25)
    _record_path(settings).write_text(json.dumps(asdict(record), indent=2))
    return record, True


def down(settings: Settings, timeout_s: float = 15.0) -> MlflowRecord | None:
    """Stop the server that ``up`` started (and its workers); return its record, or None."""
    record = read_record(settings)
    if record is not None:
        _stop_group(record.pid, lambda: None if _alive(record) else 0, timeout_s)
    _record_path(settings).unlink(missing_ok=True)
    return record


def _stop_group(pid: int, exit_code, timeout_s: float) -> None:
    """SIGTERM the server's process group (``up`` made it the group leader), wait for
    ``exit_code()`` to turn non-None, then SIGKILL the group."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while exit_code() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)  # stragglers of the group (a worker that hung)
    except ProcessLookupError:
        pass
