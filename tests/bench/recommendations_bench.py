"""`make bench-models` (cross-sell): ALS and the basket affinities on a simulated chain with
planted complements and loyal customers: what training and scoring cost, ALS's recall@10
and precision@10 on the held-out last baskets as ratios to the popularity baseline's, and
the share of the planted complement pairs each affinity method finds in its anchor's top 10.

1. The chain: ``--stores`` x ``--products`` simulated for ``--days`` days into a local
   warehouse server of its own (a temporary folder). No day needs closing: the models read
   the sales, the stock movements and the lost sales.
2. ``train`` as of the last day with :class:`RecommendationSettings` (``--settings`` JSON
   overrides them; the window defaults to the whole run): the held-out evaluation of ALS and
   popularity, the final ALS and FPGrowth fits.
3. ``score`` of the last day (customers, stores, both affinity methods) into
   ``ml_recommendations`` and ``ml_product_affinity``, with the trained models (no
   registry: the benchmark measures the models, not MLflow).

Usage: ``python tests/bench/recommendations_bench.py --stores 200 --products 2000 --days
120``; ``--stores 4 --products 120 --days 49`` checks the script in a few minutes. ``--json
PATH`` keeps the figures.
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

# the repository (tests.conftest imports tests.insight_chain), tests/ and this folder
for folder in Path(__file__).resolve().parents[2], *Path(__file__).resolve().parents[:2]:
    sys.path.insert(0, str(folder))
from insight_common import bench_spark, chain_arguments, simulated_chain  # noqa: E402
from stream_common import say  # noqa: E402


from retail.ml.recommendations.daily import affinity_rows, score_day  # noqa: E402
from retail.ml.recommendations.evaluation import pair_recovery  # noqa: E402
from retail.ml.recommendations.registered import Recommender, train  # noqa: E402
from retail.ml.recommendations.settings import RecommendationSettings  # noqa: E402
from retail.ml.registry import VersionInfo  # noqa: E402


def arguments(argv: list[str]) -> argparse.Namespace:
    p = chain_arguments(__doc__.splitlines()[0], days=120,
                        settings="RecommendationSettings (window_days defaults to --days)")
    a = p.parse_args(argv)
    if a.stores < 1 or a.products < 2 or a.days < 7:
        p.error("--stores 1+, --products 2+ and --days 7+ (a week to hold a basket out of)")
    a.rs = RecommendationSettings(**{"window_days": min(a.days, 730),
                                     **json.loads(a.settings)})
    return a


def build(a: argparse.Namespace, folder: Path):
    """Simulate into a warehouse server of its own; (server, warehouse, simulator, seconds)."""
    server, wh, sim, seconds = simulated_chain(a, folder, f"bench-recommendations-{a.seed}")
    say(f"{sim.planted.affinities().num_rows} planted (anchor, partner) pairs")
    return server, wh, sim, seconds


def main(argv: list[str]) -> int:
    a = arguments(argv)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = bench_spark("bench-recommendations")
    last = a.start + timedelta(days=a.days - 1)
    with tempfile.TemporaryDirectory(prefix="bench-recommendations-") as tmp:
        server, wh, sim, sim_s = build(a, Path(tmp))
        try:
            t = time.perf_counter()
            result = train(spark, wh, a.rs, last, on_step=say)
            train_s = time.perf_counter() - t
            recommender = Recommender(VersionInfo("bench", "bench", None, (), 0), result.model,
                                      result.partners)
            t = time.perf_counter()
            scored = score_day(spark, wh, recommender, a.rs, last)
            score_s = time.perf_counter() - t
            planted = sim.planted.affinities()
            found = {method: pair_recovery(frame, planted) for method, frame in
                     affinity_rows(recommender, spark, n=a.rs.top_n).items()}
        finally:
            wh.close()
            server.stop()
    figures = {
        "chain": {"stores": a.stores, "products": a.products, "days": a.days,
                  "planted_pairs": planted.num_rows,
                  "loyal_customers": sim.planted.customers().num_rows},
        "settings": a.rs.model_dump(),
        "seconds": {"simulate": round(sim_s, 1), "train": round(train_s, 1),
                    "score_day": round(score_s, 1)},
        "als": result.metrics, "popularity": result.baseline, "ratios": result.ratios,
        "scored": scored.as_details(), "planted_pairs_found": found}
    say(f"train {train_s:.1f} s ({int(result.metrics['baskets']):,} baskets, "
        f"{int(result.metrics['judged_customers']):,} customers judged), score one day "
        f"{score_s:.1f} s ({scored.rows:,} rows)")
    for name in ("recall_at_10", "precision_at_10"):
        ratio = result.ratios.get(f"{name}_to_popularity", float("nan"))
        say(f"{name:>16}: ALS {result.metrics[name]:.3f}  popularity "
            f"{result.baseline[name]:.3f}  ratio {ratio:.2f}")
    for method, got in found.items():
        say(f"planted pairs in the top 10 ({method}): {got['found']}/{got['pairs']} "
            f"({got['share']:.0%}; {got['share_of_sold']:.0%} of those whose anchor sold)")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1, default=str))
    print(json.dumps({"ratios": result.ratios,
                      "planted_share": {m: g["share"] for m, g in found.items()}}))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
