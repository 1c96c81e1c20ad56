"""Each switch of values.yaml: turning a component off removes its objects (and only its)."""

from __future__ import annotations

import pytest

from tests.k8s.helm import render_chart


def kinds_and_names(values: dict) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in render_chart(values)}


BASE = kinds_and_names({})

SWITCHES = [
    ({"kafka": {"enabled": False}}, {"Kafka", "KafkaNodePool", "KafkaTopic"}),
    ({"clickhouse": {"enabled": False}},
     {"ClickHouseInstallation", "Service", "Job", "Secret", "NetworkPolicy"}),
    ({"objectStore": {"provider": "external", "existingSecret": "s3",
                      "external": {"endpoint": "https://s3.example.com"}}}, {"Tenant", "Secret"}),
    ({"streamProcessor": {"enabled": False}}, {"SparkApplication"}),
    ({"migrations": {"enabled": False}}, {"Job"}),
    ({"networkPolicies": {"enabled": False}}, {"NetworkPolicy"}),
    ({"rbac": {"create": False}}, {"ServiceAccount", "Role", "RoleBinding"}),
    ({"clickhouse": {"loadBalancer": {"enabled": False}}}, {"Service"}),
]


@pytest.mark.parametrize(("values", "gone"), SWITCHES, ids=lambda v: str(v)[:60])
def test_a_switch_off_removes_its_kinds_and_nothing_else(values, gone):
    left = kinds_and_names(values)
    assert left <= BASE
    assert {kind for kind, _ in BASE - left} == gone


def test_airflow_off_removes_the_pod_launcher_role_only():
    removed = BASE - kinds_and_names({"airflow": {"enabled": False}})
    assert removed == {("Role", "retail-platform-airflow-pod-launcher"),
                       ("RoleBinding", "retail-platform-airflow-pod-launcher"),
                       ("Secret", "retail-platform-airflow-keys")}


def test_operators_only_renders_none_of_the_platforms_objects():
    assert kinds_and_names({"operatorsOnly": True}) == set()


def test_the_simulator_is_off_by_default_and_on_when_asked():
    assert not any(k == "Deployment" for k, _ in BASE)
    added = kinds_and_names({"simulator": {"enabled": True}}) - BASE
    assert added == {("Deployment", "retail-platform-pos-generator")}


@pytest.mark.parametrize(("key", "component"), [("dailyEtl", "daily-etl"),
                                              ("buildFeatures", "build-features")])
def test_a_day_job_is_off_by_default_and_one_application_for_the_day_asked(key, component):
    assert not any(n.startswith(f"retail-platform-{component}") for _, n in BASE)
    added = kinds_and_names({key: {"enabled": True, "date": "2026-11-30"}}) - BASE
    assert added == {("SparkApplication", f"retail-platform-{component}-2026-11-30")}


MLFLOW_ON = {"mlflow": {"enabled": True, "database": {"existingSecret": "mlflow-db"}}}


@pytest.mark.parametrize(("key", "run", "name"), [
    ("trainDemandForecast", {}, "train-demand-forecast"),
    ("predictDaily", {"date": "2026-11-30"}, "predict-daily-2026-11-30"),
    ("optimizeStock", {"date": "2026-11-30"}, "optimize-stock-2026-11-30"),
    ("optimizeStock", {"train": True}, "optimize-stock-train"),
    ("detectAnomalies", {"date": "2026-11-30"}, "detect-anomalies-2026-11-30"),
    ("classifySlowMovers", {"date": "2026-11-30", "task": "train"},
     "classify-slow-movers-train-2026-11-30"),
    ("trainRecommendations", {"date": "2026-11-30", "task": "score"},
     "train-recommendations-score-2026-11-30")], ids=lambda v: str(v)[:30])
def test_a_model_job_is_off_by_default_and_one_application_when_asked(key, run, name):
    with_server = kinds_and_names(MLFLOW_ON)
    assert not any(n.startswith(f"retail-platform-{name}") for _, n in with_server)
    added = kinds_and_names({**MLFLOW_ON, key: {"enabled": True, **run}}) - with_server
    assert added == {("SparkApplication", f"retail-platform-{name}")}


def test_the_data_quality_cronjob_is_off_by_default_and_on_when_asked():
    assert not any(k == "CronJob" for k, _ in BASE)
    added = kinds_and_names({"dataQuality": {"enabled": True}}) - BASE
    assert added == {("CronJob", "retail-platform-data-quality")}


def test_the_forecast_evaluation_is_off_by_default_and_one_job_for_the_day_asked():
    assert not any(k == "Job" and n.startswith("retail-platform-evaluate-forecasts")
                   for k, n in BASE)
    # its network policy is there either way: Airflow's and manifests/ pods are held to it
    assert ("NetworkPolicy", "retail-platform-evaluate-forecasts") in BASE
    added = kinds_and_names({"evaluateForecasts": {"enabled": True, "date": "2026-11-30"}}) - BASE
    assert added == {("Job", "retail-platform-evaluate-forecasts-2026-11-30")}


def test_the_mlflow_server_is_off_by_default_and_on_with_your_database():
    assert not any(n.startswith("retail-platform-mlflow") for _, n in BASE)
    added = kinds_and_names({"mlflow": {"enabled": True,
                                        "database": {"existingSecret": "mlflow-db"}}}) - BASE
    assert added == {("Deployment", "retail-platform-mlflow"),
                     ("Service", "retail-platform-mlflow"),
                     ("NetworkPolicy", "retail-platform-mlflow")}


def test_the_mlflow_server_in_the_dev_database_brings_its_generated_secret():
    dev_db = {"airflowDatabase": {"inCluster": True}}
    added = kinds_and_names({**dev_db, "mlflow": {"enabled": True, "database": {
        "inCluster": True}}}) - kinds_and_names(dev_db)
    assert ("Secret", "retail-platform-mlflow-db") in added


def test_kafka_users_exist_only_with_authentication():
    assert not any(k == "KafkaUser" for k, _ in BASE)
    added = kinds_and_names({"kafka": {"tls": {"enabled": True}, "auth": {"enabled": True}}})
    assert {n for k, n in added if k == "KafkaUser"} == {
        "retail-platform-producer", "retail-platform-stream", "retail-platform-alerts"}


def test_a_keeper_comes_with_replicated_clickhouse_only():
    assert not any(k == "ClickHouseKeeperInstallation" for k, _ in BASE)
    added = kinds_and_names({"clickhouse": {"replicas": 2}}) - BASE
    assert added == {("ClickHouseKeeperInstallation", "retail-platform")}


def test_bringing_your_own_secrets_renders_no_secret():
    objs = kinds_and_names({"airflow": {"enabled": False},
                            "clickhouse": {"auth": {"existingSecret": "ch"}},
                            "objectStore": {"existingSecret": "s3",
                                            "minio": {"existingConfigSecret": "minio"}}})
    assert not any(k == "Secret" for k, _ in objs)
