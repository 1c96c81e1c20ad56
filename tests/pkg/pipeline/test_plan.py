"""Which DAG runs for which business day, at which logical date (retail.pipeline.plan)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from retail.pipeline.plan import CHAINS, DAGS, plan, yesterday

DAGS_FOLDER = Path(__file__).resolve().parents[3] / "dags"


def test_a_daily_business_day_runs_the_next_day_at_each_dags_cron_time():
    runs = plan("daily", [date(2026, 12, 1)], scheduled_only=False)
    assert [(r.dag.dag_id, r.logical_date) for r in runs] == [
        ("etl_close_day", datetime(2026, 12, 2, 8, tzinfo=UTC)),
        ("features_build", datetime(2026, 12, 2, 9, tzinfo=UTC)),
        ("predictions_run", datetime(2026, 12, 2, 10, tzinfo=UTC)),
    ]


def test_a_range_runs_each_day_its_whole_chain_before_the_next_day():
    runs = plan("daily", [date(2026, 12, 31), date(2027, 1, 1)], scheduled_only=True)
    assert [(r.dag.dag_id, r.day, r.logical_date.date()) for r in runs] == [
        ("etl_close_day", date(2026, 12, 31), date(2027, 1, 1)),
        ("features_build", date(2026, 12, 31), date(2027, 1, 1)),
        ("predictions_run", date(2026, 12, 31), date(2027, 1, 1)),
        ("etl_close_day", date(2027, 1, 1), date(2027, 1, 2)),
        ("features_build", date(2027, 1, 1), date(2027, 1, 2)),
        ("predictions_run", date(2027, 1, 1), date(2027, 1, 2)),
    ]


def test_models_train_trains_as_of_the_day_two_days_before_its_run_at_two():
    (run,) = plan("weekly", [date(2026, 12, 4)], scheduled_only=False)  # a Friday
    assert run.dag.dag_id == "models_train"
    assert run.logical_date == datetime(2026, 12, 6, 2, tzinfo=UTC)  # the Sunday after
    assert run.logical_date.weekday() == 6


def test_one_day_named_runs_the_weekly_dag_for_any_weekday():
    (run,) = plan("weekly", [date(2026, 12, 2)], scheduled_only=False)  # a Wednesday
    assert run.logical_date == datetime(2026, 12, 4, 2, tzinfo=UTC)


def test_a_backfill_runs_the_weekly_dag_only_for_the_fridays_its_schedule_closes():
    days = [date(2026, 11, 23) + timedelta(days=i) for i in range(14)]  # Mon 23 Nov..Sun 6 Dec
    runs = plan("weekly", days, scheduled_only=True)
    assert [r.day for r in runs] == [date(2026, 11, 27), date(2026, 12, 4)]
    assert all(r.logical_date.weekday() == 6 and r.logical_date.hour == 2 for r in runs)


def test_a_backfill_without_a_friday_says_when_the_weekly_dag_runs():
    with pytest.raises(ValueError, match=r"no weekly run falls on 2026-11-30\.\.2026-12-02: "
                       r"models_train \(Sundays at 02:00 UTC, closing the day 2 day\(s\) "
                       r"before\); name a single day with --date"):
        plan("weekly", [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)],
             scheduled_only=True)


def test_predictions_alone_and_an_unknown_pipeline():
    (run,) = plan("predictions", [date(2026, 2, 28)], scheduled_only=False)
    assert (run.dag.dag_id, run.logical_date) == \
        ("predictions_run", datetime(2026, 3, 1, 10, tzinfo=UTC))
    with pytest.raises(ValueError, match="unknown pipeline 'hourly': one of daily, weekly, "
                       "predictions"):
        plan("hourly", [date(2026, 2, 28)], scheduled_only=False)


def test_yesterday_is_the_utc_day_before_now():
    assert yesterday(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == date(2025, 12, 31)


@pytest.mark.parametrize("dag_id", sorted({d for chain in CHAINS.values() for d in chain}))
def test_each_dags_cron_is_the_one_in_its_dag_file(dag_id):
    source = DAGS_FOLDER / f"{dag_id}.py"
    if not source.exists():
        pytest.fail(f"{source} is missing: the pipeline runs the DAGs of dags/")
    crons = re.findall(r"[\"'](\S+ \S+ \S+ \S+ \S+)[\"']", source.read_text())
    assert DAGS[dag_id].cron in crons, f"{source} schedules {crons}, the runner assumes " \
        f"{DAGS[dag_id].cron!r}"
