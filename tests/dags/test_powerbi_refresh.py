"""The Power BI refresh task (dags/_powerbi.py), run for real through Airflow.

Power BI cannot run here, so a local HTTPS server (tests/dags/powerbi_fake.py) plays Entra
ID's token endpoint and Power BI's REST API. The connection ``powerbi_default`` points the
provider's hook at it through its own extras: ``authority`` (the token endpoint's host),
``base_url`` (the REST API's), ``allowed_hosts`` (where the bearer token may go) and
``verify`` (the fake's self-signed certificate). A one-task DAG around
``powerbi_refresh_task()`` runs with ``dag.test()`` in Airflow's virtualenv, which runs the
operator's triggers in line, and the fake records what Power BI would have received.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dags.airflow_env import DAGS, airflow_env, airflow_python
from tests.dags.powerbi_fake import TOKEN, FakePowerBI, serve_fake_powerbi

WORKSPACE = str(uuid.uuid4())
DATASET = str(uuid.uuid4())
TENANT = str(uuid.uuid4())
CLIENT_ID, CLIENT_SECRET = "retail-powerbi-client", "client-secret-" + uuid.uuid4().hex
POWERBI_SCOPE = "https://analysis.windows.net/powerbi/api/.default"
REFRESHES_PATH = f"/v1.0/myorg/groups/{WORKSPACE}/datasets/{DATASET}/refreshes"
RESULT_MARK = "POWERBI-PROBE-RESULT "

# The DAG file of the run: the refresh task alone, as the last task of predictions_run
# builds it. It prints the task states after dag.test().
PROBE_DAG = f'''
import json

import pendulum
from airflow.sdk import DAG

from _powerbi import powerbi_refresh_task

with DAG("powerbi_probe", schedule=None, catchup=False,
         start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
    powerbi_refresh_task()

if __name__ == "__main__":
    states = {{ti.task_id: str(ti.state) for ti in dag.test().get_task_instances()}}
    print({RESULT_MARK!r} + json.dumps(states))
'''


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory) -> Path:
    """One migrated SQLite metadata database, copied into each test's Airflow home."""
    tmp = tmp_path_factory.mktemp("airflow-db")
    proc = subprocess.run([str(airflow_python()), "-m", "airflow", "db", "migrate"],
                          env=airflow_env(tmp), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"airflow db migrate failed:\n{proc.stderr[-3000:]}"
    return tmp / "airflow-home" / "airflow.db"


@pytest.fixture
def fake(tmp_path) -> Iterator[FakePowerBI]:
    with serve_fake_powerbi(tmp_path) as server:
        yield server


def connection(fake: FakePowerBI) -> str:
    """``AIRFLOW_CONN_POWERBI_DEFAULT``: a service principal whose Entra ID and API are fake."""
    return json.dumps({
        "conn_type": "powerbi", "login": CLIENT_ID, "password": CLIENT_SECRET,
        "extra": {"tenant_id": TENANT, "authority": fake.url, "base_url": f"{fake.url}/v1.0",
                  "allowed_hosts": "127.0.0.1", "verify": str(fake.ca_file),
                  "disable_instance_discovery": True}})


def run_probe(tmp_path: Path, migrated_db: Path, fake: FakePowerBI,
              **variables: str) -> tuple[dict[str, str], str]:
    """Run the probe DAG with ``dag.test()``; return the task states and Airflow's output."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "powerbi_probe.py").write_text(PROBE_DAG)
    env = airflow_env(tmp_path, AIRFLOW__CORE__DAGS_FOLDER=str(dags), PYTHONPATH=str(DAGS),
                      AIRFLOW_CONN_POWERBI_DEFAULT=connection(fake), **variables)
    shutil.copy(migrated_db, Path(env["AIRFLOW_HOME"]) / "airflow.db")
    proc = subprocess.run([str(airflow_python()), str(dags / "powerbi_probe.py")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=150)
    output = proc.stdout + proc.stderr
    results = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert proc.returncode == 0 and results, (
        f"the probe DAG did not finish (exit code {proc.returncode}):\n{output[-6000:]}")
    return json.loads(results[-1].removeprefix(RESULT_MARK)), output


def configured(**overrides: str) -> dict[str, str]:
    return {"AIRFLOW_VAR_RETAIL_POWERBI_WORKSPACE": WORKSPACE,
            "AIRFLOW_VAR_RETAIL_POWERBI_DATASET": DATASET, **overrides}


def test_the_refresh_posts_to_the_datasets_refreshes_with_a_bearer_token(
        tmp_path, migrated_db, fake):
    states, output = run_probe(tmp_path, migrated_db, fake, **configured())

    assert states == {"powerbi_refresh": "success"}, output[-6000:]
    tokens = fake.token_requests()
    assert [r.path for r in tokens] == [f"/{TENANT}/oauth2/v2.0/token"]
    form = tokens[0].form()
    assert (form["grant_type"], form["client_id"], form["client_secret"], form["scope"]) == (
        "client_credentials", CLIENT_ID, CLIENT_SECRET, POWERBI_SCOPE)
    posts = [r for r in fake.api_requests() if r.method == "POST"]
    assert [r.path for r in posts] == [REFRESHES_PATH]
    refresh = posts[0]
    # Shared capacity accepts notifyOption alone (anything else is an enhanced refresh).
    assert refresh.json() == {"notifyOption": "NoNotification"}
    headers = {name.lower(): value for name, value in refresh.headers.items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"].startswith("application/json")
    # Then it waits for the refresh's end, reading the refresh history with the same token.
    polls = [r for r in fake.api_requests() if r.method == "GET"]
    assert polls and {r.path for r in polls} == {REFRESHES_PATH}
    assert all({k.lower(): v for k, v in r.headers.items()}["authorization"] == f"Bearer {TOKEN}"
               for r in polls)
    assert f"Dataset refresh {fake.refresh_id} completed with status: Completed" in output


def test_a_failed_refresh_fails_the_task(tmp_path, migrated_db, fake):
    fake.refresh_status = "Failed"

    states, output = run_probe(tmp_path, migrated_db, fake, **configured())

    assert states == {"powerbi_refresh": "failed"}, output[-6000:]
    assert f"The dataset refresh {fake.refresh_id} has Failed" in output
    assert "ModelRefreshFailed" in output


def test_without_a_workspace_the_task_is_skipped_and_says_what_to_set(
        tmp_path, migrated_db, fake):
    states, output = run_probe(tmp_path, migrated_db, fake,
                               **configured(AIRFLOW_VAR_RETAIL_POWERBI_WORKSPACE=""))

    assert states == {"powerbi_refresh": "skipped"}, output[-6000:]
    assert "Power BI refresh skipped: AIRFLOW_VAR_RETAIL_POWERBI_WORKSPACE not set" in output
    assert "AIRFLOW_VAR_RETAIL_POWERBI_DATASET" in output
    assert fake.requests == []
