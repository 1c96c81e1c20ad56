"""``retail models list|show|promote`` against a real MLflow server (``mlflow_server``)."""

from __future__ import annotations

import uuid

import pytest
from pyspark.ml import Pipeline
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression

from conftest import free_port, retail_cli
from retail.ml.registry import Registry
from tests.pkg.transforms.conftest import spark  # noqa: F401


@pytest.fixture(scope="module")
def trained(mlflow_server, spark) -> Registry:  # noqa: F811
    """demand_forecast v1 (champion by the rule), v2 (worse: rejected), under a prefix of
    the module's own."""
    rows = spark.createDataFrame([(float(x), 3.0 * x) for x in range(10)], ["x", "y"])
    model = Pipeline(stages=[VectorAssembler(inputCols=["x"], outputCol="features"),
                             LinearRegression(labelCol="y")]).fit(rows)
    registry = Registry(mlflow_server, prefix=f"c{uuid.uuid4().hex[:8]}")
    for wape, champion_wape in ((0.30, None), (0.35, 0.30)):
        version = registry.log_training("demand_forecast", {}, {"wape": wape}, model,
                                        baselines={"seasonal_naive": {"wape": 0.4}}).version
        registry.decide_promotion("demand_forecast", version, wape, champion_wape)
    return registry


@pytest.fixture
def env(trained, monkeypatch) -> Registry:
    monkeypatch.setenv("RETAIL_MLFLOW__TRACKING_URI", trained.uri)
    monkeypatch.setenv("RETAIL_MLFLOW__PREFIX", trained.prefix)
    monkeypatch.setenv("COLUMNS", "250")
    return trained


def row(output: str, first_cell: str) -> list[str]:
    line = next(ln for ln in output.splitlines() if f"│ {first_cell} " in ln
                or ln.startswith(f"│ {first_cell}"))
    return [c.strip() for c in line.split("│")[1:-1]]


def test_list_shows_each_model_with_versions_champion_metric_and_latest_decision(env):
    out = retail_cli("models", "list")
    assert row(out, env.name("demand_forecast")) == [
        env.name("demand_forecast"), "2", "1", "wape 0.3", "2", "rejected"]


def test_show_lists_versions_with_metrics_and_both_figures_of_each_decision(env):
    out = retail_cli("models", "show", "demand_forecast")
    v2, v1 = row(out, "2"), row(out, "1")
    assert v2[2] == "-" and v2[3].startswith("baseline.seasonal_naive.wape 0.4")
    assert v2[4:7] == ["rejected", "wape 0.35", "v1 wape 0.3"]
    assert "does not beat the champion's" in out
    assert v1[2] == "champion" and v1[4:7] == ["promoted", "wape 0.3", "-"]
    assert "no champion yet" in out


def test_promote_moves_the_champion_and_show_says_who(env):
    out = retail_cli("models", "promote", env.name("demand_forecast"), "2",
                     "--reason", "rollback drill")
    assert "version 2 is the champion now (was version 1)" in out
    assert env.champion("demand_forecast").version == "2"
    show = retail_cli("models", "show", "demand_forecast")
    v2 = row(show, "2")
    assert v2[2] == "champion" and v2[4] == "rejected"  # the rule's decision stays
    assert ": rollback drill (champion was v1)" in v2[8]
    retail_cli("models", "promote", "demand_forecast", "1", "--reason", "back")


def test_errors_name_the_model_the_version_or_the_server(env, monkeypatch):
    assert "no versions of" in retail_cli("models", "show", "nothing_here", code=2)
    out = retail_cli("models", "promote", "demand_forecast", "7", code=1)
    assert env.uri in out and "not found" in out
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("RETAIL_MLFLOW__TRACKING_URI", down)
    out = retail_cli("models", "list", code=1)
    assert f"the MLflow server at {down} does not answer" in out and "retail local up" in out
