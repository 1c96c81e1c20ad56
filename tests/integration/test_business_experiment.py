"""The closed loop end to end on a tiny chain: both arms through the real job code (the
warehouse server, Spark, the MLflow registry), the books of every pair and day balanced,
the two arms' customers identical, and the platform arm ordering what was recommended."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pyarrow.compute as pc
import pytest

from retail.business.experiment import Experiment, ExperimentRun
from retail.business.metrics import METRICS
from retail.business.platform_arm import PlatformJobs
from retail.io.warehouse import connect
from retail.ml.registry import Registry
from retail.settings import Settings
from tests.conftest import model_chain_env

pytestmark = pytest.mark.integration

EXP = Experiment(stores=3, products=30, seed=13, rate=4.0, start=date(2026, 3, 2),
                 warmup_weeks=5, compare_weeks=1, feature_days=35)
# few small trees: the loop is under test here; the outcome is make bench's
GRID = {"RETAIL_FORECAST__MAX_ITER": "[8]", "RETAIL_FORECAST__MAX_DEPTH": "[3]",
        "RETAIL_FORECAST__ETS_SERIES": "4", "RETAIL_FORECAST__HISTORY_DAYS": "35"}


@pytest.fixture(scope="module")
def warmed(warehouse_settings, mlflow_server, tmp_path_factory):
    """The warm-up, the history closed and featurized, the first trainings (the first
    test's set-up); the compared days are :func:`outcome`'s."""
    from retail.streaming.job import spark_session

    ws, env = model_chain_env(warehouse_settings, mlflow_server,
                              tmp_path_factory.mktemp("business"), **GRID)
    days = []
    try:
        with pytest.MonkeyPatch.context() as mp, connect(ws) as wh:
            for key, value in env.items():
                mp.setenv(key, value)
            settings = Settings()
            spark = spark_session(settings, "retail-business-test")
            jobs = PlatformJobs(spark, settings, wh, Registry.from_settings(settings))
            steps = ExperimentRun(EXP, jobs, on_day=lambda day, what: days.append((day, what)))
            started = time.perf_counter()
            steps.warm_up()
            print(f"business warm-up: {time.perf_counter() - started:.0f} s")
            yield steps, days
    finally:
        with connect(ws, database="") as admin:
            admin.command(f"DROP DATABASE IF EXISTS `{ws.database}` SYNC")


@pytest.fixture(scope="module")
def outcome(warmed):
    steps, days = warmed
    started = time.perf_counter()
    result = steps.compare()
    print(f"business compared days: {time.perf_counter() - started:.0f} s; jobs "
          + ", ".join(f"{k} {v:.0f} s" for k, v in steps.jobs.seconds.steps.items()))
    return result, days


def test_the_warm_up_trains_the_models_and_recommends_for_the_first_compared_day(warmed):
    steps, days = warmed
    assert [w for _, w in days].count("warm-up") == 7 * EXP.warmup_weeks
    assert steps.jobs.trainings[0]["as_of"] == EXP.first_compared - timedelta(days=1)
    assert steps.orders.run_date == EXP.first_compared - timedelta(days=1)
    assert not steps.platform.ledgers and not steps.baseline.ledgers


def test_every_day_of_both_arms_balances_and_is_reported(outcome):
    result, days = outcome
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
    result, _ = outcome
    b, p = result.baseline.ledger, result.platform.ledger
    assert b["demand_units"].equals(p["demand_units"])
    assert b["pair"].equals(p["pair"]) and b["day"].equals(p["day"])
    # the first compared day opens with the same stock in both arms (the warm-up was shared)
    first = pc.equal(b["day"], EXP.first_compared)
    assert b.filter(first)["opening"].equals(p.filter(first)["opening"])
    assert not b["ordered_units"].equals(p["ordered_units"])


def test_the_platform_arm_ordered_what_the_jobs_recommended(outcome):
    result, _ = outcome
    wh = result.jobs.wh
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
