"""The anomaly detector's life in the registry: a training logged (the evaluation's metrics
and the z-score baseline's as ``baseline.robust_z.*``), its forests' folder registered as the
version, promoted only when its recall at top-k beats the champion's on the same evaluation
window; the champion's forests brought back for scoring (``load_detector``).

Without labels nothing is measured: the run says so (tag ``evaluation``) and only a first
model is promoted (an unmeasured model never replaces a champion).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from retail.io.warehouse import Warehouse
from retail.ml.anomalies import forest
from retail.ml.anomalies.settings import AnomalySettings
from retail.ml.anomalies.training import METRIC, TrainingResult, train
from retail.ml.registry import MODEL_ARTIFACT, Promotion, Registry, Training
from retail.ml.registry import VersionInfo

MODEL = "anomaly_detector"
BASELINE = "robust_z"
UNMEASURED = "none: no labels given (--labels), precision and recall not measured"


@dataclass(frozen=True)
class Registered:
    result: TrainingResult
    training: Training
    promotion: Promotion


@dataclass(frozen=True)
class Detector:
    """A registered version's forests, ready to score."""

    version: VersionInfo
    forests: forest.Forests


def champion_params(registry: Registry) -> forest.ForestParams | None:
    current = registry.champion(MODEL)
    return None if current is None else forest.ForestParams.from_dict(current.params)


def _unmeasured(registry: Registry, version: str) -> Promotion:
    """The decision for a model trained without labels: promoted only when it is the
    first."""
    current = registry.champion(MODEL)
    if current is None:
        return registry.decide_promotion(MODEL, version, 0.0, None, metric=METRIC,
                                         greater_is_better=True)
    return Promotion(registry.name(MODEL), version, METRIC, float("nan"), current.version,
                     None, False, f"not measured (no labels): the champion (version "
                     f"{current.version}) stays")


def train_and_register(spark: SparkSession, wh: Warehouse, registry: Registry,
                       settings: AnomalySettings, as_of: date, *,
                       labels: DataFrame | None = None,
                       on_step: Callable[[str], None] = lambda _: None) -> Registered:
    """Train (:func:`~retail.ml.anomalies.training.train`, the champion's parameters
    refitted on the same window), log the run, register the forests, decide the
    promotion."""
    result = train(spark, wh, settings, as_of, labels=labels,
                   champion_params=champion_params(registry), on_step=on_step)
    params = {**result.forests.params.as_dict(), "as_of": str(as_of),
              "top_k": settings.top_k, "train_days": settings.train_days,
              "eval_days": settings.eval_days, "range_width": settings.range_width,
              "forests": len(result.forests.models), "training_rows": result.rows}
    metrics = {"train_seconds": result.seconds, **(result.metrics or {})}
    tags = {"as_of": str(as_of), **result.window,
            "evaluation": UNMEASURED if result.metrics is None else "labels"}
    on_step("logging the run and registering the forests")
    with tempfile.TemporaryDirectory(prefix="retail-anomalies-") as tmp:
        folder = result.forests.save(Path(tmp) / "forests")
        training = registry.log_training(
            MODEL, params, metrics, baselines={BASELINE: result.baseline}
            if result.baseline else None, tags=tags, model_dir=folder)
    if result.metrics is None:
        promotion = _unmeasured(registry, training.version)
    else:
        promotion = registry.decide_promotion(
            MODEL, training.version, result.score, result.champion_score, metric=METRIC,
            greater_is_better=True, origins=[result.window["eval_first"],
                                             result.window["eval_last"]],
            baseline=(BASELINE, result.baseline[METRIC])
            if result.baseline and METRIC in result.baseline else None)
    return Registered(result, training, promotion)


def champion(registry: Registry) -> VersionInfo:
    """The champion version (:class:`~retail.ml.registry.NoChampion` if none)."""
    return registry.require_champion(MODEL, "jobs/detect_anomalies.py --task train")


def load_detector(registry: Registry, version: VersionInfo | None = None) -> Detector:
    """The champion's (or ``version``'s) forests, downloaded from its run."""
    info = version or champion(registry)
    with tempfile.TemporaryDirectory(prefix="retail-forests-") as tmp:
        folder = registry.download(info, MODEL_ARTIFACT, tmp)
        return Detector(info, forest.Forests.load(folder))
