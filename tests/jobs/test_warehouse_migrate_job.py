"""jobs/warehouse_migrate.py run as its image runs it, against the real local warehouse server."""

from __future__ import annotations

import json

import pytest

from conftest import free_port
from retail.io.warehouse import connect
from retail.warehouse.migrate import LEDGER, Migrator, discover
from tests.jobs.jobrun import job_env, run_job

pytestmark = pytest.mark.clickhouse_server


def _env(settings, **extra: str) -> dict[str, str]:
    env = {"RETAIL_WAREHOUSE__URL": settings.url, "RETAIL_WAREHOUSE__DATABASE": settings.database,
           "RETAIL_WAREHOUSE__USER": settings.user, "RETAIL_LOG__FORMAT": "json"}
    if settings.password is not None:
        env["RETAIL_WAREHOUSE__PASSWORD"] = settings.password.get_secret_value()
    env.update(extra)
    return job_env(**env)


def _log(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _states(settings) -> set[str]:
    migrator = Migrator(connect(settings, database=""), settings.database,
                        lambda db: connect(settings, db))
    return {s.state for s in migrator.status()}


def test_the_job_brings_a_fresh_database_up_to_date_and_exits_0(fresh_database):
    done = run_job("warehouse_migrate", env=_env(fresh_database))

    assert done.returncode == 0, done.stderr
    final = _log(done.stderr)[-1]
    assert final["event"] == "up to date"
    assert final["applied_now"] == len(discover()) == final["known"]
    assert _states(fresh_database) == {"applied"}


def test_running_the_job_on_an_up_to_date_database_applies_nothing_and_exits_0(
        fresh_database, migrated):
    done = run_job("warehouse_migrate", env=_env(fresh_database))

    assert done.returncode == 0, done.stderr
    assert _log(done.stderr)[-1]["applied_now"] == 0


def test_an_applied_migration_that_changed_fails_the_job_with_exit_1_naming_the_file(
        fresh_database, migrated):
    first = discover()[0]
    # The ledger keeps the newest row per version: record a different checksum for 0001.
    migrated.command(f"INSERT INTO {LEDGER} (version, name, checksum, statements, duration_ms) "
                     f"VALUES ({first.version}, '{first.name}', 'not-the-file', 1, 0)")

    done = run_job("warehouse_migrate", env=_env(fresh_database))

    assert done.returncode == 1
    error = _log(done.stderr)[-1]
    assert error["event"] == "migration failed"
    assert first.filename in error["error"] and "changed" in error["error"]


def test_an_unreachable_warehouse_exits_1_and_says_which_url(fresh_database):
    url = f"http://127.0.0.1:{free_port()}"
    done = run_job("warehouse_migrate",
                   env=_env(fresh_database, RETAIL_WAREHOUSE__URL=url,
                            RETAIL_WAREHOUSE__CONNECT_TIMEOUT_S="2"))

    assert done.returncode == 1
    error = _log(done.stderr)[-1]
    assert error["url"] == url and "cannot reach the warehouse" in error["error"]


def test_a_malformed_setting_exits_2_naming_the_variable(fresh_database):
    done = run_job("warehouse_migrate",
                   env=_env(fresh_database, RETAIL_WAREHOUSE__URL="clickhouse:8123"))

    assert done.returncode == 2
    assert "RETAIL_WAREHOUSE__URL" in done.stderr


def test_a_missing_password_outside_local_mode_exits_2_naming_the_variable(fresh_database):
    env = _env(fresh_database, RETAIL_ENV="prod")
    env.pop("RETAIL_WAREHOUSE__PASSWORD", None)

    done = run_job("warehouse_migrate", env=env)

    assert done.returncode == 2
    assert "RETAIL_WAREHOUSE__PASSWORD is required for env=prod" in done.stderr


def test_arguments_are_refused_with_exit_2(fresh_database):
    done = run_job("warehouse_migrate", "--force", env=_env(fresh_database))

    assert done.returncode == 2
    assert "takes no arguments" in done.stderr
    assert _states(fresh_database) == {"pending"}
