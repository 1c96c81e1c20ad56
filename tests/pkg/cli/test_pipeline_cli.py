"""`retail pipeline run`: its options, and one real run of a real DAG through the local
Airflow (.venv-airflow) that fails for want of a warehouse, as a user would see it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import free_port
from retail.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]


def airflow_venv() -> Path:
    """The Airflow virtualenv the DAG tests use (tests/dags/airflow_env.py)."""
    from tests.dags.airflow_env import airflow_python

    return airflow_python().parent.parent


@pytest.mark.parametrize("args, message", [
    (["--date", "2026-12-01", "--from", "2026-12-01"], "give --date, or --from and --to"),
    (["--from", "2026-12-01"], "give --date D, or --from D1 --to D2 (both)"),
    (["--from", "2026-12-03", "--to", "2026-12-01"], "--to 2026-12-01 is before --from"),
    (["--date", "20261201"], "--date must be a date YYYY-MM-DD, got '20261201'"),
])
def test_bad_days_exit_2_naming_the_flag(args, message):
    result = runner.invoke(app, ["pipeline", "run", "daily", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_weekly_backfill_without_a_friday_says_when_training_runs():
    result = runner.invoke(app, ["pipeline", "run", "weekly", "--from", "2026-11-30",
                                 "--to", "2026-12-02"])
    assert result.exit_code == 2
    assert "models_train (Sundays at 02:00 UTC" in result.output
    assert "name a single day with --date" in result.output


def test_an_unknown_pipeline_is_refused_with_the_three_names():
    result = runner.invoke(app, ["pipeline", "run", "hourly"])
    assert result.exit_code == 2
    assert "daily" in result.output and "weekly" in result.output


def test_a_missing_airflow_virtualenv_says_run_make_install(monkeypatch, tmp_path):
    monkeypatch.setenv("RETAIL_AIRFLOW__VENV", str(tmp_path / "none"))
    monkeypatch.setenv("RETAIL_LOCAL__HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["pipeline", "run", "predictions", "--date", "2026-12-01"])
    assert result.exit_code == 1
    assert "run `make install`" in result.output and "RETAIL_AIRFLOW__VENV" in result.output


@pytest.mark.integration
def test_a_real_dag_run_shows_each_task_and_a_summary_and_fails_without_a_warehouse(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_", "AIRFLOW"))}
    env.update(RETAIL_LOCAL__HOME=str(tmp_path / "home"),
               RETAIL_LOCAL__WAREHOUSE_PORT=str(free_port()),  # nothing listens there
               RETAIL_AIRFLOW__VENV=str(airflow_venv()), COLUMNS="200",
               AIRFLOW_VAR_RETAIL_RETRIES="0")
    done = subprocess.run([sys.executable, "-m", "retail.cli", "pipeline", "run",
                           "predictions", "--date", "2026-12-01"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "predictions_run 2026-12-01: logical date 2026-12-02T10:00:00+00:00" in out
    assert "predictions_run 2026-12-01 wait_build_features: started" in out
    assert "predictions_run 2026-12-01 wait_build_features: failed in" in out
    assert "did not answer" in out and "Connection refused" in out  # the sensor's reason
    # the summary: every task of the run, those behind the failed sensor never ran
    for task in ("predict_daily", "optimize_stock", "evaluate_forecasts", "powerbi_refresh"):
        assert f"│ {task}" in out
    assert "upstream_failed" in out
    assert "1 of 1 DAG run(s) failed: predictions_run 2026-12-01" in done.stderr
    logs = list((tmp_path / "home" / "airflow" / "logs" / "pipeline").glob("*-predictions.log"))
    assert len(logs) == 1 and str(logs[0]) in done.stderr
    text = logs[0].read_text()
    assert "[DAG TEST] starting task_id=wait_build_features" in text  # Airflow's output
    assert "[DAG TEST]" not in out  # ... not the terminal's
    assert (tmp_path / "home" / "airflow" / "airflow.db").is_file()
