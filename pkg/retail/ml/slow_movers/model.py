"""The classifier: a Spark ML ``Pipeline`` (string indexers, a vector assembler, an MLlib
``RandomForestClassifier``), its time-based evaluation against the rule "days of cover >
horizon" on the same rows, and the final fit on every labelled row (docs/slow_movers.md).

The evaluation window is the newest ``eval_origins`` labelled origins; the training rows
are the origins whose label window ends by the first of them (no label of the training
reaches into the evaluated days). No random split anywhere."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.io.warehouse import Warehouse
from retail.ml.slow_movers import data
from retail.ml.slow_movers.metrics import classifier_report, share_threshold
from retail.ml.slow_movers.settings import SlowMoverSettings
from retail.transforms.slow_movers import CATEGORICAL, NUMERIC, slow_mover_labels

# what an evaluated row keeps (the report's and the backtest table's columns)
EVALUATED = ["date", "store_id", "product_id", "category", "on_hand", "horizon_days",
             "label_window", "sold_ahead", "label", "probability", "rule_score", "rule_flag"]


def forest_params(values: dict) -> dict:
    """The forest's parameters of ``values`` (settings or a run's logged parameters, whose
    values may be strings)."""
    try:
        return {"numTrees": int(values["numTrees"]), "maxDepth": int(values["maxDepth"]),
                "minInstancesPerNode": int(values["minInstancesPerNode"]),
                "featureSubsetStrategy": str(values["featureSubsetStrategy"]),
                "seed": int(values["seed"])}
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not the slow-mover forest's parameters ({exc}): {values}") from None


def pipeline(params: dict) -> Pipeline:
    """Indexers of :data:`CATEGORICAL` (unseen values kept), the assembler and the forest."""
    indexed = [f"{c}_index" for c in CATEGORICAL]
    return Pipeline(stages=[
        StringIndexer(inputCols=list(CATEGORICAL), outputCols=indexed, handleInvalid="keep"),
        VectorAssembler(inputCols=[*NUMERIC, *indexed], outputCol="features"),
        RandomForestClassifier(labelCol="label", featuresCol="features", maxBins=64,
                               **forest_params(params))])


def probabilities(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """``rows`` with ``probability``: the forest's probability of the slow class."""
    scored = model.transform(rows)
    return scored.withColumn("probability", vector_to_array(F.col("probability"))[1]).select(
        *rows.columns, "probability")


def feature_importance(model: PipelineModel) -> dict[str, float]:
    """Input -> the forest's importance."""
    names = [*NUMERIC, *(f"{c}_index" for c in CATEGORICAL)]
    return dict(zip(names, model.stages[-1].featureImportances.toArray().tolist()))


@dataclass
class Evaluation:
    """One forest's figures on the evaluation window, beside the rule's on the same rows."""

    model: dict[str, float]
    rule: dict[str, float]
    scored: pd.DataFrame = field(repr=False)  # EVALUATED and flag, per pair and origin
    threshold: float = 0.5  # the one chosen on the training rows

    @property
    def pr_auc(self) -> float:
        return self.model["pr_auc"]


@dataclass
class TrainingResult:
    """What a training produced (no MLflow here: the registry logs it)."""

    model: PipelineModel  # fitted on every labelled row up to the run date
    threshold: float  # its threshold, chosen on those rows
    params: dict
    as_of: date
    train_origins: list[date]
    eval_origins: list[date]
    evaluation: Evaluation
    champion_evaluation: Evaluation | None
    elasticity: pd.DataFrame  # category, elasticity, promotions
    feature_importance: dict[str, float]
    rows: int  # labelled rows the final fit learned from
    seconds: float = 0.0


def split(origins: list[date], *, eval_origins: int, label_days: int
          ) -> tuple[list[date], list[date]]:
    """(training origins, evaluation origins) of the labelled ``origins``: the newest
    ``eval_origins`` are evaluated, the training ones end their longest label window
    (``label_days``) by the first evaluated day.

    Raises:
        ValueError: too few origins for both.
    """
    held = sorted(origins)[-eval_origins:]
    train = [o for o in sorted(origins) if o + timedelta(days=label_days) <= held[0]]
    if len(held) < eval_origins or not train:
        raise ValueError(f"{len(origins)} labelled origins ({', '.join(map(str, origins))}) "
                         f"cannot hold {eval_origins} evaluation origin(s) and a training "
                         "origin whose label window ends before them: build more feature "
                         "days, or lower RETAIL_SLOW_MOVERS__EVAL_ORIGINS / LABEL_DAYS")
    return train, held


def fit(params: dict, rows: DataFrame) -> tuple[PipelineModel, float]:
    """The fitted pipeline and its threshold: the probability above which it flags as many
    of its training rows as are slow (:func:`~retail.ml.slow_movers.metrics.share_threshold`)."""
    fitted = pipeline(params).fit(rows)
    seen = probabilities(fitted, rows).select("probability", "label").toPandas()
    return fitted, share_threshold(seen["probability"].to_numpy(), seen["label"].to_numpy())


def evaluate(params: dict, train: DataFrame, test: DataFrame) -> Evaluation:
    """Fit on ``train``, score ``test``, report the forest and the rule on its rows."""
    fitted, threshold = fit(params, train)
    frame = probabilities(fitted, test).select(*EVALUATED).toPandas()
    frame["flag"] = frame["probability"] > threshold
    return Evaluation(classifier_report(frame, score="probability", flag="flag"),
                      classifier_report(frame, score="rule_score", flag="rule_flag"), frame,
                      threshold)


def train(spark: SparkSession, wh: Warehouse, settings: SlowMoverSettings, as_of: date, *,
          champion_params: dict | None = None) -> TrainingResult:
    """Evaluate on the newest labelled origins, the champion's parameters refitted on the
    same split (``champion_params``), then fit on every labelled row.

    Raises:
        ValueError: the feature store cannot give a training and an evaluation origin.
    """
    started = time.monotonic()
    first, newest = (as_of - timedelta(days=settings.history_days),
                     as_of - timedelta(days=settings.label_days))
    days = data.feature_days(wh, first, as_of)
    labelled = [d for d in data.origins(days, step_days=settings.origin_step_days)
                if d <= newest]
    if not labelled:
        raise ValueError(f"the feature store has no day between {first} and {newest} (a "
                         f"label needs {settings.label_days} observed days after its origin)")
    train_at, eval_at = split(labelled, eval_origins=settings.eval_origins,
                              label_days=settings.label_days)
    rows, elasticity = data.model_rows(spark, wh, settings, labelled, as_of)
    # read by every fit: a local checkpoint, so each fit's plans start from its rows (a
    # cached frame brings its whole lineage into every plan that reads it)
    rows = slow_mover_labels(rows, observed_through=as_of).localCheckpoint()
    train_rows = rows.filter(F.col("date").isin(train_at))
    test_rows = rows.filter(F.col("date").isin(eval_at))
    params = forest_params({
        "numTrees": settings.num_trees, "maxDepth": settings.max_depth,
        "minInstancesPerNode": settings.min_instances_per_node,
        "featureSubsetStrategy": settings.feature_subset_strategy, "seed": settings.seed})
    evaluation = evaluate(params, train_rows, test_rows)
    champion = None
    if champion_params is not None:
        champion_params = forest_params(champion_params)
        champion = evaluation if champion_params == params else evaluate(
            champion_params, train_rows, test_rows)
    final, threshold = fit(params, rows)
    count = rows.count()
    return TrainingResult(final, threshold, params, as_of, train_at, eval_at, evaluation,
                          champion,
                          elasticity.toPandas(), feature_importance(final), count,
                          time.monotonic() - started)


def ratios(evaluation: Evaluation) -> dict[str, float]:
    """The forest's PR-AUC and F1 over the rule's on the same rows."""
    return {f"{m}_to_rule": (evaluation.model[m] / evaluation.rule[m]
                             if evaluation.rule[m] else float("nan"))
            for m in ("pr_auc", "f1")}


def positives_share(frame: pd.DataFrame) -> float:
    return float(np.mean(frame["label"])) if len(frame) else float("nan")
