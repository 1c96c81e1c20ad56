"""The failure path end to end on the embedded stack, through Airflow (``retail pipeline
run``, which is ``dag.test()`` of the real DAG files in local mode, each task the real job
file in a subprocess): a day the lake does not hold fails its ETL after a retry, is
alerted (the warehouse and a stand-in notifier), and is never featurized nor predicted.

The good path, a simulated day closed, checked, featurized and predicted by trained
champions through the same DAGs, is the last step of
``tests/integration/test_forecast_chain.py``, the chain that trains them.

One tiny chain (2 stores x 30 SKUs x 3 days, straight into the warehouse and the lake as
the stream would have left them), in a warehouse database of its own, for the module."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retail.io.lake import LakeWriter
from retail.io.warehouse import connect
from retail.settings import LakeSettings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink, backfill
from retail.warehouse.load import AHEAD_DAYS, load_dimensions
from retail.warehouse.migrate import Migrator
from tests.dags.airflow_env import pipeline, pipeline_env

STORES, PRODUCTS, RATE, SEED, DAYS = 2, 30, 2.0, 7, 3
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
def chain(warehouse_settings, notifier, tmp_path_factory):
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
    env = pipeline_env(
        {"RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE": ws.database,
         "RETAIL_LAKE__ROOT": str(root / "lake"), "RETAIL_LOCAL__HOME": str(root / "home"),
         "PYSPARK_PYTHON": sys.executable},
        # one retry a second later, and a downstream DAG that waits 3 s for its day
        RETRIES="1", RETRY_DELAY_S="1", WAIT_TIMEOUT_S="3", ALERT_WEBHOOK=notifier[0])
    try:
        yield ws, env
    finally:
        with connect(ws, database="") as admin:
            admin.command(f"DROP DATABASE IF EXISTS `{ws.database}` SYNC")


def latest_runs(ws, job: str, day: date) -> list[str]:
    with connect(ws) as wh:
        return [r[0] for r in wh.query_rows(
            "SELECT status FROM job_runs FINAL WHERE job = {job:String} "
            "AND JSONExtractString(details, 'day') = {day:String} ORDER BY updated_at",
            {"job": job, "day": str(day)})]


@pytest.fixture(scope="module")
def bad_day(chain):
    ws, env = chain
    return pipeline(env, "daily", "--date", str(EMPTY))


def test_a_failed_etl_is_retried_then_failed_alerted_and_its_day_never_featurized(
        chain, bad_day, notifier):
    ws, _ = chain
    assert bad_day.returncode != 0, bad_day.stdout[-4000:]
    tries = latest_runs(ws, "daily_etl", EMPTY)
    assert tries.count("failed") == 2, tries  # the first try and its retry
    assert latest_runs(ws, "build_features", EMPTY) == []
    assert latest_runs(ws, "predict_daily", EMPTY) == []
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
