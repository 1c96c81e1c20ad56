"""The environment every local Airflow process shares (retail.pipeline.airflow_cli)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from retail.pipeline.airflow_cli import AirflowCli, AirflowError, environment, repo_root
from retail.settings import load_settings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def retail_env(monkeypatch, tmp_path):
    for name in ("RETAIL_LOCAL__HOME", "RETAIL_LAKE__ROOT", "RETAIL_WAREHOUSE__URL",
                 "RETAIL_WAREHOUSE__PASSWORD", "RETAIL_AIRFLOW__REPO", "RETAIL_AIRFLOW__VENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a relative home resolves against the caller's directory
    monkeypatch.setenv("RETAIL_LOCAL__HOME", "state")
    monkeypatch.setenv("RETAIL_LOCAL__WAREHOUSE_PORT", "18123")
    monkeypatch.setenv("RETAIL_AIRFLOW__API_PORT", "18080")
    monkeypatch.setenv("RETAIL_FORECAST__HORIZON_DAYS", "5")  # a job's setting, passed through
    return tmp_path


def test_the_dags_run_locally_from_this_repository_with_this_python(retail_env):
    env = environment(load_settings())
    home = retail_env / "state" / "airflow"
    assert env["AIRFLOW_HOME"] == str(home)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home}/airflow.db"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW_VAR_RETAIL_EXECUTION"] == "local"
    assert env["AIRFLOW_VAR_RETAIL_REPO"] == str(REPO)
    assert env["AIRFLOW_VAR_RETAIL_PYTHON"] == sys.executable


def test_the_sensors_ask_the_platforms_warehouse_and_the_jobs_get_absolute_local_state(
        retail_env, monkeypatch):
    env = environment(load_settings())
    assert env["AIRFLOW_VAR_RETAIL_WAREHOUSE_URL"] == "http://127.0.0.1:18123"
    assert env["AIRFLOW_VAR_RETAIL_WAREHOUSE_DATABASE"] == "retail"
    assert env["AIRFLOW_VAR_RETAIL_WAREHOUSE_USER"] == "default"
    assert "AIRFLOW_VAR_RETAIL_WAREHOUSE_PASSWORD" not in env  # none set: none invented
    assert env["RETAIL_LOCAL__HOME"] == str(retail_env / "state")
    assert env["RETAIL_LAKE__ROOT"] == str(retail_env / "state" / "lake")
    assert env["RETAIL_FORECAST__HORIZON_DAYS"] == "5"
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "https://ch.example:8443")
    monkeypatch.setenv("RETAIL_WAREHOUSE__PASSWORD", "s3cret-value")
    env = environment(load_settings())
    assert env["AIRFLOW_VAR_RETAIL_WAREHOUSE_URL"] == "https://ch.example:8443"
    assert env["AIRFLOW_VAR_RETAIL_WAREHOUSE_PASSWORD"] == "s3cret-value"


def test_the_servers_listen_on_loopback_and_log_in_with_the_simple_auth_managers_file(
        retail_env):
    env = environment(load_settings())
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == \
        str(retail_env / "state" / "airflow" / "simple_auth_manager_passwords.json.generated")


def test_a_missing_virtualenv_or_repository_says_what_to_do(retail_env, monkeypatch):
    monkeypatch.setenv("RETAIL_AIRFLOW__VENV", str(retail_env / "nope"))
    with pytest.raises(AirflowError, match=r"nope/bin/airflow is missing: run `make install`"):
        AirflowCli(load_settings())
    monkeypatch.setenv("RETAIL_AIRFLOW__REPO", str(retail_env))
    with pytest.raises(AirflowError, match="has no dags/ and jobs/: set RETAIL_AIRFLOW__REPO"):
        repo_root(load_settings())


def test_the_api_port_may_not_be_another_local_servers(retail_env, monkeypatch):
    from retail.settings import SettingsError

    monkeypatch.setenv("RETAIL_AIRFLOW__API_PORT", "18123")
    with pytest.raises(SettingsError, match="RETAIL_AIRFLOW__API_PORT and "
                       "RETAIL_LOCAL__WAREHOUSE_PORT must differ \\(both are 18123\\)"):
        load_settings()
