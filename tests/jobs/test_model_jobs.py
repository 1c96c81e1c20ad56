"""jobs/train_demand_forecast.py, predict_daily.py and optimize_stock.py run as their images
run them (bad arguments through the entrypoint's main, in this process): bad arguments and
settings exit 2 naming the flag or the variable before anything is done; an MLflow server
that does not answer, or nothing to work from, exits 1 saying what to do; scoring with a
model that has no champion yet exits 3 saying to train it first (predict_daily,
optimize_stock --date, and the insight jobs' --task score). (The jobs' work is
tests/integration/test_forecast_chain.py's.)"""

from __future__ import annotations

import json

import pytest

from conftest import free_port
from tests.jobs.jobrun import job_env, load_job, run_job


@pytest.mark.parametrize("job, args, names", [
    ("train_demand_forecast", ["--as-of", "2026-02-30"], "--as-of"),
    ("train_demand_forecast", ["--date", "2026-03-01"], "unrecognized arguments: --date"),
    ("predict_daily", [], "--date D, or --from D1 --to D2"),
    ("predict_daily", ["--date", "20260310"], "--date"),
    ("predict_daily", ["--from", "2026-03-10", "--to", "2026-03-01"], "before --from"),
    ("optimize_stock", [], "give --date D (recommendations) or --train"),
    ("optimize_stock", ["--date", "2026-03-10", "--train"], "give --date D"),
    ("optimize_stock", ["--date", "2026-03-10", "--as-of", "2026-03-09"],
     "--as-of goes with --train"),
    ("optimize_stock", ["--date", "2026-13-10"], "--date"),
])
def test_bad_arguments_exit_2_naming_the_flag(job, args, names, capsys):
    # the entrypoint's own main, in this process: argument parsing comes before any
    # setting or service is looked at (the tests below run each job as its image does)
    with pytest.raises(SystemExit) as exited:
        load_job(job).main(args)
    stderr = capsys.readouterr().err
    assert exited.value.code == 2, stderr
    assert names in stderr and stderr.startswith(job), stderr


@pytest.mark.parametrize("job, args", [("train_demand_forecast", []),
                                       ("predict_daily", ["--date", "2026-03-10"]),
                                       ("optimize_stock", ["--train"])])
def test_bad_settings_exit_2_naming_the_variable(job, args):
    done = run_job(job, *args, env=job_env(RETAIL_FORECAST__HORIZON_DAYS="0",
                                           RETAIL_MLFLOW__TRACKING_URI="ftp://x"))
    assert done.returncode == 2, done.stderr
    assert "RETAIL_FORECAST__HORIZON_DAYS" in done.stderr or \
        "RETAIL_MLFLOW__TRACKING_URI" in done.stderr, done.stderr


def _events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("job, args", [("train_demand_forecast", ["--as-of", "2026-03-10"]),
                                       ("predict_daily", ["--date", "2026-03-10"]),
                                       ("optimize_stock", ["--date", "2026-03-10"])])
def test_an_mlflow_server_that_does_not_answer_exits_1_naming_it(job, args, migrated,
                                                                  fresh_database):
    uri = f"http://127.0.0.1:{free_port()}"
    done = run_job(job, *args, env=job_env(
        RETAIL_WAREHOUSE__URL=fresh_database.url,
        RETAIL_WAREHOUSE__DATABASE=fresh_database.database, RETAIL_MLFLOW__TRACKING_URI=uri,
        RETAIL_LOG__FORMAT="json"))
    assert done.returncode == 1, done.stderr
    last = _events(done.stderr)[-1]
    assert last["level"] == "error" and uri in last["error"], last


@pytest.mark.parametrize("job, args, model", [
    ("predict_daily", ["--date", "2026-03-10"], "demand_forecast"),
    ("optimize_stock", ["--date", "2026-03-10"], "supplier_lead_time"),
    ("detect_anomalies", ["--date", "2026-03-10", "--task", "score"], "anomaly_detector"),
    ("classify_slow_movers", ["--date", "2026-03-10", "--task", "score"], "slow_movers"),
    ("train_recommendations", ["--date", "2026-03-10", "--task", "score"], "recommendations"),
])
def test_scoring_without_a_champion_exits_3_saying_train_first(job, args, model, migrated,
                                                               fresh_database, mlflow_server):
    # a fresh install before the first weekly training: not a failure (exit 1) but its own
    # code, so the DAG skips the task instead of paging
    done = run_job(job, *args, env=job_env(
        RETAIL_WAREHOUSE__URL=fresh_database.url,
        RETAIL_WAREHOUSE__DATABASE=fresh_database.database,
        RETAIL_MLFLOW__TRACKING_URI=mlflow_server, RETAIL_MLFLOW__PREFIX="nochampion",
        RETAIL_LOG__FORMAT="json"), timeout_s=240)
    assert done.returncode == 3, done.stderr
    last = _events(done.stderr)[-1]
    assert last["level"] == "warning" and last["exit_code"] == 3, last
    assert f"nochampion.{model} has no champion" in last["error"], last
    assert "train it first" in last["error"]
    # known before Spark starts: no JVM for a skipped task (the JVM announces itself)
    assert "incubator" not in done.stderr and "SparkContext" not in done.stderr, done.stderr
