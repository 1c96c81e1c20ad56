"""jobs/build_features.py run as its image runs it: a day the daily ETL has not closed fails
(exit 1) naming it, before Spark (arguments and settings: test_day_jobs.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.jobs.jobrun import job_env, run_job


@pytest.mark.clickhouse_server
def test_a_day_not_closed_exits_1_naming_it_and_the_daily_etl(migrated, fresh_database,
                                                              tmp_path):
    from retail.sim import generate_catalog
    from retail.warehouse.load import load_dimensions

    load_dimensions(migrated, generate_catalog(stores=2, products=10, seed=1),
                    date(2024, 3, 1), 5)
    done = run_job("build_features", "--from", "2024-03-02", "--to", "2024-03-03", env=job_env(
        RETAIL_WAREHOUSE__URL=fresh_database.url,
        RETAIL_WAREHOUSE__DATABASE=fresh_database.database,
        RETAIL_LAKE__ROOT=str(tmp_path / "lake"), RETAIL_LOG__FORMAT="json"))
    assert done.returncode == 1, done.stderr
    failed = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")][-1]
    assert failed["error"].startswith("2024-03-02, 2024-03-03 not closed")
    assert "retail batch daily-etl" in failed["error"]
    assert not (tmp_path / "lake").exists()  # nothing was written
