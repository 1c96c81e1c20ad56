"""The closed loop end to end on a tiny chain, as ``retail evaluate business`` runs it: both
arms through the real job code (the warehouse server, Spark, the MLflow registry), the
books of every pair and day balanced, the two arms' customers identical, the platform arm
ordering what was recommended, the results in business_impact and the report written.

Run by ``make bench-business`` (first, before the bench's own run), not ``make test``: on
2 cores it takes 6 to 7 minutes (featurizing the 35 days of warm-up history alone about
3.5, at 5 to 6 s a day of Spark jobs, then the first training and six compared days), more
than the suite's 300-second limit per test. ``python -m pytest --timeout=900
tests/bench/business_loop_check.py`` runs it alone. The parts keep their tests in the
suite: tests/pkg/business (ledger, metrics, oracle, report, accuracy),
tests/integration/test_business_platform_orders.py, tests/pkg/cli/test_evaluate_cli.py."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pyarrow.compute as pc
import pytest

from retail.business.experiment import Experiment
from retail.business.metrics import METRICS
from retail.business.report import write
from retail.io.warehouse import connect
from retail.settings import Settings
from tests.conftest import model_chain_env

pytestmark = pytest.mark.integration

EXP = Experiment(stores=3, products=30, seed=13, rate=4.0, start=date(2026, 3, 2),
                 warmup_weeks=5, compare_weeks=1, feature_days=35)
# few small trees: the loop is under test here; the outcome is make bench's
GRID = {"RETAIL_FORECAST__MAX_ITER": "[8]", "RETAIL_FORECAST__MAX_DEPTH": "[3]",
        "RETAIL_FORECAST__ETS_SERIES": "4", "RETAIL_FORECAST__HISTORY_DAYS": "35"}


@pytest.fixture(scope="module")
def outcome(warehouse_settings, mlflow_server, tmp_path_factory):
    """The whole experiment through ``run_business`` (what ``retail evaluate business``
    runs), its platform arm's database kept for the checks, and the report written."""
    from retail.business.runner import run_business

    root = tmp_path_factory.mktemp("business")
    ws, env = model_chain_env(warehouse_settings, mlflow_server, root, **GRID)
    days, steps = [], []
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            settings = Settings()
            started = time.perf_counter()
            result = run_business(settings, EXP, keep=True, on_step=steps.append,
                                  on_day=lambda day, what: days.append((day, what)))
            print(f"business experiment: {time.perf_counter() - started:.0f} s; jobs "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in
                              result.outcome.jobs.seconds.steps.items()))
            paths = write(result, root / "docs" / "business-impact.md")
            scratch = ws.model_copy(update={"database": result.outcome.jobs.wh.database})
            with connect(ws) as main, connect(scratch) as wh:
                yield result, days, steps, paths, main, wh
    finally:
        with connect(ws, database="") as admin:
            for (name,) in admin.query_rows(
                    "SELECT name FROM system.databases WHERE startsWith(name, {db:String})",
                    {"db": ws.database}):
                admin.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


def test_the_warm_up_trains_the_models_then_every_day_is_simulated_once(outcome):
    result, days, steps, *_ = outcome
    simulated = [(d, w) for d, w in days if w in ("warm-up", "compared")]
    assert [w for _, w in simulated].count("warm-up") == 7 * EXP.warmup_weeks
    assert [d for d, _ in simulated] == [EXP.start + timedelta(days=k) for k in range(EXP.days)]
    assert result.outcome.jobs.trainings[0]["as_of"] == EXP.first_compared - timedelta(days=1)
    assert any(s.startswith("training the demand forecast") for s in steps)


def test_every_day_of_both_arms_balances_and_is_reported(outcome):
    run, days, *_ = outcome
    result = run.outcome
    for arm in (result.baseline, result.platform):
        t = arm.ledger
        assert t.num_rows == 7 * len(set(result.platform.ledger["pair"].to_pylist()))
        books = pc.subtract(pc.add(pc.add(pc.add(t["opening"], t["delivered"]), t["returned"]),
                                   t["adjusted"]),
                            pc.add(pc.add(t["sold"], t["expired"]), t["shrunk"]))
        assert books.equals(t["closing"])
    assert [w for _, w in days].count("compared") == 7
    assert days[-1][0] == EXP.start + timedelta(days=EXP.days - 1)


def test_the_arms_customers_ask_for_the_same_and_only_the_ordering_differs(outcome):
    result = outcome[0].outcome
    b, p = result.baseline.ledger, result.platform.ledger
    assert b["demand_units"].equals(p["demand_units"])
    assert b["pair"].equals(p["pair"]) and b["day"].equals(p["day"])
    # the first compared day opens with the same stock in both arms (the warm-up was shared)
    first = pc.equal(b["day"], EXP.first_compared)
    assert b.filter(first)["opening"].equals(p.filter(first)["opening"])
    assert not b["ordered_units"].equals(p["ordered_units"])
    # and the expectations the oracles read (the baseline arm's, a horizon longer) are the
    # platform arm's
    ahead = result.baseline_expected
    horizon = result.jobs.settings.forecast.horizon_days
    assert ahead.num_rows == result.expected.num_rows * (EXP.days + horizon) // EXP.days
    assert ahead.slice(0, result.expected.num_rows).equals(result.expected)


def test_the_platform_arm_ordered_what_the_jobs_recommended(outcome):
    result, *_, wh = outcome
    result = result.outcome
    for day in (EXP.first_compared, EXP.first_compared + timedelta(days=3)):
        (recommended,), = wh.query_rows(
            "SELECT toInt64(sum(q)) FROM (SELECT argMax(order_qty, created_at) AS q "
            "FROM fact_replenishment FINAL WHERE run_date = {d:Date} "
            "GROUP BY store_id, product_id)", {"d": day - timedelta(days=1)})
        ordered = pc.sum(result.platform.ledger.filter(
            pc.equal(result.platform.ledger["day"], day))["ordered_units"]).as_py()
        assert ordered == recommended
    assert result.jobs.trainings and result.jobs.trainings[0]["as_of"] == (
        EXP.first_compared - timedelta(days=1))
    assert set(result.platform.metrics()) == set(METRICS)


def test_the_results_go_into_business_impact_and_the_report_is_written(outcome):
    result, _, _, paths, main, _ = outcome
    rows = main.query_rows("SELECT arm, metric, value FROM business_impact FINAL "
                           "WHERE run_id = {r:String} ORDER BY arm, metric",
                           {"r": result.run_id})
    want = {(arm, m): v for arm, values in result.metrics.items() for m, v in values.items()}
    assert {(a, m): v for a, m, v in rows} == pytest.approx(want, nan_ok=True)
    assert {m for _, m, _ in rows} == set(METRICS) | {"forecast_wape"}
    (latest,), = main.query_rows("SELECT DISTINCT `Run ID` FROM bi_business_impact "
                                 "WHERE `Latest Run` = 1")
    assert latest == result.run_id
    # the champion's and seasonal naive's WAPE over the compared days closed (the last is
    # not): the week's first six, so horizons 1..6 (made the day before the first)
    acc = result.accuracy
    assert [r["horizon"] for r in acc.rows] == list(range(1, 7))
    assert all(r["n"] > 0 and r["actual"] > 0 for r in acc.rows)
    assert 0 < acc.forecast_wape < 2 and 0 < acc.naive_wape < 2
    doc, *plots = paths
    text = doc.read_text()
    assert result.run_id in text and "| stock-out rate" in text
    for plot in plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5_000
        assert f"img/business-impact/{plot.name}" in text
