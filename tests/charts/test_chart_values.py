"""values.schema.json rejects unknown keys and bad values; validateValues explains the
combinations a schema cannot; Airflow's values are checked against its own chart's schema."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.k8s.helm import CHART, HelmError, render_chart

SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def refused(values: dict) -> str:
    with pytest.raises(HelmError) as err:
        render_chart(values)
    return str(err.value)


@pytest.mark.parametrize("values", [
    {"kafak": {"enabled": True}},
    {"kafka": {"replica": 3}},
    {"clickhouse": {"loadBalancer": {"sourceRange": ["10.0.0.0/8"]}}},
    {"streamProcessor": {"driver": {"gpus": 1}}},
    {"dailyEtl": {"schedule": "30 2 * * *"}},
    {"buildFeatures": {"executor": {"gpus": 1}}},
    {"dataQuality": {"args": ["--date", "2026-11-30"]}},
    {"mlflow": {"database": {"url": "postgresql://u:p@db/mlflow"}}},
    {"mlflow": {"password": "x"}},
    {"predictDaily": {"from": "2026-11-01", "to": "2026-11-30"}},
    {"evaluateForecasts": {"referenceFrom": "2026-09-01"}},
    {"evaluateForecasts": {"driver": {"cores": 1}}},
    {"images": {"evaluateForecasts": {"tag": "dev"}}},
    {"detectAnomalies": {"labels": "s3://truth/planted_anomalies.parquet"}},
], ids=["top-level", "nested", "deep", "spark", "daily-etl", "build-features", "data-quality",
        "mlflow-database", "mlflow", "predict-daily-range", "evaluate-forecasts-window",
        "evaluate-forecasts-spark", "evaluate-forecasts-image", "detect-anomalies-labels"])
def test_an_unknown_values_key_is_an_error(values):
    assert "additional properties" in refused(values).lower()


@pytest.mark.parametrize("values", [
    {"objectStore": {"provider": "gcs"}},
    {"kafka": {"replicas": 0}},
    {"platform": {"env": "local"}},
    {"streamProcessor": {"executor": {"memory": "2 GB"}}},
    {"platform": {"extraEnv": {"PATH": "/bin"}}},
    {"dailyEtl": {"enabled": True, "date": "30.11.2026"}},
    {"dailyEtl": {"retries": -1}},
    {"buildFeatures": {"enabled": True, "from": "2026-11-1", "to": "2026-11-30"}},
    {"buildFeatures": {"driver": {"memory": "2Gi"}}},
    {"dataQuality": {"schedule": "every hour"}},
    {"dataQuality": {"schedule": "5 * * *"}},
    {"mlflow": {"enabled": "yes"}},
    {"mlflow": {"workers": 0}},
    {"mlflow": {"allowedHosts": "mlflow.example.com"}},
    {"mlflow": {"allowedHosts": ["mlflow.example.com/ui"]}},
    {"mlflow": {"database": {"port": 0}}},
    {"mlflow": {"database": {"existingSecret": "Mlflow_DB"}}},
    {"mlflow": {"resources": {"limits": {"memory": 2}}}},
    {"images": {"mlflow": {"repository": ""}}},
    {"trainDemandForecast": {"enabled": True, "asOf": "2026/11/30"}},
    {"trainDemandForecast": {"executor": {"memory": "4Gi"}}},
    {"optimizeStock": {"enabled": True, "train": "yes"}},
    {"evaluateForecasts": {"enabled": True, "date": "2026-30-11"}},
    {"evaluateForecasts": {"enabled": "yes", "date": "2026-11-30"}},
    {"evaluateForecasts": {"referenceDays": -1}},
    {"evaluateForecasts": {"referenceDays": "56"}},
    {"evaluateForecasts": {"resources": {"limits": {"memory": 512}}}},
    {"images": {"evaluateForecasts": {"repository": 1}}},
    {"detectAnomalies": {"enabled": True, "date": "2026-11-31x"}},
])
def test_a_bad_value_is_an_error(values):
    refused(values)


def test_airflow_values_are_checked_by_the_airflow_charts_own_schema():
    # Its top level is open, its sections are closed and its fields typed.
    assert "additional properties" in refused(
        {"airflow": {"workers": {"replica": 2}}}).lower()
    assert "executor" in refused({"airflow": {"executor": "Kubernetes"}})


def test_every_schema_object_is_closed_except_the_subcharts():
    open_ = []

    def walk(node, path):
        if node.get("type") == "object" and "properties" in node:
            if node.get("additionalProperties") is not False:
                open_.append(path)
            for key, child in node["properties"].items():
                walk(child, f"{path}.{key}")
    walk(SCHEMA, "")
    assert sorted(open_) == [".airflow", ".clickhouseOperator", ".minioOperator",
                             ".sparkOperator", ".strimzi"]


def test_every_value_is_documented_with_a_param():
    text = (CHART / "values.yaml").read_text()
    documented = {line.split()[2] for line in text.splitlines()
                  if line.strip().startswith("## @param")}

    def leaves(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and path not in documented:
                yield from leaves(value, f"{path}.")
            else:
                yield path
    missing = [p for p in leaves(yaml.safe_load(text)) if p not in documented]
    assert missing == []


@pytest.mark.parametrize(("values", "message"), [
    ({"kafka": {"auth": {"enabled": True}}}, "kafka.auth.enabled needs kafka.tls.enabled"),
    ({"kafka": {"topicReplicas": 3}}, "kafka.topicReplicas (3) cannot exceed"),
    ({"clickhouse": {"tls": {"enabled": True}}}, "clickhouse.tls.secretName"),
    ({"clickhouse": {"replicas": 2, "keeper": {"replicas": 1}}}, "keeper.replicas >= 3"),
    ({"objectStore": {"provider": "external"}}, "objectStore.external.endpoint"),
    ({"objectStore": {"provider": "external"}}, "objectStore.existingSecret"),
    ({"sparkOperator": {"enabled": True, "spark": {"jobNamespaces": ["default"]}}},
     'must include the release namespace "retail"'),
    ({"airflow": {"enabled": True, "postgresql": {"enabled": True}}}, "Bitnami PostgreSQL"),
    ({"dailyEtl": {"enabled": True}}, "dailyEtl.enabled needs the day to close"),
    ({"dailyEtl": {"enabled": True, "from": "2026-11-01"}}, "dailyEtl.enabled needs the day"),
    ({"dailyEtl": {"enabled": True, "date": "2026-11-30", "to": "2026-11-30"}},
     "dailyEtl.date, or dailyEtl.from and dailyEtl.to, not both"),
    ({"dailyEtl": {"enabled": True, "from": "2026-11-30", "to": "2026-11-01"}},
     "dailyEtl.to (2026-11-01) is before dailyEtl.from (2026-11-30)"),
    ({"buildFeatures": {"enabled": True}}, "buildFeatures.enabled needs the day to build: "
     "buildFeatures.date, or buildFeatures.from and buildFeatures.to (YYYY-MM-DD)"),
    ({"buildFeatures": {"enabled": True, "date": "2026-11-30", "from": "2026-11-01"}},
     "buildFeatures.date, or buildFeatures.from and buildFeatures.to, not both"),
    ({"buildFeatures": {"enabled": True, "from": "2026-11-30", "to": "2026-11-01"}},
     "buildFeatures.to (2026-11-01) is before buildFeatures.from (2026-11-30)"),
    ({"mlflow": {"enabled": True}}, "mlflow.enabled needs a PostgreSQL: "
     "mlflow.database.existingSecret (a Secret with key connection"),
    ({"mlflow": {"enabled": True, "database": {"inCluster": True}}},
     "mlflow.database.inCluster shares the PostgreSQL of airflowDatabase.inCluster"),
    ({"mlflow": {"enabled": True, "database": {"inCluster": True}},
      "airflowDatabase": {"inCluster": True}, "airflow": {"enabled": False}},
     "turn on airflowDatabase.inCluster (with airflow.enabled)"),
    ({"mlflow": {"enabled": True, "database": {"inCluster": True, "existingSecret": "db"}},
      "airflowDatabase": {"inCluster": True}},
     "give mlflow.database.existingSecret or mlflow.database.inCluster, not both"),
    ({"trainDemandForecast": {"enabled": True}}, "trainDemandForecast.enabled needs "
     "mlflow.enabled: the job loads or registers its model on the chart's MLflow server"),
    ({"predictDaily": {"enabled": True, "date": "2026-11-30"}},
     "predictDaily.enabled needs mlflow.enabled"),
    ({"optimizeStock": {"enabled": True, "train": True}}, "optimizeStock.enabled needs mlflow"),
    ({"predictDaily": {"enabled": True}},
     "predictDaily.enabled needs the day to predict from: predictDaily.date (YYYY-MM-DD)"),
    ({"optimizeStock": {"enabled": True}}, "optimizeStock.enabled needs optimizeStock.date "
     "(YYYY-MM-DD, the day's recommendations) or optimizeStock.train: true"),
    ({"optimizeStock": {"enabled": True, "date": "2026-11-30", "train": True}},
     "give optimizeStock.date (the day's recommendations) or optimizeStock.train"),
    ({"evaluateForecasts": {"enabled": True}}, "evaluateForecasts.enabled needs the day to "
     "evaluate: evaluateForecasts.date (YYYY-MM-DD, a day the feature build has closed)"),
    ({"evaluateForecasts": {"enabled": True, "date": "2026-11-30"},
      "clickhouse": {"enabled": False}}, "evaluateForecasts.enabled needs clickhouse.enabled"),
    ({"evaluateForecasts": {"enabled": True, "date": "2026-11-30", "referenceDays": 3}},
     "evaluateForecasts.referenceDays (3) must be 0 (the job's default, 56) or at least 7"),
    ({"classifySlowMovers": {"enabled": True, "date": "2026-11-30"}},
     "classifySlowMovers.enabled needs mlflow.enabled"),
    ({"trainRecommendations": {"enabled": True, "date": "2026-11-30"},
      "streamProcessor": {"enabled": False},
      "sparkOperator": {"enabled": True, "spark": {"jobNamespaces": []}}},
     'must include the release namespace "retail"'),
    ({"optimizeStock": {"enabled": True, "train": True}, "streamProcessor": {"enabled": False},
      "sparkOperator": {"enabled": True, "spark": {"jobNamespaces": []}}},
     'must include the release namespace "retail"'),
    ({"buildFeatures": {"enabled": True, "date": "2026-11-30"}, "streamProcessor": {
        "enabled": False}, "sparkOperator": {"enabled": True, "spark": {"jobNamespaces": []}}},
     'must include the release namespace "retail"'),
])
def test_validate_values_names_the_field_and_what_to_do(values, message):
    assert message in refused(values)


def test_all_mistakes_are_reported_at_once():
    text = refused({"kafka": {"auth": {"enabled": True}, "topicReplicas": 2},
                    "objectStore": {"provider": "external"}})
    assert text.count("\n  - ") == 4
