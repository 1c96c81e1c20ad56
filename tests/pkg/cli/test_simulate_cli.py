"""`retail simulate`: a bad flag or setting is refused naming it and what it allows, before
anything is generated or sent; a backfill covers days that are over; the lake follows the
local home."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import BadOption
from retail.cli.simulate import first_day, unfinished_day_note
from retail.io.kafka import describe

runner = CliRunner()
SMALL = ["--stores", "2", "--products", "20", "--rate", "5"]  # a run of seconds if accepted


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No RETAIL_ variable from the shell; the local home in the test's directory."""
    for name in list(os.environ):
        if name.startswith("RETAIL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RETAIL_LOCAL__HOME", str(tmp_path / "home"))


@pytest.fixture
def broker_env(fresh_broker, monkeypatch):
    monkeypatch.setenv("RETAIL_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{fresh_broker.port}")
    return fresh_broker


def records_on_the_broker(broker) -> int:
    return sum(t.messages for t in describe(broker.settings))


def one_line(text: str) -> str:
    return " ".join(text.split())


def on_one_utc_day(check):
    """Calls check(today) and again if UTC midnight passed meanwhile: the CLI reads the clock
    itself, and a suite running across midnight must not see two days in one test."""
    for _ in range(2):
        today = datetime.now(UTC).date()
        result = check(today)
        if datetime.now(UTC).date() == today:
            return result
    raise AssertionError("the UTC day changed twice during one test")


ONE_DAY = timedelta(days=1)


@pytest.mark.integration
@pytest.mark.parametrize(("args", "said"), [
    (["--stores", "0", "--products", "0"],
     ["--stores: Input should be greater than or equal to 1, got 0",
      "--products: Input should be greater than or equal to 10, got 0"]),
    (["--products", "9"], ["--products: Input should be greater than or equal to 10, got 9"]),
    (["--stores", "5001"], ["--stores: Input should be less than or equal to 5000"]),
    (["--rate", "0"], ["--rate: Input should be greater than 0, got 0.0"]),
    (["--rate", "-5"], ["--rate: Input should be greater than 0, got -5.0"]),
    (["--seed", "-1"], ["--seed: Input should be greater than or equal to 0, got -1"]),
    (["--start", "2026/12/01"], ["--start must be a date YYYY-MM-DD, got '2026/12/01'"]),
    # dates relative to the day the test runs on: (args, said) from today
    (lambda t: ["--start", str(t + 30 * ONE_DAY)],
     lambda t: [f"--start {t + 30 * ONE_DAY} with --days 1",
                f"The latest start for --days 1 is {t - ONE_DAY}", "--live"]),
    (lambda t: ["--start", str(t)], lambda t: ["not over yet", f"today is {t} UTC"]),
    (lambda t: ["--start", str(t - 2 * ONE_DAY), "--days", "3"],
     lambda t: [f"The latest start for --days 3 is {t - 3 * ONE_DAY}"]),
])
def test_a_bad_flag_is_refused_naming_it_and_nothing_is_sent(broker_env, args, said):
    def check(today):
        given = args(today) if callable(args) else args
        return runner.invoke(app, ["simulate", *SMALL, *given]), \
            said(today) if callable(said) else said

    result, expected = on_one_utc_day(check)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in one_line(result.output)
    assert "catalog:" not in result.output  # refused before the catalog was drawn
    assert records_on_the_broker(broker_env) == 0


@pytest.mark.integration
def test_a_start_date_setting_in_the_future_is_refused_naming_the_variable(broker_env,
                                                                           monkeypatch):
    def check(today):
        monkeypatch.setenv("RETAIL_SIMULATOR__START_DATE", str(today + timedelta(days=1)))
        return runner.invoke(app, ["simulate", *SMALL]), today

    result, today = on_one_utc_day(check)
    assert result.exit_code == 2, result.output
    assert f"RETAIL_SIMULATOR__START_DATE {today + timedelta(days=1)} with --days 1" in \
        one_line(result.output)
    assert records_on_the_broker(broker_env) == 0


@pytest.mark.parametrize(("name", "value"), [("RETAIL_SIMULATOR__START_DATE", "2026/12/01"),
                                             ("RETAIL_SIMULATOR__RATE", "0"),
                                             ("RETAIL_SIMULATOR__STORES", "0")])
def test_a_bad_simulator_setting_names_its_variable_and_writes_nothing(monkeypatch, tmp_path,
                                                                       name, value):
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["simulate", "--sink", "parquet"])
    assert result.exit_code == 2, result.output
    assert name in result.output
    assert not (tmp_path / "home").exists()


def test_a_refused_parquet_backfill_leaves_the_lake_alone(tmp_path):
    result = runner.invoke(app, ["simulate", *SMALL, "--sink", "parquet", "--stores", "0"])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "home").exists()


def test_the_lake_lives_under_the_local_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the old fixed default (.retail/lake) would go
    result = runner.invoke(app, ["simulate", *SMALL, "--sink", "parquet"])
    assert result.exit_code == 0, result.output
    lake = tmp_path / "home" / "lake"
    assert f"lake: {lake}" in one_line(result.output)
    assert (lake / "reference" / "stores.parquet").is_file()
    assert any((lake / "retail-sales-transactions").rglob("*.parquet"))
    assert not (tmp_path / ".retail").exists()


# --- the first day ---------------------------------------------------------------------
DAY = date(2026, 12, 5)


def test_without_a_start_a_backfill_covers_the_days_ending_yesterday():
    assert first_day(None, None, 1, False, DAY) == date(2026, 12, 4)
    assert first_day(None, None, 35, False, DAY) == date(2026, 10, 31)


def test_the_start_date_setting_is_the_default_and_the_flag_wins():
    assert first_day(None, date(2026, 3, 2), 1, False, DAY) == date(2026, 3, 2)
    assert first_day("2026-03-09", date(2026, 3, 2), 1, False, DAY) == date(2026, 3, 9)


def test_the_demo_days_are_accepted():
    """make demo: the day before yesterday through Kafka, the 35 days before it straight in."""
    assert first_day(str(DAY - timedelta(days=2)), None, 1, False, DAY) == date(2026, 12, 3)
    start = DAY - timedelta(days=37)
    assert first_day(str(start), None, 35, False, DAY) == start


def test_a_backfill_ending_today_or_later_is_refused_with_the_latest_start():
    with pytest.raises(BadOption, match="The latest start for --days 7 is 2026-11-28"):
        first_day("2026-11-30", None, 7, False, DAY)


def test_live_runs_from_today_unless_told_otherwise_and_may_start_later():
    assert first_day(None, date(2026, 3, 2), 1, True, DAY) == DAY
    assert first_day("2026-12-24", None, 1, True, DAY) == date(2026, 12, 24)


def test_a_day_still_running_in_the_west_is_noted_until_it_ends_there():
    last = date(2026, 12, 4)
    note = unfinished_day_note([-5, -8], last, datetime(2026, 12, 5, 3, tzinfo=UTC))
    assert note and "2026-12-04 lasts until 2026-12-05 08:00 UTC" in note and "UTC-8" in note
    assert unfinished_day_note([-5, -8], last, datetime(2026, 12, 5, 8, tzinfo=UTC)) is None
    assert unfinished_day_note([-5], last, datetime(2026, 12, 5, 6, tzinfo=UTC)) is None


@pytest.fixture
def warehouse_env(migrated, fresh_database, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    return migrated


def _to_warehouse(*args: str):
    return runner.invoke(app, ["simulate", "--sink", "warehouse", *SMALL, *args])


def _facts(wh) -> tuple:
    return wh.query_rows("SELECT (SELECT count() FROM fact_sales), (SELECT count() FROM "
                         "fact_inventory), (SELECT sum(revenue) FROM agg_sales_daily), "
                         "(SELECT groupArray(name) FROM (SELECT name FROM dim_store FINAL "
                         "ORDER BY store_id))")[0]


@pytest.mark.integration
def test_a_second_simulation_of_days_the_warehouse_holds_is_refused_and_writes_nothing(
        warehouse_env):
    start = datetime.now(UTC).date() - timedelta(days=10)  # old days even after midnight
    first = _to_warehouse("--start", str(start), "--days", "3")
    assert first.exit_code == 0, first.output
    held = _facts(warehouse_env)
    assert held[0] > 0
    again = _to_warehouse("--start", str(start), "--days", "3")  # the same simulation
    assert again.exit_code == 0, again.output
    assert _facts(warehouse_env) == held
    # another seed over a day it shares: a second history of that day would double it
    other = _to_warehouse("--start", str(start + timedelta(days=2)), "--days", "2",
                          "--seed", "99")
    assert other.exit_code == 1, other.output
    said = one_line(other.output)
    assert f"already holds days {start}..{start + timedelta(days=2)}" in said
    assert "retail warehouse reset --yes" in said
    assert _facts(warehouse_env) == held  # not even the dimensions changed
    # ... and after the days it holds, it is welcome
    after = _to_warehouse("--start", str(start + timedelta(days=3)), "--days", "2",
                          "--seed", "99")
    assert after.exit_code == 0, after.output
    assert _facts(warehouse_env)[0] > held[0]
    assert warehouse_env.query_rows(
        "SELECT groupArray(status) FROM job_runs FINAL WHERE job = 'simulate-warehouse'"
    ) == [(["succeeded", "succeeded"],)]
