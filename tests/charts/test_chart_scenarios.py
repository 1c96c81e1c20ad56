"""Every install scenario: what it creates, that helm lints it strictly, and that every
object it renders is valid against Kubernetes' and the operators' schemas."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import pytest

from tests.charts.chart_checks import security_problems
from tests.k8s.helm import CHART, helm, render_chart, stubbed_chart
from tests.k8s.validate import validate_objects

CI = CHART / "ci"
SCENARIOS = {"defaults": None, **{p.name.removesuffix("-values.yaml"): p
                                  for p in sorted(CI.glob("*-values.yaml"))}}

TOPICS = {("KafkaTopic", t) for t in (
    "retail-sales-transactions", "retail-inventory-updates", "retail-restock-alerts",
    "retail-price-changes", "retail-supplier-shipments", "retail-customer-events",
    "retail-dead-letter")}
COMMON = TOPICS | {
    ("ConfigMap", "retail-platform-env"),
    ("Kafka", "retail-platform"), ("KafkaNodePool", "retail-platform-dual-role"),
    ("ClickHouseInstallation", "retail-platform"),
    ("SparkApplication", "retail-platform-stream-processor"),
    ("Job", "retail-platform-warehouse-migrate"),
    ("ServiceAccount", "retail-platform-spark"), ("ServiceAccount", "retail-platform-job"),
    ("Role", "retail-platform-spark-driver"), ("RoleBinding", "retail-platform-spark-driver"),
    ("Role", "retail-platform-airflow-pod-launcher"),
    ("RoleBinding", "retail-platform-airflow-pod-launcher"),
    ("NetworkPolicy", "retail-platform-jobs-default-deny"),
    ("NetworkPolicy", "retail-platform-spark-internal"),
    ("NetworkPolicy", "retail-platform-clickhouse"),
    ("NetworkPolicy", "retail-platform-data-quality"),
    ("NetworkPolicy", "retail-platform-evaluate-forecasts"),
}
MINIO = {("Tenant", "retail-platform"), ("Secret", "retail-platform-object-store"),
         ("Secret", "retail-platform-minio-env")}
COMMON |= {("Secret", "retail-platform-airflow-keys")}
MLFLOW = {("Deployment", "retail-platform-mlflow"), ("Service", "retail-platform-mlflow"),
          ("NetworkPolicy", "retail-platform-mlflow")}
INVENTORY = {
    "defaults": COMMON | MINIO | {("Secret", "retail-platform-clickhouse"),
                                  ("Service", "retail-platform-bi")},
    "01-kind-dev": COMMON | MINIO | {("Secret", "retail-platform-clickhouse"),
                                     ("Deployment", "retail-platform-pos-generator"),
                                     ("StatefulSet", "retail-platform-airflow-db"),
                                     ("Service", "retail-platform-airflow-db"),
                                     ("Secret", "retail-platform-airflow-metadata"),
                                     ("Secret", "retail-platform-mlflow-db")} | MLFLOW,
    "02-production-ha": COMMON | {
        ("Service", "retail-platform-bi"),
        ("ClickHouseKeeperInstallation", "retail-platform"),
        ("KafkaUser", "retail-platform-producer"), ("KafkaUser", "retail-platform-stream"),
        ("KafkaUser", "retail-platform-alerts"),
        ("CronJob", "retail-platform-data-quality")} | MLFLOW,
    "03-operators": set(),  # the stub subcharts render nothing: only the operators install
}


@cache
def _rendered(scenario: str) -> list[dict]:
    path = SCENARIOS[scenario]
    return render_chart(values_files=(path,) if path else ())


def render(scenario: str) -> list[dict]:
    """A scenario's objects, rendered once per session (three tests read each)."""
    return copy.deepcopy(_rendered(scenario))


def test_every_scenario_file_is_listed_with_its_inventory():
    assert set(SCENARIOS) == set(INVENTORY)
    for path in CI.glob("*-values.yaml"):
        assert path.read_text().startswith(f"# {path.name.removesuffix('-values.yaml')}:"), (
            f"{path.name}: the first line says what the scenario covers")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_scenario_renders_exactly_its_inventory(scenario):
    objs = render(scenario)
    got = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    assert len(got) == len(set(got)), "an object is rendered twice"
    assert set(got) == INVENTORY[scenario]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rendered_object_is_valid_against_its_schema(scenario):
    assert validate_objects(render(scenario)) == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_container_is_locked_down(scenario):
    assert security_problems(render(scenario)) == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_strict_passes(scenario):
    path: Path | None = SCENARIOS[scenario]
    args = ["lint", "--strict", str(stubbed_chart()), "--namespace", "retail"]
    if path:
        args += ["--values", str(path)]
    done = helm(*args, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# The run-once jobs no scenario turns on (Tilt and Airflow name their day): each switched on
# for a day, as Tilt renders the kind scenario, must be as valid and locked down.
ONE_SHOT = {"dailyEtl": {"enabled": True, "date": "2026-11-30"},
            "buildFeatures": {"enabled": True, "date": "2026-11-30"},
            "trainDemandForecast": {"enabled": True, "asOf": "2026-11-30"},
            "predictDaily": {"enabled": True, "date": "2026-11-30"},
            "optimizeStock": {"enabled": True, "date": "2026-11-30"},
            "detectAnomalies": {"enabled": True, "date": "2026-11-30"},
            "classifySlowMovers": {"enabled": True, "date": "2026-11-30"},
            "trainRecommendations": {"enabled": True, "date": "2026-11-30"},
            "evaluateForecasts": {"enabled": True, "date": "2026-11-30", "referenceDays": 28}}


def test_the_one_shot_jobs_of_the_kind_scenario_are_valid_and_locked_down():
    objs = render_chart(ONE_SHOT, values_files=(SCENARIOS["01-kind-dev"],))
    added = {(o["kind"], o["metadata"]["name"]) for o in objs} - INVENTORY["01-kind-dev"]
    assert added == {("SparkApplication", f"retail-platform-{job}-2026-11-30") for job in (
        "daily-etl", "build-features", "train-demand-forecast", "predict-daily",
        "optimize-stock", "detect-anomalies", "classify-slow-movers", "train-recommendations")
    } | {("Job", "retail-platform-evaluate-forecasts-2026-11-30")}
    assert validate_objects(objs) == []
    assert security_problems(objs) == []


CUSTOM_KINDS = ["Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ClickHouseInstallation",
                "ClickHouseKeeperInstallation", "Tenant", "SparkApplication"]


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_a_typo_in_any_custom_resource_the_chart_renders_fails_validation(kind):
    everything = render_chart({"clickhouse": {"replicas": 2},
                               "kafka": {"tls": {"enabled": True}, "auth": {"enabled": True}}})
    obj = next(o for o in everything if o["kind"] == kind)
    assert validate_objects([obj]) == []
    obj["spec"]["replicaz"] = 1
    errors = validate_objects([obj])
    assert len(errors) == 1 and "spec.replicaz" in errors[0], errors
