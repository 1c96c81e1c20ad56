"""The ``bi.*`` checks (the ``bi_prepare`` DAG runs ``data_quality --check 'bi.*'`` every 15
minutes): one per ``bi_`` view, timing a bounded query against the budget setting. Without a
warehouse: the declared list, the selection, the budget's way from the setting to the
threshold, the timing. On the real local warehouse server: every view the migrations create
has its check, each answers within the default budget, a budget of 0 ms fails, records and
alerts them all, a view the warehouse refuses fails its own check only, and the job exits
by them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from retail.dq import CHECKS, run_checks
from retail.dq.checks import BI_BUDGET_MS, BI_VIEWS, select_checks
from retail.dq.runner import budgeted, evaluate, execute, window_for
from retail.settings import DqSettings
from tests.jobs.jobrun import job_env, run_job
from tests.pkg.dq.dq_dataset import NOW, dataset, load

VIEWS = {view for view, _, _ in BI_VIEWS}
BI = [c for c in CHECKS if c.category == "bi"]


# --- the declared list and the selection ------------------------------------------------
def test_every_declared_bi_view_has_one_latency_check_of_severity_error():
    assert sorted(c.name for c in BI) == sorted(f"bi.latency.{v}" for v in VIEWS)
    assert len(BI_VIEWS) == len(VIEWS) == 21
    assert {(c.target, c.params["view"]) for c in BI} == {(v, v) for v in VIEWS}
    assert {(c.measure, c.unit, c.severity, c.threshold) for c in BI} == {
        ("latency", "ms", "error", BI_BUDGET_MS)}
    assert all(c.measure == "value" for c in CHECKS if c.category != "bi")


def test_bi_star_selects_exactly_the_bi_checks_and_the_default_run_has_them_too():
    assert select_checks(["bi.*"]) == BI
    default = [c.name for c in select_checks(None)]
    assert set(c.name for c in BI) < set(default)
    assert not [c for c in select_checks(["freshness.*", "stream.*"]) if c.category == "bi"]


# --- the budget: a setting, the threshold the run judges by --------------------------------
def test_the_budget_setting_becomes_the_threshold_of_the_bi_checks_only():
    assert DqSettings().bi_budget_ms == BI_BUDGET_MS == 2000
    window = window_for(DqSettings(bi_budget_ms=150), as_of=datetime(2026, 3, 11, tzinfo=UTC))
    other = next(c for c in CHECKS if c.name == "stream.lag")

    assert window.bi_budget_ms == 150
    assert budgeted(BI[0], window.bi_budget_ms).threshold == 150
    assert budgeted(BI[0], None) is BI[0]
    assert budgeted(other, 150) is other


class _Slow:
    """Answers a count of 12 rows after ``delay_s``."""

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def query_rows(self, sql, parameters=None):
        time.sleep(self.delay_s)
        return [(12.0, "rows of the last day and after")]


@pytest.mark.parametrize("budget_ms, status", [(1000, "pass"), (20, "fail")])
def test_the_observed_value_is_the_milliseconds_the_query_took(budget_ms, status):
    result = evaluate(_Slow(0.06), budgeted(BI[0], budget_ms), {})

    assert result.status == status
    assert 60 <= result.observed < 1000
    assert result.details.startswith("12 rows of the last day and after in ")
    assert result.details.endswith(f" ms (budget {budget_ms:,} ms)")


# --- on the real local warehouse server ----------------------------------------------------

@pytest.mark.integration
@pytest.mark.clickhouse_server
def test_every_bi_view_the_migrations_create_has_a_check_and_no_check_names_another(migrated):
    found = migrated.query_rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine = 'View' AND startsWith(name, 'bi_')")

    assert {r[0] for r in found} == VIEWS


@pytest.mark.integration
@pytest.mark.clickhouse_server
def test_on_a_loaded_warehouse_every_bi_view_answers_within_the_default_budget(migrated):
    load(migrated, dataset())

    run = run_checks(migrated, window_for(DqSettings(), as_of=NOW), select_checks(["bi.*"]))

    assert {r.check.name: (r.status, r.details) for r in run.results if r.status != "pass"} \
        == {}
    by_view = {r.check.target: r for r in run.results}
    assert len(by_view) == 21 and all(0 < r.observed <= 2000 for r in run.results)
    assert all(r.check.threshold == 2000 for r in run.results)
    # the bounded queries read rows: the dataset's sales of the last day, its 3 stores
    assert int(by_view["bi_fact_sales"].details.split()[0].replace(",", "")) > 0
    assert by_view["bi_dim_store"].details.startswith("3 rows in ")


@pytest.mark.integration
@pytest.mark.clickhouse_server
def test_a_budget_of_0_ms_fails_every_bi_check_records_and_alerts_each(migrated):
    load(migrated, dataset())

    run, alerts = execute(migrated, window_for(DqSettings(bi_budget_ms=0), as_of=NOW),
                          select_checks(["bi.*"]))

    assert [r.check.name for r in run.failed] == [c.name for c in BI]
    assert alerts == 21
    assert migrated.query_rows(
        "SELECT count(), countIf(status = 'fail'), max(threshold), min(observed) > 0 "
        "FROM dq_results WHERE run_id = {r:String}", {"r": run.run_id}) == [(21, 21, 0.0, 1)]
    alerted = migrated.query_rows("SELECT threshold, details FROM stream_alerts "
                                  "WHERE alert_type = 'data_quality'")
    assert sorted(json.loads(d)["check"] for _, d in alerted) == sorted(c.name for c in BI)
    assert {(t, json.loads(d)["unit"]) for t, d in alerted} == {(0.0, "ms")}
    assert migrated.query_rows("SELECT status FROM job_runs FINAL WHERE job = 'data_quality'"
                               ) == [("failed",)]


@pytest.mark.integration
@pytest.mark.clickhouse_server
def test_a_view_the_warehouse_refuses_fails_its_own_check_only(migrated):
    migrated.command("DROP TABLE model_drift SYNC")

    run = run_checks(migrated, window_for(DqSettings(), as_of=NOW), select_checks(["bi.*"]))

    failed = {r.check.name: r for r in run.results if r.status != "pass"}
    assert list(failed) == ["bi.latency.bi_model_drift"]
    assert failed["bi.latency.bi_model_drift"].observed is None
    assert failed["bi.latency.bi_model_drift"].details.startswith("query failed: ")


@pytest.mark.integration
@pytest.mark.clickhouse_server
def test_the_job_with_check_bi_exits_0_within_budget_and_1_over_it(migrated, fresh_database):
    load(migrated, dataset())
    env = {"RETAIL_WAREHOUSE__URL": fresh_database.url,
           "RETAIL_WAREHOUSE__DATABASE": fresh_database.database, "RETAIL_LOG__FORMAT": "json"}

    within = run_job("data_quality", "--check", "bi.*", "--as-of", NOW.isoformat(),
                     env=job_env(**env))
    over = run_job("data_quality", "--check", "bi.*", "--as-of", NOW.isoformat(),
                   env=job_env(**env, RETAIL_DQ__BI_BUDGET_MS="0"))

    assert within.returncode == 0, within.stderr
    assert over.returncode == 1, over.stderr
    logged = [json.loads(line) for line in over.stderr.splitlines() if line.startswith("{")]
    assert sorted(e["check"] for e in logged if e["event"] == "fail") == sorted(
        c.name for c in BI)
    assert {e["threshold"] for e in logged if e["event"] == "fail"} == {0}
    assert logged[-1]["fail"] == 21 and logged[-1]["alerts"] == 21
    assert migrated.query_rows("SELECT uniqExact(check_name) FROM dq_results") == [(21,)]
