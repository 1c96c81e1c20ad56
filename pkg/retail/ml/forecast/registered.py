"""The forecast's life in the registry: a training logged and registered, promoted only when
its backtest WAPE beats the champion's on the same origins (``train_and_register``), and the
champion brought back with its interval table (``load_forecaster``).

A run holds: the parameters (the chosen GBT's, the strategy, the cut-off, the origins), the
backtest's metrics (``wape``: mean over the origins, the promotion's score; the pooled
``wape_all`` and ``mae``, ``bias``, ``rmsse`` overall and ``wape_h<k>`` per horizon;
``coverage_80/95`` on the last origin), every baseline's (``baseline.<name>.<metric>``),
``feature_importance.json``, and under ``forecast/``: ``intervals.parquet`` (the conformal
quantiles ``predict`` needs), ``backtest.parquet`` (every scored row), ``tuning.json``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from retail.io.warehouse import Warehouse
from retail.ml.forecast import backtest
from retail.ml.forecast import model as gbt
from retail.ml.forecast.training import TrainingResult, train
from retail.ml.registry import Promotion, Registry, Training, VersionInfo
from retail.ml.settings import ForecastSettings

MODEL = "demand_forecast"
FOLDER = "forecast"  # the run's folder of the files below
INTERVALS = "intervals.parquet"
METRICS = ("wape", "mae", "bias", "rmsse")


@dataclass(frozen=True)
class Registered:
    """A training, its registered version and the promotion decision."""

    result: TrainingResult
    training: Training
    promotion: Promotion


@dataclass(frozen=True)
class Forecaster:
    """A registered forecast model, ready to predict."""

    version: VersionInfo
    model: gbt.ForecastModel
    quantiles: pa.Table


def champion_params(registry: Registry) -> dict | None:
    """The current champion's GBT parameters (None: no champion yet)."""
    current = registry.champion(MODEL)
    return None if current is None else backtest.gbt_params(current.params)


def _overall(result: TrainingResult, sample: str) -> dict[str, dict[str, float]]:
    """Per model, the store x product x day metrics over the sample's scored rows."""
    return {r["model"]: {m: r[m] for m in METRICS if r[m] == r[m]}  # NaN left out
            for r in result.metrics if r["level"] == "store_product_day"
            and r["sample"] == sample and r["horizon"] is None}


def run_metrics(result: TrainingResult) -> tuple[dict[str, float], dict[str, dict]]:
    """(the model's metrics, each baseline's), as the run logs them: the baselines over
    every scored row, the statistical one (``ets``) over its sample; each with its WAPE's
    ratio to seasonal naive's and to the oracle's (``wape_to_seasonal_naive``, ...)."""
    overall = _overall(result, "all")
    if "ets" in (sampled := _overall(result, "ets_sample")):
        overall["ets"] = sampled["ets"]
    for model, ratio in result.ratios.items():
        if model in overall:
            overall[model].update({f"wape_{k}": v for k, v in ratio.items()
                                   if k != "wape" and v == v})
    mine = overall.pop("gbt")
    metrics = {"wape": result.score, "wape_all": mine.pop("wape"), **mine,
               **{f"coverage_{k}": v for k, v in result.coverage.items()},
               "train_seconds": result.seconds}
    for r in result.metrics:
        if (r["model"] == "gbt" and r["level"] == "store_product_day" and r["sample"] == "all"
                and r["horizon"] is not None and r["wape"] == r["wape"]):
            metrics[f"wape_h{int(r['horizon'])}"] = r["wape"]
    return metrics, overall


def train_and_register(spark: SparkSession, wh: Warehouse, registry: Registry,
                       settings: ForecastSettings, as_of: date, *, oracle: pa.Table | None = None,
                       on_step: Callable[[str], None] = lambda _: None) -> Registered:
    """Train (tuning and backtest, the champion's parameters scored on the same origins),
    log the run, register the model, decide the promotion, and write the feature importance
    to ``model_feature_importance``.

    Raises:
        ValueError: the strategy is not ``stacked`` (the registry holds one Spark pipeline
            per version; ``per_horizon`` is compared in the backtest, make bench), or the
            feature store cannot cover the backtest.
    """
    if settings.strategy != "stacked":
        raise ValueError("RETAIL_FORECAST__STRATEGY=per_horizon is for the backtest's "
                         "comparison only: the registry holds the stacked model (one "
                         "pipeline per version); use stacked to train and register")
    result = train(spark, wh, settings, as_of, oracle=oracle,
                   champion_params=champion_params(registry), on_step=on_step)
    metrics, baselines = run_metrics(result)
    params = {**result.params, "as_of": str(as_of), "origins": ",".join(result.origins),
              "train_fraction": settings.train_fraction, "history_days": settings.history_days,
              "backtest_origins": settings.backtest_origins}
    on_step("logging the run and registering the model")
    with tempfile.TemporaryDirectory(prefix="retail-forecast-") as tmp:
        folder = Path(tmp) / FOLDER
        folder.mkdir()
        pq.write_table(result.quantiles, folder / INTERVALS)
        pq.write_table(result.backtest, folder / "backtest.parquet")
        (folder / "tuning.json").write_text(json.dumps(
            {"folds": result.folds, "candidates": result.tuning}, indent=1, default=str))
        training = registry.log_training(
            MODEL, params, metrics, result.model.pipelines[gbt.STACKED], baselines=baselines,
            feature_importance={r["feature"]: r["importance"]
                                for r in result.feature_importance},
            artifacts={FOLDER: folder},
            tags={"as_of": str(as_of), "origins": ",".join(result.origins)})
    promotion = registry.decide_promotion(MODEL, training.version, result.score,
                                          result.champion_score, origins=result.origins)
    write_importance(wh, training.version, result.feature_importance)
    return Registered(result, training, promotion)


def write_importance(wh: Warehouse, version: str, importance: list[dict]) -> int:
    """The version's feature importance into ``model_feature_importance`` (shares of 1)."""
    total = sum(r["importance"] for r in importance) or 1.0
    table = pa.table({
        "model": [MODEL] * len(importance), "model_version": [version] * len(importance),
        "trained_at": pa.array([datetime.now(UTC)] * len(importance),
                               pa.timestamp("ms", "UTC")),
        "feature": [r["feature"] for r in importance],
        "importance": [r["importance"] / total for r in importance],
        "importance_type": ["gain"] * len(importance),
        "rank": pa.array(range(1, len(importance) + 1), pa.uint16())})
    return wh.insert_arrow("model_feature_importance", table)


def champion(registry: Registry) -> VersionInfo:
    """The champion version (:class:`~retail.ml.registry.NoChampion` if none)."""
    return registry.require_champion(MODEL, "retail forecast train")


def load_forecaster(registry: Registry, version: VersionInfo | None = None) -> Forecaster:
    """The champion (or ``version``) with its interval table, loaded in the active Spark
    session."""
    info = version or champion(registry)
    pipeline = registry.load_model(info)
    with tempfile.TemporaryDirectory(prefix="retail-intervals-") as tmp:
        quantiles = pq.read_table(registry.download(info, f"{FOLDER}/{INTERVALS}", tmp))
    names = tuple(c for group in gbt.input_columns() for c in group)
    return Forecaster(info, gbt.ForecastModel({gbt.STACKED: pipeline}, names), quantiles)
