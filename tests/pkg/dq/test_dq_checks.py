"""The declared checks and the runner's logic, without a warehouse: names, coverage of the
topics and tables, the parameters each statement uses, statuses, windows, alerts, the
deployment files and the docs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from retail.contracts.topics import DEAD_LETTER_TOPIC, topics
from retail.dq import CHECKS, Check, Result, Run, Window
from retail.dq.checks import CATEGORIES, DAILY_TABLES, FACT_TABLES, select_checks
from retail.dq.runner import alert_rows, evaluate
from retail.dq.sql import RUN_PARAMETERS
from retail.io.warehouse import WarehouseError
from tests.images.dockerfile import parse

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")
INPUT_TOPICS = {t.name for t in topics()} - {DEAD_LETTER_TOPIC, "retail-restock-alerts"}


def _names(prefix: str) -> set[str]:
    return {c.target for c in CHECKS if c.name.startswith(prefix)}


# --- the declared list ----------------------------------------------------------------------
def test_check_names_are_unique_and_start_with_their_category():
    assert len({c.name for c in CHECKS}) == len(CHECKS)
    assert all(c.category in CATEGORIES and c.name.startswith(c.category + ".")
               for c in CHECKS)
    assert all(c.severity in ("warn", "error") and c.threshold >= 0 and c.meaning
               for c in CHECKS)


def test_every_topic_the_stream_reads_has_a_freshness_and_a_quarantine_check():
    assert _names("freshness.topic.") == INPUT_TOPICS
    assert _names("validity.quarantine_share.") == INPUT_TOPICS


def test_every_fact_and_daily_table_is_checked():
    assert _names("freshness.table.") == set(FACT_TABLES)
    assert _names("validity.duplicates.") == set(FACT_TABLES)
    assert _names("completeness.days.") == set(DAILY_TABLES)


def test_every_category_of_the_issue_has_a_check():
    assert {c.category for c in CHECKS} == set(CATEGORIES)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.name)
def test_a_checks_sql_uses_only_query_parameters_it_is_given_and_uses_all_of_its_own(check):
    used = PLACEHOLDER.findall(check.sql)
    names = {name for name, _ in used}

    assert names <= set(RUN_PARAMETERS) | set(check.params), names - set(RUN_PARAMETERS)
    assert set(check.params) <= names
    assert all(RUN_PARAMETERS[name] == kind for name, kind in used if name in RUN_PARAMETERS)
    # Nothing is formatted into the text: no leftover Python or printf placeholders.
    assert not re.search(r"%s|\{\}|\{\{", check.sql)


# --- statuses --------------------------------------------------------------------------------
def _check(severity="error", threshold=0.0, when_nothing="pass") -> Check:
    return Check("consistency.x", "consistency", "t", severity, threshold, "rows", "SELECT 1",
                 "m", when_nothing=when_nothing)


@pytest.mark.parametrize("severity, threshold, observed, when_nothing, status", [
    ("error", 0, 0.0, "pass", "pass"),
    ("error", 0, 1.0, "pass", "fail"),
    ("warn", 0, 1.0, "pass", "warn"),
    ("error", 900, 900.0, "pass", "pass"),
    ("error", 900, 900.5, "pass", "fail"),
    ("error", 0, None, "pass", "pass"),
    ("error", 0, None, "finding", "fail"),
    ("warn", 0, None, "finding", "warn"),
])
def test_an_observed_value_above_the_threshold_is_a_finding_of_the_checks_severity(
        severity, threshold, observed, when_nothing, status):
    assert _check(severity, threshold, when_nothing).status(observed) == status


class _Refusing:
    def query_rows(self, sql, parameters=None):
        raise WarehouseError("Code: 60. DB::Exception: Unknown table dq_nowhere\nmore", 60)


@pytest.mark.parametrize("severity, status", [("error", "fail"), ("warn", "warn")])
def test_a_query_the_warehouse_refuses_is_a_finding_that_quotes_the_error(severity, status):
    result = evaluate(_Refusing(), _check(severity), {})

    assert (result.status, result.observed) == (status, None)
    assert result.details == "query failed: Code: 60. DB::Exception: Unknown table dq_nowhere"


def test_checks_are_selected_by_glob_and_an_unknown_pattern_names_the_checks():
    assert {c.category for c in select_checks(["freshness.*"])} == {"freshness"}
    assert select_checks(None) == list(CHECKS)
    with pytest.raises(ValueError, match=r"--check nope\* matches no check; the checks are: "
                                         r"freshness\.topic\.retail-sales-transactions, "):
        select_checks(["stream.lag", "nope*"])


# --- windows --------------------------------------------------------------------------------
def test_the_hourly_window_ends_at_the_last_complete_hour():
    w = Window.hourly(datetime(2026, 3, 11, 18, 42, 7, tzinfo=UTC), 24, 7)

    assert (w.start, w.end) == (datetime(2026, 3, 10, 18, tzinfo=UTC),
                                datetime(2026, 3, 11, 18, tzinfo=UTC))
    assert (w.day_from, w.day_to) == (date(2026, 3, 4), date(2026, 3, 12))


def test_a_days_window_covers_the_day_in_every_time_zone_but_not_the_future():
    day = date(2026, 3, 9)

    w = Window.day(day, datetime(2026, 3, 11, 18, 42, tzinfo=UTC))
    assert (w.start, w.end) == (datetime(2026, 3, 8, 10, tzinfo=UTC),
                                datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert (w.day_from, w.day_to) == (day, day)
    early = Window.day(day, datetime(2026, 3, 10, 3, 30, tzinfo=UTC))
    assert early.end == datetime(2026, 3, 10, 3, tzinfo=UTC)


def test_time_zones_become_standard_offsets_in_seconds_daylight_saving_ignored():
    summer = Window.hourly(datetime(2026, 7, 1, 12, tzinfo=UTC), 24, 7)

    p = summer.parameters(["America/New_York", "America/Los_Angeles", "America/New_York"])

    assert p["tz_names"] == ["America/Los_Angeles", "America/New_York"]
    assert p["tz_offsets"] == [-8 * 3600, -5 * 3600]
    assert (p["now"], p["end"], p["day_to"]) == ("2026-07-01 12:00:00.000",
                                                 "2026-07-01 12:00:00.000", 20260702)


# --- alerts ---------------------------------------------------------------------------------
def _run(*statuses: tuple[str, str]) -> Run:
    at = datetime(2026, 3, 11, 18, 5, tzinfo=UTC)
    run = Run("dq-1", Window.hourly(at, 24, 7))
    for i, (severity, status) in enumerate(statuses):
        check = Check(f"consistency.c{i}", "consistency", "t", severity, 0, "rows", "", "m")
        run.results.append(Result(check, status, 3.0, "S00001 ...", at, 5))
    return run


def test_only_failing_error_checks_become_alerts_with_ids_stable_per_run_and_check():
    run = _run(("error", "fail"), ("warn", "warn"), ("error", "pass"), ("error", "fail"))

    rows = alert_rows(run).to_pylist()

    assert [r["details"].split('"check": "')[1].split('"')[0] for r in rows] == [
        "consistency.c0", "consistency.c3"]
    assert {(r["alert_type"], r["severity"], r["metric_value"]) for r in rows} == {
        ("data_quality", "high", 3.0)}
    assert [r["alert_id"] for r in rows] == [r["alert_id"] for r in alert_rows(run).to_pylist()]
    assert len({r["alert_id"] for r in rows}) == 2
    assert run.counts() == {"pass": 1, "warn": 1, "fail": 2}


# --- deployment and docs --------------------------------------------------------------------
def test_the_cronjob_runs_the_jobs_image_hourly_as_its_non_root_user():
    cron = yaml.safe_load((ROOT / "manifests/cronjob-data-quality.yaml").read_text())
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    app_version = yaml.safe_load((ROOT / "charts/retail-platform/Chart.yaml").read_text())[
        "appVersion"]
    final = parse((ROOT / "images/data_quality/Dockerfile").read_text()).stages[-1]
    uid = int([i.args for i in final.instructions if i.keyword == "USER"][-1].split(":")[0])

    assert cron["spec"]["schedule"].split()[1:] == ["*", "*", "*", "*"]
    assert container["image"] == f"ghcr.io/retail-platform/data-quality:{app_version}"
    assert pod["securityContext"]["runAsUser"] == container["securityContext"]["runAsUser"] == uid
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {e["name"] for e in container["env"]} >= {"RETAIL_WAREHOUSE__PASSWORD"}


def test_the_docs_list_every_check_with_its_threshold():
    doc = (ROOT / "docs/data-quality.md").read_text()

    missing = [c.name for c in CHECKS if f"`{c.name}`" not in doc]
    assert missing == []
