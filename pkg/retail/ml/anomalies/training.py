"""The anomaly detector's weekly training: a time-based evaluation against the robust z-score
baseline (when labels are given), then the final fit on the latest window. No MLflow here:
:mod:`retail.ml.anomalies.registered` logs what :class:`TrainingResult` holds.

The windows, for a training on --date D: the evaluation scores the ``eval_days`` before D
with forests fitted on the ``train_days`` before them; the final forests are fitted on the
``train_days`` before D.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.io.warehouse import Warehouse
from retail.ml.anomalies import forest
from retail.ml.anomalies.evaluation import evaluate
from retail.ml.anomalies.inputs import check_closed, read_signals
from retail.ml.anomalies.settings import AnomalySettings
from retail.transforms import anomaly_signals as signals

METRIC = "recall"  # the promotion's score: recall at top-k over all kinds (higher is better)


@dataclass
class TrainingResult:
    forests: forest.Forests  # fitted on the train_days before as_of
    as_of: date
    window: dict[str, str]  # fit_first, fit_last, eval_first, eval_last
    rows: int  # training rows of the final fit
    metrics: dict[str, float] | None  # None: no labels, not measured
    baseline: dict[str, float] | None  # the z-score's, on the same days
    champion_metrics: dict[str, float] | None  # the champion's parameters, refitted likewise
    seconds: float = 0.0

    @property
    def score(self) -> float | None:
        return None if self.metrics is None else self.metrics.get(METRIC, 0.0)

    @property
    def champion_score(self) -> float | None:
        return None if self.champion_metrics is None else self.champion_metrics.get(METRIC, 0.0)


def params_of(settings: AnomalySettings) -> forest.ForestParams:
    return forest.ForestParams(settings.n_estimators, settings.max_samples, settings.seed,
                               settings.min_category_rows)


def flag(features: DataFrame, forests: forest.Forests, *, k: int) -> DataFrame:
    """The top-k rows of each store and day by the forests' score, with their kind."""
    scored = signals.with_kind(forest.score(features, forests), forests.scales)
    return signals.top_k(scored, k=k)


def baseline_flags(features: DataFrame, *, k: int) -> DataFrame:
    """The rule baseline's top-k: the highest robust z-scores of demand, spike or drop."""
    return signals.top_k(features.withColumn("kind", signals.baseline_kind()), k=k,
                         score="robust_z")


def _measured(flags: DataFrame, truth) -> dict[str, float]:
    return evaluate(flags.select("store_id", "product_id", "date", "kind").toPandas(), truth)


def train(spark: SparkSession, wh: Warehouse, settings: AnomalySettings, as_of: date, *,
          labels: DataFrame | None = None, champion_params: forest.ForestParams | None = None,
          on_step: Callable[[str], None] = lambda _: None) -> TrainingResult:
    """Evaluate on the last ``eval_days`` before ``as_of`` (with ``labels``: ``kind,
    store_id, product_id, start, end``), then fit the final forests.

    Raises:
        ValueError: ``as_of`` is not closed, or no day of the windows has 7 days of
            history.
    """
    started = time.monotonic()
    check_closed(wh, as_of)
    eval_first = as_of - timedelta(days=settings.eval_days)
    fit_first = eval_first - timedelta(days=settings.train_days)
    final_first = as_of - timedelta(days=settings.train_days)
    last = as_of - timedelta(days=1)
    window = {"fit_first": str(fit_first), "fit_last": str(eval_first - timedelta(days=1)),
              "eval_first": str(eval_first), "eval_last": str(last)}
    on_step(f"reading the signals of {min(fit_first, final_first)} .. {last}")
    features = signals.anomaly_features(read_signals(
        spark, wh, min(fit_first, final_first), last, range_width=settings.range_width)
    ).localCheckpoint()  # read by every fit: its plans start from these rows, not the lineage
    params = params_of(settings)
    metrics = baseline = champion = None
    if labels is not None:
        before = features.filter(F.col("date") < F.lit(eval_first))
        scored_days = features.filter(F.col("date") >= F.lit(eval_first))
        truth = signals.label_days(labels, F.lit(eval_first), F.lit(last)).toPandas()
        on_step(f"evaluating on {eval_first} .. {last} against {len(truth)} labelled days")
        metrics = _measured(flag(scored_days, forest.fit(before, params),
                                 k=settings.top_k), truth)
        baseline = _measured(baseline_flags(scored_days, k=settings.top_k), truth)
        if champion_params is not None:
            champion = metrics if champion_params == params else _measured(flag(
                scored_days, forest.fit(before, champion_params), k=settings.top_k), truth)
    on_step(f"final fit on {final_first} .. {last}")
    latest = features.filter(F.col("date") >= F.lit(final_first))
    rows = latest.count()
    final = forest.fit(latest, params)
    return TrainingResult(final, as_of, window, rows, metrics, baseline, champion,
                          time.monotonic() - started)
