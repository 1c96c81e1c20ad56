"""End to end on the embedded stack, through Airflow (``retail pipeline run``, which is
``dag.test()`` of the real DAG files in local mode, each task the real job file in a
subprocess): a simulated day is closed, checked, featurized and predicted; a day the lake
does not hold fails its ETL after a retry, is alerted, and is never featurized.

One tiny chain (2 stores x 30 SKUs x 15 days, straight into the warehouse and the lake as
the stream would have left them), in a warehouse database of its own, for the module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from retail.io.lake import LakeWriter
from retail.io.warehouse import connect
from retail.settings import LakeSettings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink, backfill
from retail.warehouse.load import AHEAD_DAYS, load_dimensions
from retail.warehouse.migrate import Migrator
from tests.dags.airflow_env import REPO, airflow_python

STORES, PRODUCTS, RATE, SEED, DAYS = 2, 30, 2.0, 7, 15
LAST = date(2026, 11, 15)
START = LAST - timedelta(days=DAYS - 1)
EMPTY = LAST + timedelta(days=3)  # in the calendar, not in the lake (nor its UTC neighbours)


class Notifier(BaseHTTPRequestHandler):
    """A stand-in notifier (a Slack-style incoming webhook): records what it is sent."""

    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"path": self.path, "type": self.headers["Content-Type"],
                              "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def notifier():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Notifier)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/retail", Notifier.received
    server.shutdown()


@pytest.fixture(scope="module")
def chain(warehouse_settings, mlflow_server, notifier, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    ws = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    with connect(ws, database="") as admin:
        Migrator(admin, ws.database, lambda db: connect(ws, db)).migrate()
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=START, days=DAYS))
    with connect(ws) as wh:
        load_dimensions(wh, catalog, START, DAYS + AHEAD_DAYS, seed=SEED)
        backfill(sim, WarehouseSink(wh, catalog, run_id="pipeline-chain",
                                    lake=LakeWriter(LakeSettings(root=str(root / "lake")))))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RETAIL_", "AIRFLOW"))}
    env.update({
        "RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE": ws.database,
        "RETAIL_LAKE__ROOT": str(root / "lake"), "RETAIL_LOCAL__HOME": str(root / "home"),
        "RETAIL_MLFLOW__TRACKING_URI": mlflow_server,
        "RETAIL_MLFLOW__PREFIX": f"pipeline{uuid.uuid4().hex[:6]}",
        "PYSPARK_PYTHON": sys.executable,
        "RETAIL_AIRFLOW__VENV": str(airflow_python().parent.parent),
        # one retry a second later, and a downstream DAG that waits 10 s for its day
        "AIRFLOW_VAR_RETAIL_RETRIES": "1", "AIRFLOW_VAR_RETAIL_RETRY_DELAY_S": "1",
        "AIRFLOW_VAR_RETAIL_WAIT_TIMEOUT_S": "10",
        "AIRFLOW_VAR_RETAIL_ALERT_WEBHOOK": notifier[0]})
    try:
        yield ws, env
    finally:
        with connect(ws, database="") as admin:
            admin.command(f"DROP DATABASE IF EXISTS `{ws.database}` SYNC")


def pipeline(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("retail")), "pipeline", "run",
                           *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=290)


def latest_runs(ws, job: str, day: date) -> list[str]:
    with connect(ws) as wh:
        return [r[0] for r in wh.query_rows(
            "SELECT status FROM job_runs FINAL WHERE job = {job:String} "
            "AND JSONExtractString(details, 'day') = {day:String} ORDER BY updated_at",
            {"job": job, "day": str(day)})]


@pytest.fixture(scope="module")
def good_day(chain):
    ws, env = chain
    return pipeline(env, "daily", "--date", str(LAST))


@pytest.fixture(scope="module")
def bad_day(chain, good_day):
    ws, env = chain
    return pipeline(env, "daily", "--date", str(EMPTY))


def test_a_day_goes_through_etl_checks_features_and_predictions(chain, good_day):
    ws, _ = chain
    assert good_day.returncode == 0, good_day.stdout[-4000:] + good_day.stderr[-4000:]
    assert latest_runs(ws, "daily_etl", LAST)[-1] == "succeeded"
    assert latest_runs(ws, "build_features", LAST)[-1] == "succeeded"
    with connect(ws) as wh:
        features = wh.query_rows("SELECT count() FROM feature_store_daily WHERE date = "
                                 "{d:Date}", {"d": str(LAST)})[0][0]
        checked = wh.query_rows("SELECT count() FROM dq_results WHERE run_id IN (SELECT "
                                "run_id FROM job_runs WHERE job = 'data_quality')")[0][0]
    assert 0 < features <= STORES * PRODUCTS
    assert checked > 0
    for dag in ("etl_close_day", "features_build", "predictions_run"):
        assert dag in good_day.stdout


def test_a_model_without_a_champion_is_skipped_visibly_not_failed(good_day):
    lines = [line for line in good_day.stdout.splitlines() if "predict_daily: skipped" in line]
    assert lines and "exited 3, nothing to do yet" in lines[0], good_day.stdout[-4000:]
    assert "no champion" in lines[0], lines


def test_a_failed_etl_is_retried_then_failed_alerted_and_its_day_never_featurized(
        chain, bad_day, notifier):
    ws, _ = chain
    assert bad_day.returncode != 0, bad_day.stdout[-4000:]
    tries = latest_runs(ws, "daily_etl", EMPTY)
    assert tries.count("failed") == 2, tries  # the first try and its retry
    assert latest_runs(ws, "build_features", EMPTY) == []
    with connect(ws) as wh:
        alerts = wh.query_rows(
            "SELECT concat(JSONExtractString(details, 'dag_id'), '.', "
            "JSONExtractString(details, 'task_id')), details FROM stream_alerts "
            "WHERE alert_type = 'pipeline_task_failed' ORDER BY event_time")
    failed = {product for product, _ in alerts}
    assert "etl_close_day.daily_etl" in failed, alerts
    assert "features_build.wait_daily_etl" in failed, alerts
    assert "predictions_run.wait_build_features" in failed, alerts
    details = json.loads(dict(alerts)["etl_close_day.daily_etl"])
    assert details["try_number"] == 2
    assert "failed" in bad_day.stdout
    # and the notifier heard of it, once per failed task (never of a retried try)
    sent = [(m["body"]["dag_id"], m["body"]["task_id"]) for m in notifier[1]]
    assert sorted(sent) == [("etl_close_day", "daily_etl"), ("features_build", "wait_daily_etl"),
                            ("predictions_run", "wait_build_features")]
    first = notifier[1][0]
    assert first["path"] == "/hooks/retail" and first["type"] == "application/json"
    assert "failed after 2 tries" in first["body"]["text"]
