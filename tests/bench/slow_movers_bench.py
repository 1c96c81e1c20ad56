"""`make bench-models` (slow movers): the slow-mover classifier on a simulated chain with
planted fades: what training and scoring cost, and its PR-AUC, precision, recall and F1
against the rule "days of cover > horizon" on the same evaluation rows, and how its flags
concentrate in the faded products.

1. The chain: ``--stores`` x ``--products`` simulated for ``--days`` days with
   ``--fade-rate`` (products whose demand fades while the stores keep ordering them) into a
   local warehouse server of its own (a temporary folder); every ``origin_step_days``-th day
   of the last ``--feature-days`` closed (its end-of-day snapshot) and featurized.
2. ``train`` as of the last feature day with :class:`SlowMoverSettings` (``--settings``
   JSON overrides them): the forest fitted on the training origins, evaluated on the newest
   labelled ones beside the rule, then the final fit.
3. ``score`` of the last feature day (probabilities, classes, markdowns) into
   ``ml_slow_movers``.

Usage: ``python tests/bench/slow_movers_bench.py --stores 200 --products 2000 --days 120``;
``--stores 4 --products 40 --days 98`` checks the script in a few minutes. ``--json PATH``
keeps the figures.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # conftest imports tests.*
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from insight_common import bench_spark, chain_arguments, simulated_chain  # noqa: E402
from stream_common import say  # noqa: E402


from retail.batch.snapshot import snapshot_day  # noqa: E402
from retail.features.build import run_day as build_features  # noqa: E402
from retail.ml.registry import VersionInfo  # noqa: E402
from retail.ml.slow_movers.daily import score_day  # noqa: E402
from retail.ml.slow_movers.metrics import fade_enrichment  # noqa: E402
from retail.ml.slow_movers.model import ratios, train  # noqa: E402
from retail.ml.slow_movers.registered import Classifier  # noqa: E402
from retail.ml.slow_movers.settings import SlowMoverSettings  # noqa: E402
from retail.settings import Settings  # noqa: E402
from retail.streaming.reference import Reference  # noqa: E402


def arguments(argv: list[str]) -> argparse.Namespace:
    p = chain_arguments(__doc__.splitlines()[0], days=120, settings="SlowMoverSettings")
    p.add_argument("--feature-days", type=int, default=63,
                   help="the last days whose origins are featurized")
    p.add_argument("--fade-rate", type=float, default=0.3,
                   help="chance per product and 30 days that its demand starts to fade")
    a = p.parse_args(argv)
    a.sm = SlowMoverSettings(**json.loads(a.settings))
    needed = a.sm.label_days * 2 + a.sm.origin_step_days * (a.sm.eval_origins + 1)
    if a.feature_days < needed or a.days < a.feature_days + 28:
        p.error(f"--feature-days {a.feature_days} / --days {a.days}: the training needs "
                f"{needed} feature days (two label windows and the origins) after 28 of "
                "history")
    return a


def build(a: argparse.Namespace, folder: Path, spark):
    """Simulate, close and featurize; returns (server, warehouse, simulator, feature days,
    seconds)."""
    server, wh, sim, seconds = simulated_chain(a, folder, f"bench-slow-movers-{a.seed}",
                                               fade_rate=a.fade_rate)
    t = time.perf_counter()
    last = a.start + timedelta(days=a.days - 1)
    step = a.sm.origin_step_days
    days = [last - timedelta(days=k) for k in range(0, a.feature_days, step)][::-1]
    ref = Reference.load(wh)
    settings = Settings(lake={"root": str(folder / "lake")})
    for day in days:
        snapshot_day(wh, ref, day)
        build_features(spark, settings, wh, day)
        say(f"closed and featurized {day}")
    seconds += time.perf_counter() - t
    say(f"simulated and loaded {a.days} days, {len(days)} feature days in {seconds:.0f} s: "
        f"{sim.planted.fades(through=a.days - 1).num_rows} products fade")
    return server, wh, sim, days, seconds


def main(argv: list[str]) -> int:
    a = arguments(argv)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = bench_spark("bench-slow-movers")
    with tempfile.TemporaryDirectory(prefix="bench-slow-movers-") as tmp:
        server, wh, sim, days, sim_s = build(a, Path(tmp), spark)
        try:
            t = time.perf_counter()
            result = train(spark, wh, a.sm, days[-1])
            train_s = time.perf_counter() - t
            classifier = Classifier(VersionInfo("bench", "bench", None, (), 0), result.model,
                                    result.threshold)
            t = time.perf_counter()
            scored, flagged = score_day(spark, wh, classifier, a.sm, days[-1])
            score_s = time.perf_counter() - t
        finally:
            wh.close()
            server.stop()
    ev = result.evaluation
    frame = ev.scored
    fades = sim.planted.fades(through=a.days - 1).to_pandas()
    figures = {
        "chain": {"stores": a.stores, "products": a.products, "days": a.days,
                  "fade_rate": a.fade_rate, "faded_products": len(fades),
                  "feature_days": [str(d) for d in days]},
        "settings": a.sm.model_dump(),
        "origins": {"train": [str(d) for d in result.train_origins],
                    "eval": [str(d) for d in result.eval_origins]},
        "seconds": {"simulate_close_featurize": round(sim_s, 1), "train": round(train_s, 1),
                    "score_day": round(score_s, 1)},
        "training_rows": result.rows, "eval_rows": len(frame),
        "positives_share": float(frame["label"].mean()),
        "scored_pairs": scored, "flagged_pairs": flagged,
        "model": ev.model, "rule": ev.rule, "ratios": ratios(ev),
        "fades": {"model": fade_enrichment(frame, fades, flag="flag"),
                  "rule": fade_enrichment(frame, fades, flag="rule_flag")},
        "elasticity": result.elasticity.to_dict(orient="records")}
    say(f"train {train_s:.1f} s ({result.rows:,} rows), score one day {score_s:.1f} s "
        f"({scored:,} pairs, {flagged:,} slow movers)")
    for name in ("pr_auc", "precision", "recall", "f1", "flagged_share"):
        say(f"{name:>14}: forest {ev.model[name]:.3f}  rule {ev.rule[name]:.3f}")
    for who, got in figures["fades"].items():
        say(f"fades ({who}): {got}")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1, default=str))
    print(json.dumps(figures["ratios"]))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
