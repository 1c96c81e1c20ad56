"""Cross-sell job: train ALS (implicit feedback) on loyal customers' purchases and FPGrowth on
baskets, judged on each loyal customer's held-out last basket against the popularity baseline
and promoted only when its recall@10 beats the champion's on the same baskets; score a run
date with the champion (see docs/recommendations.md).

Image: ``images/train_recommendations`` (``retail-platform/train-recommendations``), a Spark
batch application: ``--task train`` weekly, ``--task score`` daily. Arguments: ``--date
YYYY-MM-DD`` (the run date D: the window of sales read ends with it; default yesterday,
UTC), ``--task train|score|all`` (default all: train, then score D with the champion).
Environment: ``RETAIL_WAREHOUSE__*``, ``RETAIL_MLFLOW__*``, ``RETAIL_RECOMMENDATIONS__*``
(window, ALS, rules, top N) and ``RETAIL_ENV``. Writes a registered model version (train),
``ml_recommendations`` and ``ml_product_affinity`` rows of D and the champion's version
(score; a re-run replaces them) and a ``job_runs`` row. Exit codes: 0 done; 1 no sale in the
window, nothing to evaluate, or the warehouse or the MLflow server failed; 2 bad arguments
or settings; 3 (scoring) no champion to score with yet (a fresh install before the first
weekly training, or no version has beaten its baseline: train it first; the log says so as
a warning).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

from retail.batch.runner import each_day
from retail.jobstart import job_arguments, run_model_job, start_job
from retail.log import event
from retail.ml.recommendations.daily import score_day
from retail.ml.recommendations.registered import champion, load_recommender, train_and_register

JOB = "train_recommendations"


def main(argv: list[str]) -> int:
    parser = job_arguments(JOB, __doc__.splitlines()[0])
    parser.add_argument("--date", type=parser.day,
                        default=datetime.now(UTC).date() - timedelta(days=1))
    parser.add_argument("--task", choices=("train", "score", "all"), default="all")
    args = parser.parse_args(argv)
    start = start_job(JOB)
    if start is None:
        return 2
    log, settings = start.log, start.settings.recommendations

    def run_one(spark, wh, registry, day) -> dict:
        details: dict = {"day": str(day), "task": args.task}
        if args.task in ("train", "all"):
            done = train_and_register(spark, wh, registry, settings, day, on_step=lambda line:
                                      event(log, logging.INFO, "training", step=line))
            r = done.result
            details |= {"version": done.training.version, "promoted": done.promotion.promoted,
                        "reason": done.promotion.reason, "metrics": r.metrics,
                        "popularity": r.baseline, "ratios": r.ratios}
            event(log, logging.INFO, "trained", **details)
        if args.task in ("score", "all"):
            scored = score_day(spark, wh, load_recommender(registry), settings, day)
            details["scored"] = scored.as_details()
            event(log, logging.INFO, "scored", **scored.as_details())
        return details

    def work(spark, wh, registry) -> int:
        each_day(wh, JOB, [args.date], lambda day: run_one(spark, wh, registry, day),
                 lambda d: ("succeeded", d.get("metrics", {}).get("baskets", 0),
                            d.get("scored", {}).get("rows", 0), d))
        return 0

    return run_model_job(start, "retail-train-recommendations", "cross-sell", work,
                         champions=[champion] if args.task == "score" else [])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
