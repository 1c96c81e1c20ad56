"""The daily jobs (jobs/daily_etl.py, jobs/build_features.py) run as their images run them:
their day arguments (one parser, retail.batch.runner.day_arguments) and settings are
checked before anything starts, and bad ones exit 2 naming the flag or the variable."""

from __future__ import annotations

import pytest

from tests.jobs.jobrun import job_env, run_job

DAY_JOBS = ["daily_etl", "build_features"]


@pytest.mark.parametrize("job", DAY_JOBS)
@pytest.mark.parametrize("args,names", [
    ([], "--date D, or --from D1 --to D2"),
    (["--date", "2024-02-30"], "--date"),
    (["--from", "2024-03-05", "--to", "2024-03-01"], "--to 2024-03-01 is before --from"),
    (["--date", "2024-03-01", "--from", "2024-03-01", "--to", "2024-03-02"], "not both"),
])
def test_bad_arguments_exit_2_naming_the_flag(job, args, names):
    done = run_job(job, *args, env=job_env())
    assert done.returncode == 2 and names in done.stderr and done.stderr.startswith(job), \
        done.stderr


@pytest.mark.parametrize("job", DAY_JOBS)
def test_bad_settings_exit_2_naming_the_variable(job):
    done = run_job(job, "--date", "2024-03-01",
                   env=job_env(RETAIL_WAREHOUSE__URL="ftp://nowhere"))
    assert done.returncode == 2 and "RETAIL_WAREHOUSE__URL" in done.stderr, done.stderr
