"""The slow-mover classifier in the registry: a training logged and registered (MLflow's Spark
flavor), promoted only when its PR-AUC beats the champion's refitted on the same evaluation
window (``train_and_register``), and the champion brought back (``load_classifier``).

A run holds the forest's parameters, the run date, the training and evaluation origins; the
metrics (``pr_auc``, ``precision``, ``recall``, ``f1``, ``flagged_share``, the ratios to the
rule ``pr_auc_to_rule`` and ``f1_to_rule``, ``positives_share``, ``train_seconds``), the
rule's as ``baseline.days_of_cover_rule.<metric>``, ``feature_importance.json``, and under
``slow_movers/``: ``evaluation.parquet`` (every evaluated row) and ``elasticity.json``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from retail.io.warehouse import Warehouse
from retail.ml.registry import Promotion, Registry, Training, VersionInfo
from retail.ml.slow_movers.model import TrainingResult, positives_share, ratios, train
from retail.ml.slow_movers.settings import SlowMoverSettings

MODEL = "slow_movers"
FOLDER = "slow_movers"
RULE = "days_of_cover_rule"


@dataclass(frozen=True)
class Registered:
    result: TrainingResult
    training: Training
    promotion: Promotion


@dataclass(frozen=True)
class Classifier:
    """A registered slow-mover classifier, ready to score."""

    version: VersionInfo
    model: PipelineModel
    threshold: float


def train_and_register(spark: SparkSession, wh: Warehouse, registry: Registry,
                       settings: SlowMoverSettings, as_of: date) -> Registered:
    """Train (the champion's parameters refitted on the same split), log the run, register
    the model and decide the promotion on PR-AUC (greater is better)."""
    current = registry.champion(MODEL)
    result = train(spark, wh, settings, as_of,
                   champion_params=None if current is None else current.params)
    ev = result.evaluation
    metrics = {**ev.model, **ratios(ev), "positives_share": positives_share(ev.scored),
               "train_seconds": result.seconds, "rows": result.rows}
    params = {**result.params, "as_of": str(as_of), "threshold": result.threshold,
              "label_days": settings.label_days, "max_horizon_days": settings.max_horizon_days,
              "train_origins": ",".join(map(str, result.train_origins)),
              "eval_origins": ",".join(map(str, result.eval_origins))}
    with tempfile.TemporaryDirectory(prefix="retail-slow-movers-") as tmp:
        folder = Path(tmp) / FOLDER
        folder.mkdir()
        pq.write_table(pa.Table.from_pandas(ev.scored, preserve_index=False),
                       folder / "evaluation.parquet")
        (folder / "elasticity.json").write_text(json.dumps(
            result.elasticity.to_dict(orient="records"), indent=1, default=str))
        training = registry.log_training(
            MODEL, params, metrics, result.model, baselines={RULE: ev.rule},
            feature_importance=result.feature_importance, artifacts={FOLDER: folder},
            tags={"as_of": str(as_of)})
    champion = result.champion_evaluation
    promotion = registry.decide_promotion(
        MODEL, training.version, ev.pr_auc, None if champion is None else champion.pr_auc,
        metric="pr_auc", greater_is_better=True,
        origins=[str(d) for d in result.eval_origins],
        baseline=(RULE, ev.rule["pr_auc"]))
    return Registered(result, training, promotion)


def champion(registry: Registry) -> VersionInfo:
    """The champion version (:class:`~retail.ml.registry.NoChampion` if none)."""
    return registry.require_champion(MODEL, "classify_slow_movers --task train")


def load_classifier(registry: Registry) -> Classifier:
    """The champion and its threshold (chosen on its training rows, a run parameter).

    Raises:
        NoChampion: no champion yet.
    """
    version = champion(registry)
    return Classifier(version, registry.load_model(version),
                      float(version.params["threshold"]))
