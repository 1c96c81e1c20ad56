"""The cross-sell models' life in the registry: a training (the held-out evaluation against
popularity, the champion's parameters refitted on the same split, the final fits) logged and
registered, promoted only when its recall@10 beats the champion's on the same held-out
baskets (``train_and_register``), and the champion brought back (``load_recommender``).

A run holds the parameters (ALS's, the window, the rules' thresholds), the metrics
(``recall_at_10``: the promotion's score, ``precision_at_10``, the counts and seconds),
the popularity baseline's (``baseline.popularity.*``) with the ratios, the ALS pipeline in
the Spark flavor (``model/``) and ``recommendations/partners.parquet``: FPGrowth's
one-to-one rules, the top partners of each product by lift.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from retail.io.warehouse import Warehouse
from retail.ml.recommendations import evaluation
from retail.ml.recommendations.data import read_lines, window
from retail.ml.recommendations.model import als_params, fit_als, fit_rules
from retail.ml.recommendations.settings import RecommendationSettings
from retail.ml.registry import (MODEL_ARTIFACT, Promotion, Registry, Training,
                                VersionInfo)
from retail.transforms.baskets import rule_partners

MODEL = "recommendations"
FOLDER = "recommendations"
PARTNERS = "partners.parquet"
METRIC = f"recall_at_{evaluation.K}"
SPARK_SUBFOLDER = "sparkml"  # MLflow's Spark flavor keeps the pipeline there


@dataclass
class TrainingResult:
    """What a training produced."""

    model: PipelineModel  # ALS fitted on every line of the window
    partners: pa.Table = field(repr=False)  # rule_partners of FPGrowth on the window
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # ALS on the held-out baskets
    baseline: dict[str, float] = field(default_factory=dict)  # popularity, same split
    score: float = 0.0  # recall@10: the promotion's score
    champion_score: float | None = None  # the champion's parameters on the same split
    split: str = ""  # names the held-out evaluation (the window)

    @property
    def ratios(self) -> dict[str, float]:
        """ALS's figures over popularity's (left out where popularity's is 0)."""
        return {f"{m}_to_popularity": v / self.baseline[m] for m, v in self.metrics.items()
                if self.baseline.get(m)}


@dataclass(frozen=True)
class Registered:
    result: TrainingResult
    training: Training
    promotion: Promotion


@dataclass(frozen=True)
class Recommender:
    """A registered version, ready to score."""

    version: VersionInfo
    model: PipelineModel
    partners: pa.Table  # rule_partners' columns


def train(spark: SparkSession, wh: Warehouse, settings: RecommendationSettings, day: date, *,
          champion_params: dict | None = None,
          on_step: Callable[[str], None] = lambda _: None) -> TrainingResult:
    """Evaluate on the held-out last baskets of the window to ``day``, then fit ALS and
    FPGrowth on the whole window.

    Raises:
        NoSales: the window holds no sale.
        ValueError: no loyal customer has a held-out basket to judge.
    """
    started = time.monotonic()
    first, last = window(day, settings.window_days)
    lines = read_lines(spark, wh, first, last).cache()
    on_step(f"holding out the last baskets of {first}..{last}")
    split = evaluation.holdout_split(lines, min_baskets=settings.min_baskets,
                                     exclude_purchased=settings.exclude_purchased)
    if split.judged_customers == 0:
        raise ValueError(f"no loyal customer has {settings.min_baskets} baskets with "
                         f"something new in the last from {first} to {last}: nothing to "
                         "evaluate (a longer RETAIL_RECOMMENDATIONS__WINDOW_DAYS?)")
    params = als_params(settings)
    on_step(f"ALS {params} on {split.judged_customers:,} customers' held-out baskets")
    metrics = evaluation.score_als(split, params)
    baseline = evaluation.score_popularity(split)
    champion_score = None
    if champion_params is not None:
        champion_score = (metrics[METRIC] if champion_params == params
                          else evaluation.score_als(split, champion_params)[METRIC])
    on_step("final fits: ALS and FPGrowth on the whole window")
    model = fit_als(lines, params)
    partners = rule_partners(fit_rules(lines, settings), n=settings.top_n).toArrow()
    baskets = lines.select("transaction_id").distinct().count()
    lines.unpersist()
    metrics |= {"held_out_baskets": split.held_out_baskets,
                "judged_customers": split.judged_customers, "baskets": baskets,
                "rule_partners": partners.num_rows,
                "train_seconds": time.monotonic() - started}
    return TrainingResult(
        model, partners,
        params={**params, "window_days": settings.window_days, "top_n": settings.top_n,
                "exclude_purchased": settings.exclude_purchased,
                "min_baskets": settings.min_baskets, "min_support": settings.min_support,
                "min_confidence": settings.min_confidence, "as_of": str(day)},
        metrics=metrics, baseline=baseline, score=metrics[METRIC],
        champion_score=champion_score, split=f"last_basket:{first}..{last}")


def champion_params(registry: Registry) -> dict | None:
    """The champion's ALS parameters (None: no champion yet)."""
    current = registry.champion(MODEL)
    return None if current is None else als_params(current.params)


def train_and_register(spark: SparkSession, wh: Warehouse, registry: Registry,
                       settings: RecommendationSettings, day: date, *,
                       on_step: Callable[[str], None] = lambda _: None) -> Registered:
    """Train, log the run, register the ALS pipeline with the rules beside it, and decide
    the promotion on recall@10 (greater is better) over the same held-out baskets."""
    result = train(spark, wh, settings, day, champion_params=champion_params(registry),
                   on_step=on_step)
    on_step("logging the run and registering the model")
    with tempfile.TemporaryDirectory(prefix="retail-recommendations-") as tmp:
        folder = Path(tmp) / FOLDER
        folder.mkdir()
        pq.write_table(result.partners, folder / PARTNERS)
        training = registry.log_training(
            MODEL, result.params, {**result.metrics, **result.ratios}, result.model,
            baselines={"popularity": result.baseline}, artifacts={FOLDER: folder},
            tags={"as_of": str(day), "split": result.split})
    promotion = registry.decide_promotion(
        MODEL, training.version, result.score, result.champion_score, METRIC,
        greater_is_better=True, origins=[result.split],
        baseline=("popularity", result.baseline[METRIC]))
    return Registered(result, training, promotion)


def champion(registry: Registry) -> VersionInfo:
    """The champion version (:class:`~retail.ml.registry.NoChampion` if none)."""
    return registry.require_champion(MODEL, "train_recommendations --task train")


def load_recommender(registry: Registry, version: VersionInfo | None = None) -> Recommender:
    """The champion (or ``version``): its ALS pipeline in the active Spark session and its
    rule partners."""
    info = version or champion(registry)
    with tempfile.TemporaryDirectory(prefix="retail-recommender-") as tmp:
        partners = pq.read_table(registry.download(info, f"{FOLDER}/{PARTNERS}", tmp))
        # Spark reads ALS's factors lazily, from the files: cache them before the folder
        # goes (Registry.load_model deletes it on return, fine for the forecast's trees)
        local = registry.download(info, MODEL_ARTIFACT, tmp)
        model = PipelineModel.load(str(local / SPARK_SUBFOLDER))
        als = model.stages[-1]
        als.userFactors.cache().count()
        als.itemFactors.cache().count()
    return Recommender(info, model, partners)
