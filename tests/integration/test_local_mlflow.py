"""`retail local up|status|down` with the local MLflow server, as a user runs them."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from test_local_stack import listening, retail, stack_env  # noqa: F401
from tests.processes import group

pytestmark = pytest.mark.integration


@pytest.fixture
def mlflow_env(stack_env) -> dict[str, str]:
    """The stack's environment with the local MLflow server on (no tracking URI)."""
    return {k: v for k, v in stack_env.items() if k != "RETAIL_MLFLOW__TRACKING_URI"}


def test_up_starts_the_server_status_shows_it_down_stops_it_with_its_workers(
        mlflow_env, tmp_path):
    home = tmp_path / ".retail"
    port = mlflow_env["RETAIL_LOCAL__MLFLOW_PORT"]
    first = retail(mlflow_env, "local", "up", timeout=300)
    assert first.returncode == 0, first.stderr
    url = f"http://127.0.0.1:{port}"
    assert f"UI and tracking at {url}" in first.stdout
    record = json.loads((home / "mlflow.json").read_text())
    assert record["backend_store"] == f"sqlite:///{(home / 'mlflow' / 'mlflow.db').resolve()}"
    assert record["artifacts"] == str((home / "lake" / "retail-models").resolve())
    with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(url, timeout=10) as resp:  # the UI
        assert b"<html" in resp.read().lower()
    assert (home / "mlflow" / "mlflow.db").is_file() and (home / "logs" / "mlflow.log").is_file()

    again = retail(mlflow_env, "local", "up")
    assert again.returncode == 0
    assert json.loads((home / "mlflow.json").read_text())["pid"] == record["pid"]

    status = retail(mlflow_env, "local", "status")
    assert f"mlflow: running, pid {record['pid']}, {url}" in status.stdout

    processes = group(record["pid"])
    assert len(processes) >= 2  # `mlflow server` and its uvicorn worker
    down = retail(mlflow_env, "local", "down")
    assert f"mlflow stopped (pid {record['pid']})" in down.stdout
    assert not group(record["pid"]) and not listening(int(port))
    assert "mlflow: nothing to stop" in retail(mlflow_env, "local", "down").stdout


def test_a_taken_mlflow_port_or_a_missing_server_venv_starts_nothing(mlflow_env, tmp_path):
    port = int(mlflow_env["RETAIL_LOCAL__MLFLOW_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        taken = retail(mlflow_env, "local", "up")
    assert taken.returncode == 1
    assert f"127.0.0.1:{port} is taken by another process (free it or set " \
           "RETAIL_LOCAL__MLFLOW_PORT)" in taken.stderr
    missing = retail({**mlflow_env, "RETAIL_MLFLOW__SERVER_BIN": str(tmp_path / "nope")},
                     "local", "up")
    assert missing.returncode == 1 and "run `make install`" in missing.stderr
    assert ".venv-mlflow" in missing.stderr
    home = tmp_path / ".retail"
    assert not any((home / name).exists() for name in ("broker.json", "warehouse.json",
                                                        "mlflow.json"))

