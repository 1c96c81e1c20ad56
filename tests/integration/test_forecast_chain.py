"""The decision chain end to end on the embedded stack: a small chain simulated into the
local warehouse, its last five weeks closed and featurized, the demand forecast trained with
its backtest and registered on a real MLflow server, the champion's daily predictions, the
lead-time regression and the recommendations; then a deliberately worse model, not
promoted, the champion scored again as it scored when trained; last, the day after the
window, simulated but not yet closed, goes through Airflow as the schedule would run it
(``retail pipeline run daily``: the real DAG files in local mode, each task the real job
file in a subprocess): closed, checked, featurized, predicted and reordered by the
champions, and yesterday's forecasts evaluated against it.

The simulator writes the events straight into the facts (and the lake), so the window is
closed as imported days (`retail batch close-imported`: the end-of-day snapshots the
features read, the daily ETL's last step; reconciling each day with the lake is the daily
ETL job's work, done here on the day after the window, in the pipeline).

Jobs run in this process through their ``main`` (the image's entrypoint) or the CLI, each
step a module fixture, so the chain is built once and each step checked by its test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from retail.io.lake import LakeWriter
from retail.io.warehouse import connect
from retail.ml.registry import TAG, Registry
from retail.settings import LakeSettings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink, backfill
from retail.warehouse.load import AHEAD_DAYS, load_dimensions
from tests.conftest import model_chain_env
from tests.conftest import retail_cli as retail
from tests.dags.airflow_env import pipeline, pipeline_env
from tests.jobs.jobrun import load_job as job

pytestmark = pytest.mark.integration

STORES, PRODUCTS, RATE, SEED = 3, 16, 4.0, 7
# A Sunday (the backtest's origins are Mondays) one to two weeks back, so that the day after
# it, which the pipeline closes and checks, is inside the 42 days of hourly sales the
# warehouse keeps (the data-quality checks read them; older hours are dropped at insert).
TODAY = datetime.now(UTC).date()
LAST = TODAY - timedelta(days=(TODAY.weekday() + 1) % 7 + 7)
DAYS = 49
START = LAST - timedelta(days=DAYS - 1)
NEXT = LAST + timedelta(days=1)  # simulated too, left for the pipeline to close
BUILT_FROM = LAST - timedelta(days=34)  # closed and featurized: the training's window
MIDDLE = BUILT_FROM + timedelta(days=17)  # the features are built in two halves
# Few small trees: the chain's flow is under test here; accuracy is make bench's.
GRID = {"RETAIL_FORECAST__MAX_ITER": "[4]", "RETAIL_FORECAST__MAX_DEPTH": "[3]",
        "RETAIL_FORECAST__ETS_SERIES": "4", "RETAIL_FORECAST__HISTORY_DAYS": "40"}
WORSE = {"RETAIL_FORECAST__MAX_ITER": "[2]", "RETAIL_FORECAST__MAX_DEPTH": "[1]"}


@pytest.fixture(scope="module")
def chain(warehouse_settings, mlflow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("forecast-chain")
    ws, env = model_chain_env(warehouse_settings, mlflow_server, root, **GRID)
    prefix = env["RETAIL_MLFLOW__PREFIX"]
    try:
        with pytest.MonkeyPatch.context() as mp, connect(ws) as wh:
            for key, value in env.items():
                mp.setenv(key, value)
            catalog = generate_catalog(STORES, PRODUCTS, SEED)
            # the calendar and the promotion plan a week past the last day, as the chain
            # publishes them (the predictions' target days)
            load_dimensions(wh, catalog, START, DAYS + 1 + AHEAD_DAYS)
            sink = WarehouseSink(wh, catalog, run_id="forecast-chain",
                                 lake=LakeWriter(LakeSettings(root=str(root / "lake"))))
            sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=START,
                                               days=DAYS + 1))
            backfill(sim, sink)
            yield SimpleNamespace(wh=wh, mp=mp, registry=Registry(mlflow_server, prefix),
                                  env=env)
    finally:
        with connect(ws, database="") as admin:
            admin.command(f"DROP DATABASE IF EXISTS `{ws.database}` SYNC")


@pytest.fixture(scope="module")
def closed(chain):
    """The training window closed by its end-of-day snapshots (the features read the facts'
    history; only the days they are built for need closing)."""
    retail("batch", "close-imported", "--from", str(BUILT_FROM), "--to", str(LAST))
    return chain


@pytest.fixture(scope="module")
def half_featured(closed):
    retail("features", "build", "--from", str(BUILT_FROM), "--to", str(MIDDLE))
    return closed


@pytest.fixture(scope="module")
def featured(half_featured):
    retail("features", "build", "--from", str(MIDDLE + timedelta(days=1)), "--to", str(LAST))
    # the pairs the stores carry (each store carries part of the catalogue)
    half_featured.pairs = count(half_featured.wh, "SELECT count() FROM feature_store_daily "
                                                  "FINAL WHERE date = {d:Date}", d=LAST)
    return half_featured


@pytest.fixture(scope="module")
def trained(featured):
    """The first training, by the job's entrypoint."""
    featured.train_code = job("train_demand_forecast").main(["--as-of", str(LAST)])
    return featured


@pytest.fixture(scope="module")
def predicted(trained):
    trained.predict_code = job("predict_daily").main(["--date", str(LAST)])
    return trained


@pytest.fixture(scope="module")
def stocked(predicted):
    """The lead-time regression trained, and its champion (accepted by hand if the
    promotion rule refused it: a planner may; the rule says why)."""
    predicted.lead_out = retail("stock", "train-lead-time", "--as-of", str(LAST))
    lead = predicted.registry.versions("supplier_lead_time")
    assert len(lead) == 1
    if not lead[0].is_champion:
        retail("models", "promote", "supplier_lead_time", "1", "--reason", "test chain")
    return predicted


@pytest.fixture(scope="module")
def piped(stocked):
    """The day after the window through the daily pipeline, in Airflow (no retry: a failure
    shows at once)."""
    env = pipeline_env(stocked.env, RETRIES="0", WAIT_TIMEOUT_S="10")
    stocked.piped = pipeline(env, "daily", "--date", str(NEXT))
    return stocked


def count(wh, sql: str, **params) -> int:
    return int(wh.query_rows(sql, params)[0][0])


def test_the_window_is_closed_as_imported_days(closed):
    days = (LAST - BUILT_FROM).days + 1
    assert count(closed.wh, "SELECT count() FROM job_runs FINAL WHERE job = "
                            "'close_imported' AND status = 'succeeded'") == days
    assert count(closed.wh, "SELECT count(DISTINCT date_key) FROM fact_inventory FINAL "
                            "WHERE record_type = 'snapshot'") == days


def test_the_first_half_is_featurized(half_featured):
    assert half_featured.wh.query_rows(
        "SELECT count(DISTINCT date) FROM feature_store_daily FINAL")[0][0] == (
        (MIDDLE - BUILT_FROM).days + 1)


def test_the_training_window_is_featurized(featured):
    days = (LAST - BUILT_FROM).days + 1
    assert featured.pairs >= STORES * PRODUCTS // 3
    assert featured.wh.query_rows(
        "SELECT count(DISTINCT date), count() FROM feature_store_daily FINAL")[0] == (
        days, days * featured.pairs)


def test_the_first_training_is_registered_as_champion_with_its_backtest(trained):
    assert trained.train_code == 0
    versions = trained.registry.versions("demand_forecast")
    assert [(v.version, v.is_champion) for v in versions] == [("1", True)]
    run = versions[0]
    assert run.tags[TAG + "decision"] == "promoted"
    assert run.params["origins"] == ",".join(
        str(LAST - timedelta(days=6 + 7 * k)) for k in (3, 2, 1, 0))
    for metric in ("wape", "wape_all", "mae", "bias", "coverage_80", "coverage_95",
                   "wape_to_seasonal_naive", "baseline.seasonal_naive.wape",
                   "baseline.mean_28.wape", "baseline.ets.wape", *(f"wape_h{h}" for h in
                                                                   range(1, 8))):
        assert metric in run.metrics, metric
    # the feature importance of the version, shares of 1, ranked
    rows = trained.wh.query_rows(
        "SELECT count(), sum(importance), min(rank), max(rank) FROM model_feature_importance "
        "FINAL WHERE model = 'demand_forecast' AND model_version = '1'")[0]
    assert rows[0] > 20 and rows[1] == pytest.approx(1.0) and (rows[2], rows[3]) == (1, rows[0])


def test_predict_daily_writes_every_pair_a_week_ahead_with_nested_intervals(predicted):
    wh = predicted.wh
    assert predicted.predict_code == 0
    rows = wh.query_arrow(
        "SELECT store_id, product_id, horizon, date_key, predicted_demand AS f, "
        "confidence_low AS l80, confidence_high AS h80, confidence_low_95 AS l95, "
        "confidence_high_95 AS h95, stock_out_risk_score AS risk, model_version, run_date "
        "FROM fact_ml_predictions FINAL").to_pylist()
    assert len(rows) == predicted.pairs * 7
    assert {(r["model_version"], r["run_date"]) for r in rows} == {("1", LAST)}
    assert {r["horizon"] for r in rows} == set(range(1, 8))
    assert all(int(f"{LAST + timedelta(days=r['horizon']):%Y%m%d}") == r["date_key"]
               for r in rows)
    assert all(0 <= r["l95"] <= r["l80"] <= r["f"] <= r["h80"] <= r["h95"] for r in rows)
    assert all(0 <= r["risk"] <= 1 for r in rows)
    assert sum(r["f"] for r in rows) > 0
    # a re-run of the same run date and version replaces, never adds
    assert job("predict_daily").main(["--date", str(LAST)]) == 0
    assert count(wh, "SELECT count() FROM fact_ml_predictions FINAL") == len(rows)


def test_lead_times_then_recommendations_for_every_pair(stocked):
    predicted = stocked
    wh = predicted.wh
    assert "supplier mean" in predicted.lead_out
    assert job("optimize_stock").main(["--date", str(LAST)]) == 0
    plan = wh.query_arrow("SELECT * FROM fact_replenishment FINAL WHERE date_key = {d:UInt32}",
                          {"d": int(f"{LAST:%Y%m%d}")}).to_pylist()
    assert len(plan) == predicted.pairs
    assert all(r["order_qty"] % max(r["pack_size"], 1) == 0 for r in plan)
    assert all(r["reorder_point"] <= r["order_up_to"] for r in plan)
    assert {r["abc_class"] for r in plan} <= {"A", "B", "C"}
    ordered = {(r["store_id"], r["product_id"]): r["order_qty"] for r in plan}
    on_rows = dict(((s, p), q) for s, p, q in wh.query_rows(
        "SELECT store_id, product_id, recommended_order_qty FROM fact_ml_predictions FINAL "
        "WHERE horizon = 1"))
    assert on_rows == ordered
    assert count(wh, "SELECT sum(recommended_order_qty) FROM fact_ml_predictions FINAL "
                     "WHERE horizon > 1") == 0
    store, product = next(iter(ordered))
    shown = retail("forecast", "show", "--store", store, "--product", product)
    assert f"made on {LAST} by version 1" in shown and "order" in shown


def test_a_deliberately_worse_model_is_refused(predicted):
    for key, value in WORSE.items():
        predicted.mp.setenv(key, value)
    try:
        out = retail("forecast", "train", "--as-of", str(LAST))
    finally:
        for key, value in GRID.items():
            predicted.mp.setenv(key, value)
    assert "not promoted" in out and "does not beat" in out
    worse, first = predicted.registry.versions("demand_forecast")
    assert worse.version == "2" and not worse.is_champion
    assert worse.tags[TAG + "decision"] == "rejected"
    assert float(worse.tags[TAG + "candidate_wape"]) > float(worse.tags[TAG + "champion_wape"])
    assert predicted.registry.champion("demand_forecast").version == "1"
    # the champion scored again on the same origins and data scores what it scored when it
    # was trained: the comparison is like for like (a tie keeping the champion is
    # tests/pkg/ml/test_registry.py's)
    assert float(worse.tags[TAG + "champion_wape"]) == float(first.tags[TAG + "candidate_wape"])


def test_the_next_day_goes_through_the_daily_pipeline_to_predictions_and_reorders(piped):
    """Closed, checked, featurized, predicted by the champion, reordered, and the forecasts
    made for it yesterday evaluated: every job of the day in Airflow, in order."""
    out, wh = piped.piped, piped.wh
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    for dag in ("etl_close_day", "features_build", "predictions_run"):
        assert f"{dag} {NEXT}: success" in out.stdout, out.stdout[-6000:]
    for task in ("daily_etl", "data_quality", "build_features", "predict_daily",
                 "optimize_stock", "evaluate_forecasts"):
        assert f"{NEXT} {task}: success" in out.stdout, (task, out.stdout[-6000:])
    runs = dict(wh.query_rows(
        "SELECT job, argMax(status, updated_at) FROM job_runs FINAL WHERE "
        "JSONExtractString(details, 'day') = {d:String} GROUP BY job", {"d": str(NEXT)}))
    assert {job: runs.get(job) for job in ("daily_etl", "build_features", "predict_daily")} \
        == dict.fromkeys(("daily_etl", "build_features", "predict_daily"), "succeeded"), runs
    pairs = count(wh, "SELECT count() FROM feature_store_daily FINAL WHERE date = {d:Date}",
                  d=NEXT)
    assert pairs >= STORES * PRODUCTS // 3
    made = wh.query_rows(
        "SELECT count(), uniqExact(horizon), any(model_version) FROM fact_ml_predictions "
        "FINAL WHERE run_date = {d:Date}", {"d": NEXT})[0]
    assert made == (pairs * 7, 7, "1")  # by the champion, every pair a week ahead
    assert count(wh, "SELECT count() FROM fact_replenishment FINAL WHERE date_key = "
                     "{k:UInt32}", k=int(f"{NEXT:%Y%m%d}")) == pairs
    # yesterday's forecasts of this day (horizon 1, the champion's) against what it sold
    evaluated = wh.query_rows(
        "SELECT sum(n), min(horizon), max(horizon) FROM model_evaluations FINAL WHERE "
        "model = 'demand_forecast' AND date = {d:Date}", {"d": NEXT})[0]
    assert evaluated[0] > 0 and evaluated[1] == 1, evaluated
    # the models this chain never trained have nothing to score with: skipped, not failed
    skipped = [line for line in out.stdout.splitlines() if "detect_anomalies: skipped" in line]
    assert skipped and "exited 3, nothing to do yet" in skipped[0], out.stdout[-6000:]
    assert "no champion" in skipped[0], skipped
