"""`retail local up --with-airflow | status | down`: a real local Airflow (API server, scheduler,
DAG processor from .venv-airflow) on loopback, parsing the repository's DAGs, its admin
password printed once and accepted by the API, stopped with every child by `down`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port
from tests.processes import group, listening_addresses

pytestmark = pytest.mark.integration
RETAIL = [sys.executable, "-m", "retail.cli"]
DAG_IDS = {"etl_close_day", "features_build", "models_train", "predictions_run",
           "quality_check", "bi_prepare"}


@pytest.fixture
def stack_env(tmp_path) -> dict[str, str]:
    from tests.dags.airflow_env import airflow_python

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_", "AIRFLOW"))}
    env.update(RETAIL_LOCAL__HOME=str(tmp_path / ".retail"),
               RETAIL_LOCAL__BROKER_PORT=str(free_port()),
               RETAIL_LOCAL__WAREHOUSE_PORT=str(free_port()),
               RETAIL_AIRFLOW__API_PORT=str(free_port()),
               RETAIL_AIRFLOW__VENV=str(airflow_python().parent.parent),
               RETAIL_MLFLOW__TRACKING_URI=f"file://{tmp_path / 'mlruns'}", COLUMNS="300")
    yield env
    subprocess.run([*RETAIL, "local", "down"], env=env, capture_output=True, timeout=60)


def retail(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*RETAIL, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def call(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_up_with_airflow_serves_the_dags_on_loopback_logs_in_and_down_stops_it(stack_env,
                                                                                tmp_path):
    started = time.monotonic()
    first = retail(stack_env, "local", "up", "--with-airflow")
    assert first.returncode == 0, first.stdout + first.stderr
    port = int(stack_env["RETAIL_AIRFLOW__API_PORT"])
    url = f"http://127.0.0.1:{port}"
    assert f"airflow up: UI and API at {url}" in first.stdout
    password = re.search(r"airflow login: admin / (\S+) \(shown this once", first.stdout)[1]
    passwords = tmp_path / ".retail" / "airflow" / "simple_auth_manager_passwords.json.generated"
    assert json.loads(passwords.read_text()) == {"admin": password}
    assert passwords.stat().st_mode & 0o777 == 0o600
    assert len(password) >= 20 and password.isalnum()
    logs = (tmp_path / ".retail" / "logs").glob("airflow-*.log")
    assert not any(password in log.read_text() for log in logs)  # printed once: above

    status, health = call(f"{url}/api/v2/monitor/health")
    assert status == 200
    for part in ("metadatabase", "scheduler", "dag_processor", "triggerer"):
        assert health[part]["status"] == "healthy", health

    assert call(f"{url}/auth/token", {"username": "admin", "password": "admin"})[0] == 401
    status, body = call(f"{url}/auth/token", {"username": "admin", "password": password})
    assert status == 201, body
    token = body["access_token"]
    deadline = time.monotonic() + 45  # the DAG processor's first pass over dags/
    dags: set[str] = set()
    while dags != DAG_IDS and time.monotonic() < deadline:
        time.sleep(1)
        dags = {d["dag_id"] for d in call(f"{url}/api/v2/dags", token=token)[1]["dags"]}
    assert dags == DAG_IDS
    assert call(f"{url}/api/v2/importErrors", token=token)[1]["total_entries"] == 0

    record = json.loads((tmp_path / ".retail" / "airflow.json").read_text())
    assert set(record["pids"]) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    processes = set().union(*(group(pid) for pid in record["pids"].values()))
    addresses = listening_addresses(processes)
    assert addresses == {f"0100007F:{port:04X}"}, addresses  # the API server, on loopback only

    again = retail(stack_env, "local", "up", "--with-airflow")
    assert again.returncode == 0 and password not in again.stdout
    assert f"airflow login: admin, password in {passwords}" in again.stdout
    assert json.loads((tmp_path / ".retail" / "airflow.json").read_text()) == record
    status_out = retail(stack_env, "local", "status").stdout
    assert "airflow: running, pids api-server" in status_out and "scheduler healthy" in status_out

    down = retail(stack_env, "local", "down")
    pids = ", ".join(str(p) for p in record["pids"].values())
    assert f"airflow stopped (pids {pids})" in down.stdout
    assert not any(group(pid) for pid in record["pids"].values())
    with pytest.raises(urllib.error.URLError):  # nothing answers any more
        call(f"{url}/api/v2/monitor/health")
    assert not listening_addresses(processes)
    assert "airflow: nothing to stop" in retail(stack_env, "local", "down").stdout
    assert time.monotonic() - started < 90
