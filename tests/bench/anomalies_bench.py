"""`make bench-models` (anomalies): the anomaly detector on a simulated chain with planted
anomalies: what training and scoring cost, and its precision and recall at top-k per kind
against the robust z-score baseline, on the planted truth.

1. The chain: ``--stores`` x ``--products`` simulated for ``--days`` days with
   ``--anomaly-rate`` (sales drops, demand spikes, inventory discrepancies, pricing errors
   planted and labelled) into a local warehouse server of its own (a temporary folder);
   the last day closed (its end-of-day snapshot).
2. ``train`` as of the last day: the forests fitted on ``train_days`` before the last
   ``eval_days``, scored on those days at top-k per store and day, beside the baseline's
   top-k on the same days, both measured on the planted anomalies; then the final fit.
3. ``score`` of the last day with the final forests, into ``ml_anomalies``.

Usage: ``python tests/bench/anomalies_bench.py --stores 200 --products 2000 --days 70``;
``--stores 4 --products 150`` checks the script in a few minutes. ``--json PATH`` keeps the
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

for _path in Path(__file__).resolve().parents[:3]:  # bench/, tests/, the repository
    sys.path.insert(0, str(_path))
from insight_common import bench_spark, chain_arguments, simulated_chain  # noqa: E402
from stream_common import say  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402

from retail.batch.snapshot import snapshot_day  # noqa: E402
from retail.ml.anomalies.daily import score_day  # noqa: E402
from retail.ml.anomalies.registered import Detector  # noqa: E402
from retail.ml.anomalies.settings import AnomalySettings  # noqa: E402
from retail.ml.anomalies.training import train  # noqa: E402
from retail.ml.registry import VersionInfo  # noqa: E402
from retail.streaming.reference import Reference  # noqa: E402
from retail.transforms.anomaly_signals import KINDS  # noqa: E402


def arguments(argv: list[str]) -> argparse.Namespace:
    p = chain_arguments(__doc__.splitlines()[0], days=70, settings="AnomalySettings")
    p.add_argument("--anomaly-rate", type=float, default=0.002,
                   help="planted anomalies per store x product x day")
    a = p.parse_args(argv)
    settings = AnomalySettings(**json.loads(a.settings))
    needed = settings.train_days + settings.eval_days + 8
    if a.days < needed:
        p.error(f"--days {a.days}: the training needs {needed} (train_days + eval_days + 8)")
    a.anomaly_settings = settings
    return a


def build(a: argparse.Namespace, folder: Path):
    """Simulate the chain into a fresh warehouse; returns (server, warehouse, truth, last
    day, seconds)."""
    server, wh, sim, seconds = simulated_chain(a, folder, f"bench-anomalies-{a.seed}",
                                               anomaly_rate=a.anomaly_rate)
    t = time.perf_counter()
    last = a.start + timedelta(days=a.days - 1)
    snapshot_day(wh, Reference.load(wh), last)
    seconds += time.perf_counter() - t
    truth = sim.planted.anomalies()
    pq.write_table(truth, folder / "planted_anomalies.parquet")
    say(f"simulated and loaded {a.days} days in {seconds:.0f} s: {truth.num_rows} planted "
        f"anomalies ({dict(zip(*_counts(truth)))})")
    return server, wh, truth, last, seconds


def _counts(truth) -> tuple[list, list]:
    counted = truth.column("kind").value_counts().to_pylist()
    return [c["values"] for c in counted], [c["counts"] for c in counted]


def ratio(mine: float | None, base: float | None) -> float | None:
    return None if not mine or not base else round(mine / base, 2)


def main(argv: list[str]) -> int:
    a = arguments(argv)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = bench_spark("bench-anomalies")
    with tempfile.TemporaryDirectory(prefix="bench-anomalies-") as tmp:
        server, wh, truth, last, sim_s = build(a, Path(tmp))
        try:
            labels = spark.createDataFrame(truth.select(
                ["kind", "store_id", "product_id", "start", "end"]).to_pandas())
            t = time.perf_counter()
            result = train(spark, wh, a.anomaly_settings, last, labels=labels,
                           on_step=lambda s: say(f"training: {s}"))
            train_s = time.perf_counter() - t
            detector = Detector(VersionInfo("bench", "bench", None, (), 0), result.forests)
            t = time.perf_counter()
            scored = score_day(spark, wh, detector, last, a.anomaly_settings)
            score_s = time.perf_counter() - t
        finally:
            wh.close()
            server.stop()
    mine, base = result.metrics, result.baseline
    figures = {
        "chain": {"stores": a.stores, "products": a.products, "days": a.days,
                  "anomaly_rate": a.anomaly_rate, "planted": truth.num_rows},
        "settings": a.anomaly_settings.model_dump(), "window": result.window,
        "seconds": {"simulate_and_load": round(sim_s, 1), "train": round(train_s, 1),
                    "score_day": round(score_s, 1)},
        "training_rows": result.rows, "scored_pairs": scored.pairs,
        "model": mine, "baseline_robust_z": base,
        "ratios": {m: ratio(mine.get(m), base.get(m)) for m in
                   ("precision", "recall", *(f"recall.{k}" for k in KINDS))}}
    say(f"train {train_s:.1f} s ({result.rows:,} rows), score one day {score_s:.1f} s "
        f"({scored.pairs:,} pairs)")
    for name in ("precision", "recall", "kind_accuracy",
                 *(f"{m}.{k}" for k in KINDS for m in ("recall", "precision"))):
        say(f"{name:>32}: model {mine.get(name, float('nan')):.3f}  z-score "
            f"{base.get(name, float('nan')):.3f}")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1, default=str))
    print(json.dumps(figures["ratios"]))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
