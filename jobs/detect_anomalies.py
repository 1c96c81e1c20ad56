"""Anomaly detection job: Isolation Forests over daily store x product signals, trained weekly
(evaluated against the robust z-score baseline when labels are given, registered in MLflow,
promoted only when better on the same window) and scored daily into ``ml_anomalies`` (see
docs/anomalies.md).

Image: ``images/detect_anomalies`` (``retail-platform/detect-anomalies``), a Spark batch
application, daily after the day is closed (``--task score``) and weekly ``--task all``.
Arguments: ``--date YYYY-MM-DD`` (default yesterday, UTC): the day scored, the training
uses the days before it; ``--task train|score|all`` (default all: train, then score with
the champion); ``--labels PATH``: a parquet of confirmed incidents (kind, store_id,
product_id, start, end) the training is measured on. Environment: ``RETAIL_WAREHOUSE__*``,
``RETAIL_MLFLOW__*``, ``RETAIL_ANOMALIES__*`` and ``RETAIL_ENV``. Writes a registered model
version (train), ``ml_anomalies`` rows (score; a re-run of the day and version replaces
them) and a ``job_runs`` row. Exit codes: 0 done; 1 the day is not closed, bad labels, or
the warehouse or the MLflow server failed; 2 bad arguments or settings; 3 (scoring) no
champion to score with yet (a fresh install before the first weekly training, or no version
has beaten its baseline: train it first; the log says so as a warning).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retail.batch.runner import each_day
from retail.jobstart import job_arguments, run_model_job, start_job
from retail.log import event
from retail.ml.anomalies.daily import score_day
from retail.ml.anomalies.inputs import read_labels
from retail.ml.anomalies.registered import champion, load_detector, train_and_register

JOB = "detect_anomalies"


def _existing(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def main(argv: list[str]) -> int:
    parser = job_arguments(JOB, __doc__.splitlines()[0])
    parser.add_argument("--date", type=parser.day,
                        default=datetime.now(UTC).date() - timedelta(days=1))
    parser.add_argument("--task", choices=("train", "score", "all"), default="all")
    parser.add_argument("--labels", type=_existing)
    args = parser.parse_args(argv)
    if args.labels is not None and args.task == "score":
        parser.error("--labels goes with --task train or all (scoring is not measured)")
    start = start_job(JOB)
    if start is None:
        return 2
    settings, log = start.settings.anomalies, start.log

    def run(spark, wh, registry, day) -> dict:
        details: dict = {"day": str(day), "task": args.task}
        if args.task in ("train", "all"):
            labels = read_labels(spark, args.labels) if args.labels else None
            done = train_and_register(spark, wh, registry, settings, day, labels=labels,
                                      on_step=lambda s: event(log, logging.INFO, "training",
                                                              step=s))
            details |= {"version": done.training.version, "promoted": done.promotion.promoted,
                        "reason": done.promotion.reason, "recall": done.result.score,
                        "baseline_recall": (done.result.baseline or {}).get("recall")}
            event(log, logging.INFO, "trained", **details,
                  evaluation="labels" if labels is not None else "none (no --labels)",
                  seconds=round(done.result.seconds, 1))
        if args.task in ("score", "all"):
            scored = score_day(spark, wh, load_detector(registry), day, settings)
            details |= {"scored": scored.as_details()}
            event(log, logging.INFO, "scored", **scored.as_details())
        return details

    def work(spark, wh, registry) -> int:
        each_day(wh, JOB, [args.date], lambda day: run(spark, wh, registry, day),
                 lambda d: ("succeeded", d.get("scored", {}).get("pairs", 0),
                            d.get("scored", {}).get("rows", 0), d))
        return 0

    return run_model_job(start, "retail-detect-anomalies", "anomaly detection", work,
                         champions=[champion] if args.task == "score" else [])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
