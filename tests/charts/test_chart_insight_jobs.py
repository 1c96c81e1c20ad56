"""The insight models of issue 19 (anomalies, slow movers, recommendations): one run of a job
for a closed day and a task, named after both, and the anomaly detector's pods without the
object store (its model is no Spark ML one)."""

from __future__ import annotations

import pytest

from tests.k8s.helm import HelmError, render_chart

MLFLOW_ON = {"mlflow": {"enabled": True, "database": {"existingSecret": "mlflow-db"}}}

# (template, values key, component)
INSIGHT_JOBS = [
    ("spark-detect-anomalies.yaml", "detectAnomalies", "detect-anomalies"),
    ("spark-classify-slow-movers.yaml", "classifySlowMovers", "classify-slow-movers"),
    ("spark-train-recommendations.yaml", "trainRecommendations", "train-recommendations")]


def a_run(key: str, **run: str) -> dict:
    return {**MLFLOW_ON, key: {"enabled": True, "date": "2026-11-30", **run}}


def only(template: str, values: dict) -> list[dict]:
    try:
        return render_chart(values, show_only=[f"templates/{template}"])
    except HelmError as err:  # helm's way of saying the template rendered nothing
        if "could not find template" in str(err):
            return []
        raise


def one(template: str, kind: str, values: dict) -> dict:
    (found,) = [o for o in only(template, values) if o["kind"] == kind]
    return found


def refused(values: dict) -> str:
    with pytest.raises(HelmError) as err:
        render_chart(values)
    return str(err.value)


# One task each (the name comes from one helper, insightJobName, for all three).
@pytest.mark.parametrize(("template", "key", "component", "task"), [
    (*INSIGHT_JOBS[0], "train"), (*INSIGHT_JOBS[1], "score"), (*INSIGHT_JOBS[2], "score")],
    ids=[c for *_, c in INSIGHT_JOBS])
def test_a_train_or_score_run_names_its_task_beside_the_day(template, key, component, task):
    app = one(template, "SparkApplication", a_run(key, task=task))
    assert app["metadata"]["name"] == f"retail-platform-{component}-{task}-2026-11-30"
    assert app["spec"]["arguments"] == ["--date", "2026-11-30", "--task", task]


@pytest.mark.parametrize(("key", "task"), [
    ("detectAnomalies", "predict"), ("classifySlowMovers", ""), ("trainRecommendations", "ALL")])
def test_an_unknown_task_is_refused_by_the_schema(key, task):
    message = refused(a_run(key, task=task))
    assert f"/{key}/task" in message and "train" in message


@pytest.mark.parametrize("key", [key for _, key, _ in INSIGHT_JOBS])
def test_a_run_without_its_day_is_refused_with_the_field_named(key):
    message = refused({**MLFLOW_ON, key: {"enabled": True}})
    assert f"{key}.enabled needs the closed day the run is for: {key}.date (YYYY-MM-DD)" \
        in message


def test_the_anomaly_detector_reads_the_warehouse_and_mlflow_without_the_object_store():
    # The Isolation Forest is a scikit-learn folder in the registry, which the MLflow server
    # proxies: no Spark flavor, so neither S3A settings nor the object store's keys.
    spec = one("spark-detect-anomalies.yaml", "SparkApplication",
               a_run("detectAnomalies"))["spec"]
    config = one("configmap-env.yaml", "ConfigMap", MLFLOW_ON)["data"]
    assert "sparkConf" not in spec
    for role in ("driver", "executor"):
        env = {e["name"]: e for e in spec[role]["env"]}
        assert set(env) == {"RETAIL_WAREHOUSE__PASSWORD", "RETAIL_STREAM__SHUFFLE_PARTITIONS"}
        assert env["RETAIL_WAREHOUSE__PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "retail-platform-clickhouse", "key": "etl-writer-password"}
        assert spec[role]["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
    assert config["RETAIL_MLFLOW__TRACKING_URI"] == "http://retail-platform-mlflow.retail.svc:5000"
