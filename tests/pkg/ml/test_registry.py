"""The registry client against a real MLflow server (tests/conftest.py's ``mlflow_server``):
runs, versions in the Spark flavor, the champion rule, promotion by hand."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from mlflow import MlflowClient
from pyspark.ml import Pipeline
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression

from conftest import free_port
from retail.ml.registry import CHAMPION, NoChampion, Registry, RegistryError, tracking_uri
from retail.settings import Settings, SettingsError


@pytest.fixture
def registry(mlflow_server) -> Registry:
    """A registry whose names are the test's own (prefix t<hex>)."""
    return Registry(mlflow_server, prefix=f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def rows(spark):
    return spark.createDataFrame([(float(x), float(x % 3), 2.0 * x + 1.0 + (x % 3))
                                  for x in range(10)], ["x", "z", "y"])


@pytest.fixture(scope="module")
def fitted(rows):
    """A tiny PipelineModel: assembler + linear regression, y = 2x + z + 1 exactly."""
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["x", "z"], outputCol="features"),
                                LinearRegression(labelCol="y", regParam=0.0)])
    return pipeline.fit(rows)


def predictions(model, rows) -> list[float]:
    return [r.prediction for r in model.transform(rows).orderBy("x").collect()]


def test_a_training_logs_params_metrics_baselines_importance_and_a_spark_model_version(
        registry, fitted, rows, tmp_path):
    report = tmp_path / "backtest.csv"
    report.write_text("origin,wape\n2026-01-05,0.21\n")
    done = registry.log_training(
        "demand_forecast", {"max_depth": 5, "horizon_days": 7}, {"wape": 0.21, "bias": -0.02},
        fitted, baselines={"seasonal_naive": {"wape": 0.34}},
        feature_importance={"lag_7": 0.2, "lag_1": 0.7}, artifacts={"backtest": report},
        tags={"data_until": "2026-01-31"})

    assert done.name == f"{registry.prefix}.demand_forecast" and done.version == "1"
    client = MlflowClient(registry.uri)
    run = client.get_run(done.run_id)
    assert client.get_experiment(run.info.experiment_id).name == done.name
    assert run.data.params == {"max_depth": "5", "horizon_days": "7"}
    assert run.data.metrics == {"wape": 0.21, "bias": -0.02, "baseline.seasonal_naive.wape": 0.34}
    assert run.data.tags["data_until"] == "2026-01-31" and run.info.status == "FINISHED"
    files = {a.path for a in client.list_artifacts(done.run_id)}
    assert {"model", "backtest", "feature_importance.json"} <= files
    importance = client.download_artifacts(done.run_id, "feature_importance.json", str(tmp_path))
    assert list(json.loads(open(importance).read())) == ["lag_1", "lag_7"]  # most important first
    model_files = {a.path for a in client.list_artifacts(done.run_id, "model")}
    assert {"model/MLmodel", "model/sparkml"} <= model_files
    mlmodel = client.download_artifacts(done.run_id, "model/MLmodel", str(tmp_path))
    assert "spark:" in open(mlmodel).read()  # MLflow's Spark flavor
    assert client.get_model_version(done.name, "1").run_id == done.run_id


def test_without_a_model_the_run_is_logged_and_nothing_registered(registry):
    done = registry.log_training("slow_movers", {"window": 28}, {"precision": 0.8})
    assert done.version is None
    assert MlflowClient(registry.uri).get_run(done.run_id).data.metrics == {"precision": 0.8}
    assert registry.versions("slow_movers") == [] and registry.champion("slow_movers") is None


def test_the_champion_rule_first_better_worse_equal_and_the_loaded_champion_predicts(
        registry, fitted, rows):
    def train(score: float) -> str:
        return registry.log_training("demand_forecast", {}, {"wape": score}, fitted).version

    first = registry.decide_promotion("demand_forecast", train(0.30), 0.30, None,
                                      origins=["2026-01-05", "2026-01-12"])
    assert first.promoted and first.reason == "no champion yet"
    assert registry.champion("demand_forecast").version == "1"

    better = registry.decide_promotion("demand_forecast", train(0.25), 0.25, 0.29)
    assert better.promoted and better.champion_version == "1"
    assert "0.25 beats the champion's (version 1) 0.29" in better.reason

    worse = registry.decide_promotion("demand_forecast", train(0.27), 0.27, 0.25)
    equal = registry.decide_promotion("demand_forecast", train(0.25), 0.25, 0.25)
    for d in (worse, equal):
        assert not d.promoted and d.champion_version == "2" and "does not beat" in d.reason
    assert registry.champion("demand_forecast").version == "2"

    versions = {v.version: v for v in registry.versions("demand_forecast")}
    assert [v for v in versions] == ["4", "3", "2", "1"]
    assert versions["2"].aliases == (CHAMPION,)
    tags = versions["3"].tags
    assert tags["promotion.decision"] == "rejected" and tags["promotion.champion_version"] == "2"
    assert float(tags["promotion.candidate_wape"]) == 0.27
    assert float(tags["promotion.champion_wape"]) == 0.25
    assert versions["1"].tags["promotion.origins"] == "2026-01-05,2026-01-12"
    # both figures on the candidate's run too
    assert versions["3"].metrics["promotion.candidate_wape"] == 0.27
    assert versions["3"].metrics["promotion.champion_wape"] == 0.25
    run = MlflowClient(registry.uri).get_run(versions["3"].run_id)
    assert run.data.tags["promotion.decision"] == "rejected"

    loaded = registry.load_champion("demand_forecast")
    assert predictions(loaded, rows) == pytest.approx(predictions(fitted, rows))


def test_a_champion_without_its_score_on_the_same_origins_is_refused(registry, fitted):
    v1 = registry.log_training("demand_forecast", {}, {"wape": 0.3}, fitted).version
    registry.decide_promotion("demand_forecast", v1, 0.3, None)
    v2 = registry.log_training("demand_forecast", {}, {"wape": 0.2}, fitted).version
    with pytest.raises(RegistryError, match="has a champion .version 1.: score it"):
        registry.decide_promotion("demand_forecast", v2, 0.2, None)
    assert registry.champion("demand_forecast").version == "1"


def test_promote_by_hand_moves_the_alias_and_records_who_and_why(registry, fitted):
    for _ in range(2):
        registry.log_training("anomalies", {}, {"wape": 0.5}, fitted)
    assert registry.promote("anomalies", 1, "first model", by="alice") is None
    assert registry.promote("anomalies", 2, "rollback test", by="bob") == "1"
    champ = registry.champion("anomalies")
    assert champ.version == "2" and champ.is_champion
    assert {k: champ.tags[f"manual.{k}"] for k in ("by", "reason", "previous_champion")} == \
        {"by": "bob", "reason": "rollback test", "previous_champion": "1"}
    assert "promotion.decision" not in champ.tags  # the rule's decision is not made up
    with pytest.raises(RegistryError, match=f"MLflow at {registry.uri}:.*not found"):
        registry.promote("anomalies", 9, "no such version")


def test_no_champion_to_load_or_no_version_to_promote_says_so(registry):
    with pytest.raises(NoChampion, match="has no champion .* train it first") as raised:
        registry.load_champion("demand_forecast")
    # its own class (the jobs exit 3 on it), still a RegistryError for every caller
    assert isinstance(raised.value, RegistryError) and isinstance(raised.value, LookupError)
    with pytest.raises(RegistryError, match=f"MLflow at {registry.uri}: .*not found") as other:
        registry.decide_promotion("demand_forecast", 5, 0.1, None)
    assert not isinstance(other.value, NoChampion)


def test_an_unreachable_server_is_named_at_once():
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(RegistryError, match=f"MLflow server at {uri} does not answer.*"
                                            "retail local up"):
        Registry(uri)
    assert time.monotonic() - started < 5  # not the client's minutes of retries


def test_the_tracking_uri_defaults_to_the_local_server_and_is_required_elsewhere():
    assert tracking_uri(Settings(local={"mlflow_port": 5123})) == "http://127.0.0.1:5123"
    assert tracking_uri(Settings(mlflow={"tracking_uri": "http://mlflow:5000"})) == \
        "http://mlflow:5000"
    with pytest.raises(SettingsError, match="RETAIL_MLFLOW__TRACKING_URI is required"):
        tracking_uri(Settings(env="prod"))


def test_a_version_carries_its_run_params_and_its_files_download(registry, fitted, rows,
                                                                 tmp_path):
    table = tmp_path / "out" / "intervals.json"
    table.parent.mkdir()
    table.write_text('{"horizon": [1]}')
    done = registry.log_training("demand_forecast", {"maxDepth": 4}, {"wape": 0.3}, fitted,
                                 artifacts={"forecast": table})
    info = registry.versions("demand_forecast")[0]
    assert info.version == done.version and info.params == {"maxDepth": "4"}
    got = registry.download(info, "forecast/intervals.json", tmp_path / "dl")
    assert got.read_text() == '{"horizon": [1]}'
    assert predictions(registry.load_model(info), rows) == pytest.approx(
        predictions(fitted, rows))
    with pytest.raises(RegistryError, match="intervals.parquet"):
        registry.download(info, "forecast/intervals.parquet", tmp_path / "dl2")


def test_a_model_folder_registers_as_a_version_and_downloads_back(registry, tmp_path,
                                                                  fitted):
    folder = tmp_path / "forest"
    folder.mkdir()
    (folder / "models.pkl").write_bytes(b"\x80\x04 a pickled estimator")
    (folder / "meta.json").write_text('{"features": ["a", "b"]}')
    training = registry.log_training("detector", {"trees": 100}, {"precision_at_k": 0.5},
                                     model_dir=folder)
    assert training.version == "1"
    info = registry.versions("detector")[0]
    got = registry.download(info, "model", tmp_path / "back")
    assert (got / "models.pkl").read_bytes() == b"\x80\x04 a pickled estimator"
    assert json.loads((got / "meta.json").read_text()) == {"features": ["a", "b"]}
    with pytest.raises(ValueError, match="spark_model or model_dir"):
        registry.log_training("detector", {}, {}, fitted, model_dir=folder)


def test_a_model_that_does_not_beat_its_baseline_is_never_the_champion(registry, fitted):
    def train(score: float) -> str:
        return registry.log_training("slow_movers", {}, {"pr_auc": score}, fitted).version

    rule = ("days_of_cover_rule", 0.80)
    first = registry.decide_promotion("slow_movers", train(0.78), 0.78, None, "pr_auc",
                                      greater_is_better=True, baseline=rule)
    tie = registry.decide_promotion("slow_movers", train(0.80), 0.80, None, "pr_auc",
                                    greater_is_better=True, baseline=rule)
    for d in (first, tie):
        assert not d.promoted and "does not beat the days_of_cover_rule baseline" in d.reason
    assert registry.champion("slow_movers") is None
    assert registry.versions("slow_movers")[0].tags["promotion.decision"] == "rejected"

    beats = registry.decide_promotion("slow_movers", train(0.85), 0.85, None, "pr_auc",
                                      greater_is_better=True, baseline=rule)
    assert beats.promoted and registry.champion("slow_movers").version == "3"
    # better than the champion but not than this window's baseline: the champion stays
    worse = registry.decide_promotion("slow_movers", train(0.86), 0.86, 0.84, "pr_auc",
                                      greater_is_better=True, baseline=("rule", 0.9))
    assert not worse.promoted and registry.champion("slow_movers").version == "3"
