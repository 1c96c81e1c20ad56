"""``classify_slow_movers --date D``: train (``train``), score (``score``) or both (``all``).
Scoring writes one ``ml_slow_movers`` row per store x product with stock on hand in the
feature store on D: the champion's probability, its class and the markdown suggestion.

Idempotent per run date and model version: a run replaces the rows of its day and version
(:func:`~retail.ml.outputs.replace_run`), so a re-run on changed data leaves no pair behind
(one sold out since, say).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from retail.batch.runner import each_day
from retail.io.warehouse import Warehouse
from retail.ml.outputs import replace_run
from retail.ml.registry import Registry
from retail.ml.slow_movers import data
from retail.ml.slow_movers.model import probabilities
from retail.ml.slow_movers.registered import MODEL, Classifier, load_classifier, train_and_register
from retail.ml.slow_movers.settings import SlowMoverSettings
from retail.transforms.slow_movers import slow_mover_rows, suggest_markdowns

JOB = "classify_slow_movers"
TABLE = "ml_slow_movers"
TASKS = ("train", "score", "all")


@dataclass
class Outcome:
    """One run date's work: the training's and the scoring's figures."""

    day: date
    details: dict = field(default_factory=dict)
    rows: int = 0

    def as_details(self) -> dict:
        return {"day": str(self.day), "model": MODEL, **self.details}


def score_day(spark: SparkSession, wh: Warehouse, classifier: Classifier,
              settings: SlowMoverSettings, day: date) -> tuple[int, int]:
    """Score the pairs with stock on D, suggest markdowns, write them; (rows, slow movers).

    Raises:
        ValueError: D is not in the feature store.
    """
    if not data.feature_days(wh, day, day):
        raise ValueError(f"feature_store_daily has no row of {day}: build it first "
                         f"(retail features build --date {day})")
    rows, _ = data.model_rows(spark, wh, settings, [day], day)
    scored = probabilities(classifier.model, rows.filter(F.col("on_hand") > 0)).withColumn(
        "is_slow_mover", F.col("probability") > F.lit(classifier.threshold))
    marked = suggest_markdowns(scored, step=settings.markdown_step,
                               max_depth=settings.max_markdown,
                               default_elasticity=settings.default_elasticity)
    table = slow_mover_rows(marked, model_version=classifier.version.version).toArrow()
    replace_run(wh, TABLE, [table], date_key=int(f"{day:%Y%m%d}"),
                model_version=classifier.version.version)
    flagged = sum(1 for v in table.column("is_slow_mover").to_pylist() if v)
    return table.num_rows, flagged


def run_day(spark: SparkSession, wh: Warehouse, registry: Registry,
            settings: SlowMoverSettings, day: date, task: str) -> Outcome:
    """The task of one run date."""
    if task not in TASKS:
        raise ValueError(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
    outcome = Outcome(day)
    if task in ("train", "all"):
        done = train_and_register(spark, wh, registry, settings, day)
        ev = done.result.evaluation
        outcome.details.update({
            "version": done.training.version, "promoted": done.promotion.promoted,
            "reason": done.promotion.reason, "pr_auc": round(ev.model["pr_auc"], 4),
            "rule_pr_auc": round(ev.rule["pr_auc"], 4), "f1": round(ev.model["f1"], 4),
            "rule_f1": round(ev.rule["f1"], 4),
            "train_seconds": round(done.result.seconds, 1)})
    if task in ("score", "all"):
        started = time.monotonic()
        classifier = load_classifier(registry)
        outcome.rows, flagged = score_day(spark, wh, classifier, settings, day)
        outcome.details.update({"scored_version": classifier.version.version,
                                "rows": outcome.rows, "slow_movers": flagged,
                                "score_seconds": round(time.monotonic() - started, 1)})
    return outcome


def run_days(spark: SparkSession, wh: Warehouse, registry: Registry,
             settings: SlowMoverSettings, days: list[date], task: str,
             on_day: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Each run date in turn with a ``job_runs`` row each; stop at the first that fails."""
    return each_day(wh, JOB, days, lambda d: run_day(spark, wh, registry, settings, d, task),
                    lambda r: ("succeeded", r.rows, r.rows, r.as_details()), on_day)
