"""jobs/daily_etl.py run as its image runs it: a day the lake does not hold is a failure
naming where it looked, found before Spark starts, and recorded in ``job_runs`` (arguments
and settings: test_day_jobs.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.jobs.jobrun import job_env, run_job


@pytest.mark.clickhouse_server
def test_a_day_missing_from_the_lake_exits_1_with_the_folders(migrated, fresh_database, tmp_path):
    from retail.sim import generate_catalog
    from retail.warehouse.load import load_dimensions

    catalog = generate_catalog(stores=2, products=10, seed=1)
    load_dimensions(migrated, catalog, date(2024, 3, 1), 5)
    done = run_job("daily_etl", "--date", "2024-03-02", timeout_s=240, env=job_env(
        RETAIL_WAREHOUSE__URL=fresh_database.url,
        RETAIL_WAREHOUSE__DATABASE=fresh_database.database,
        RETAIL_LAKE__ROOT=str(tmp_path / "lake"), RETAIL_LOG__FORMAT="json"))
    assert done.returncode == 1, done.stderr
    failed = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")][-1]
    assert "the lake holds no events for 2024-03-02" in failed["error"]
    assert str(tmp_path / "lake") in failed["error"]
    # found before Spark starts: no JVM for a day that is not there (the JVM announces itself)
    assert "incubator" not in done.stderr and "SparkContext" not in done.stderr, done.stderr
    assert migrated.query_rows(
        "SELECT status, JSONExtractString(details, 'day') FROM job_runs FINAL "
        "WHERE job = 'daily_etl'") == [("failed", "2024-03-02")]
