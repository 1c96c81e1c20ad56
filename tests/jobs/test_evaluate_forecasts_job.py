"""jobs/evaluate_forecasts.py run as its image runs it: bad arguments and settings exit 2
naming the flag or the variable before anything is done; a day without its actuals exits 1
naming the feature job; a day with forecasts and actuals writes its evaluations, its drift
and a job_runs row."""

from __future__ import annotations

import json

import pytest

from retail.ml.monitoring import MAIN_FEATURES
from tests.jobs.jobrun import job_env, run_job
from tests.pkg.ml.monitoring_data import (day_actuals, forecasts, insert_features,
                                          insert_predictions)


@pytest.mark.parametrize("args, names", [
    ([], "--date"),
    (["--date", "2026-02-30"], "--date"),
    (["--date", "20260310"], "--date"),
    (["--date", "2026-03-10", "--reference-days", "3"], "--reference-days must be at least 7"),
    (["--date", "2026-03-10", "--reference-from", "2026-01-01"], "--reference-to together"),
    (["--date", "2026-03-10", "--reference-from", "2026-02-01", "--reference-to",
      "2026-03-05"], "--reference-to 2026-03-05 must be before the recent week"),
])
def test_bad_arguments_exit_2_naming_the_flag(args, names):
    done = run_job("evaluate_forecasts", *args, env=job_env())
    assert done.returncode == 2, done.stderr
    assert names in done.stderr and done.stderr.startswith("evaluate_forecasts"), done.stderr


def test_bad_settings_exit_2_naming_the_variable():
    done = run_job("evaluate_forecasts", "--date", "2026-03-10",
                   env=job_env(RETAIL_WAREHOUSE__URL="ftp://nowhere"))
    assert done.returncode == 2 and "RETAIL_WAREHOUSE__URL" in done.stderr, done.stderr


def _env(db) -> dict[str, str]:
    return job_env(RETAIL_WAREHOUSE__URL=db.url, RETAIL_WAREHOUSE__DATABASE=db.database,
                   RETAIL_LOG__FORMAT="json")


def _last_event(stderr: str) -> dict:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")][-1]


@pytest.mark.clickhouse_server
def test_a_day_without_actuals_exits_1_naming_the_feature_job(migrated, fresh_database):
    insert_predictions(migrated, forecasts())
    done = run_job("evaluate_forecasts", "--date", "2026-03-10", env=_env(fresh_database))
    assert done.returncode == 1, done.stderr
    assert "retail features build --date 2026-03-10" in _last_event(done.stderr)["error"]
    assert migrated.query_rows("SELECT status FROM job_runs FINAL") == [("failed",)]


@pytest.mark.clickhouse_server
def test_a_run_writes_evaluations_drift_and_a_job_run(migrated, fresh_database):
    insert_features(migrated, day_actuals())
    insert_predictions(migrated, forecasts())
    done = run_job("evaluate_forecasts", "--date", "2026-03-10", "--reference-days", "14",
                   env=_env(fresh_database))
    assert done.returncode == 0, done.stderr
    assert _last_event(done.stderr)["versions"] == ["demand_forecast:v1", "demand_forecast:v2"]
    assert migrated.query_rows("SELECT count() FROM model_evaluations FINAL")[0][0] == 4
    drift = migrated.query_rows("SELECT model_version, status, reference_from, reference_to "
                                "FROM model_drift FINAL WHERE feature = 'demand'")
    assert sorted((v, s, str(a), str(b)) for v, s, a, b in drift) == [
        ("v1", "no_data", "2026-02-18", "2026-03-03"),
        ("v2", "no_data", "2026-02-18", "2026-03-03")]  # no history in the reference window
    assert migrated.query_rows("SELECT count() FROM model_drift FINAL")[0][0] == \
        2 * len(MAIN_FEATURES)
    assert migrated.query_rows("SELECT status, rows_out FROM job_runs FINAL "
                               "WHERE job = 'evaluate_forecasts'") == \
        [("succeeded", 4 + 2 * len(MAIN_FEATURES))]
