"""`make bench` (forecast): the demand forecast's accuracy on a 20-store x 300-SKU chain of
120 days, against its baselines and the simulator's oracle, and what the training costs.

1. The chain (:mod:`forecast_chain`): simulated into a local warehouse server with the
   oracle recorded, each feature day's end-of-day snapshot, the feature store built for
   the last ``--feature-days`` days; kept under ``.retail/bench-forecast/<size, seed>`` so
   a re-run only trains (the first build takes about 20 minutes on 2 cores).
2. ``train`` with the default :class:`ForecastSettings` (``--train-fraction`` and
   ``--settings`` JSON override them) up to the chain's last day: the rolling-origin
   backtest over the last 4 weekly origins, every model's WAPE, MAE, bias and RMSSE overall
   and per horizon, ratios to seasonal naive and to the oracle, interval coverage on the
   last origin, the final fit.
3. ``predict`` for every store x product of one day and 7 horizons.
4. With ``--compare-fraction F``, the backtest again with ``train_fraction = F``: what
   sampling the training rows does to accuracy and time.

Baseline in the same run: one GBT pipeline of 20 trees of depth 6 fitted on 40,000 of the
chain's training rows (the size docs/ENVIRONMENT quotes); each time is also given as a ratio
to it. Peak memory: the benchmark's process tree (Python, Spark's JVM and its Python
workers), sampled every half second.

Usage: ``python tests/bench/bench_forecast.py [--stores 20 --products 300 --days 120]
[--compare-fraction 1.0] [--write docs/benchmarks.md] [--keep-json out.json]``;
``--stores 5 --products 60 --days 70 --feature-days 50`` checks the script in minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_chain import ROOT, Chain, build  # noqa: E402
from forecast_report import render  # noqa: E402
from report import write_section  # noqa: E402
from stream_common import say  # noqa: E402

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from retail.features.definitions import KNOWN_AHEAD  # noqa: E402
from retail.ml.forecast import model as gbt  # noqa: E402
from retail.ml.forecast import predict, train  # noqa: E402
from retail.ml.forecast.training import training_rows  # noqa: E402
from retail.ml.settings import ForecastSettings  # noqa: E402
from retail.transforms.forecast import stack_horizons  # noqa: E402

BASELINE_ROWS, BASELINE_PARAMS = 40_000, {"maxDepth": 6, "maxIter": 20, "stepSize": 0.1,
                                          "subsamplingRate": 0.8}


class Peak:
    """Peak resident memory of this process and its descendants, sampled twice a second."""

    def __init__(self) -> None:
        self.peak_mb, self.done = 0.0, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    @staticmethod
    def _tree_mb() -> float:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                children.setdefault(int(stat[1]), []).append(int(d))
                rss[int(d)] = int(stat[21])
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo += children.get(pid, [])
        return total * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _watch(self) -> None:
        while not self.done.wait(0.5):
            self.peak_mb = max(self.peak_mb, self._tree_mb())

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak_mb


def measured(fn):
    """(fn(), seconds, peak MB of the process tree while it ran)."""
    peak, t = Peak(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, peak.stop()


def spark_session(memory: str) -> SparkSession:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("bench-forecast")
             .config("spark.driver.memory", memory)
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def baseline_fit(spark, wh, chain: Chain) -> dict:
    """One GBT pipeline fit of :data:`BASELINE_PARAMS` on :data:`BASELINE_ROWS` training
    rows (a hash sample, the same in every run)."""
    _, rows = training_rows(spark, wh, chain.first_feature_day, chain.last, 7)
    return fit_baseline(rows)


def fit_baseline(rows) -> dict:
    """The baseline fit on a hash sample of :data:`BASELINE_ROWS` of ``rows`` (prepared
    training rows): its rows, seconds and peak memory."""
    share = min(1.0, BASELINE_ROWS / rows.count())
    bucket = F.pmod(F.xxhash64("store_id", "product_id", "date", "horizon"), F.lit(10_000))
    sample = rows.filter(bucket < int(share * 10_000)).cache()
    n = sample.count()
    _, seconds, peak = measured(lambda: gbt.fit(sample, BASELINE_PARAMS, per_horizon=False))
    sample.unpersist()
    say(f"baseline: a GBT of 20 trees on {n:,} rows in {seconds:.1f} s")
    return {"rows": n, "seconds": seconds, "peak_mb": peak}


def timed_train(spark, wh, chain: Chain, settings: ForecastSettings, oracle) -> dict:
    steps: list[tuple[float, str]] = []

    def on_step(msg: str) -> None:
        steps.append((time.perf_counter(), msg))
        say(msg)

    result, seconds, peak = measured(
        lambda: train(spark, wh, settings, chain.last, oracle=oracle, on_step=on_step))
    end = time.perf_counter()
    spans = [(msg, (steps[i + 1][0] if i + 1 < len(steps) else end) - t)
             for i, (t, msg) in enumerate(steps)]
    say(f"trained in {seconds:.0f} s; GBT WAPE {result.ratios['gbt']['wape']:.4f}, "
        f"coverage {result.coverage}")
    return {"result": result, "seconds": seconds, "peak_mb": peak, "steps": spans,
            "settings": settings.model_dump()}


def timed_predict(spark, wh, chain: Chain, result) -> dict:
    """``predict`` for every series of D = last - 7 (every horizon's target in the store,
    so the target days' known-ahead inputs come from it) and 7 horizons."""
    day = chain.last - timedelta(days=7)
    store, _ = training_rows(spark, wh, day - timedelta(days=35), chain.last, 7)
    rows = stack_horizons(store, horizons=range(1, 8), known_ahead=KNOWN_AHEAD)
    rows = rows.filter(F.col("date") == F.lit(day)).drop("label").cache()
    n = rows.count()

    def run():
        return predict(result.model, rows, result.quantiles).toArrow().num_rows

    out, seconds, peak = measured(run)
    rows.unpersist()
    say(f"predicted {out:,} rows in {seconds:.1f} s")
    return {"rows": out, "inputs": n, "seconds": seconds, "peak_mb": peak}


def run(args) -> dict:
    chain = Chain(args.stores, args.products, args.days, seed=args.seed, rate=args.rate,
                  feature_days=args.feature_days)
    r: dict = {"started": datetime.now(UTC), "chain": chain, "argv": sys.argv[1:]}
    spark = spark_session(args.driver_memory)
    built = build(chain, spark, args.root)
    try:
        oracle = built.oracle
        r["build"] = {**built.timings, "pairs": len(set(zip(
            oracle["store_id"].to_pylist(), oracle["product_id"].to_pylist())))}
        r["baseline"] = baseline_fit(spark, built.wh, chain)
        settings = ForecastSettings(**json.loads(args.settings))
        if args.train_fraction:
            settings = settings.model_copy(update={"train_fraction": args.train_fraction})
        r["train"] = timed_train(spark, built.wh, chain, settings, oracle)
        r["predict"] = timed_predict(spark, built.wh, chain, r["train"]["result"])
        if args.compare_fraction:
            other = settings.model_copy(update={"train_fraction": args.compare_fraction,
                                                "ets_series": 0})
            r["compare"] = timed_train(spark, built.wh, chain, other, oracle)
    finally:
        built.stop()
        spark.stop()
    r["finished"] = datetime.now(UTC)
    return r


def chain_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options every benchmark on the cached chain takes: the Spark heap, where chains
    are kept, the report and the kept figures."""
    p.add_argument("--driver-memory", default="6g")
    p.add_argument("--root", type=Path, default=ROOT, help="where built chains are kept")
    p.add_argument("--write", type=Path, help="the report to write the section into")
    p.add_argument("--keep-json", type=Path, help="also keep the figures as JSON")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stores", type=int, default=20)
    p.add_argument("--products", type=int, default=300)
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--feature-days", type=int, default=92,
                   help="the last days the feature store is built for")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rate", type=float, default=4.0, help="events per minute per store")
    p.add_argument("--settings", default="{}", help="ForecastSettings overrides, JSON")
    p.add_argument("--train-fraction", type=float,
                   help="override ForecastSettings.train_fraction")
    p.add_argument("--compare-fraction", type=float,
                   help="also run the backtest with this train_fraction")
    chain_run_arguments(p)
    p.add_argument("--keep-backtest", type=Path,
                   help="also write the main run's scored rows (every model) as Parquet")
    args = p.parse_args()
    r = run(args)
    text = render(args, r)
    if args.keep_json:
        plain = {k: v for k, v in r.items() if k not in ("train", "compare")}
        for k in ("train", "compare"):
            if k in r:
                res = r[k]["result"]
                plain[k] = {**{x: y for x, y in r[k].items() if x != "result"},
                            "metrics": res.metrics, "ratios": res.ratios,
                            "coverage": res.coverage, "params": res.params,
                            "tuning": res.tuning, "seconds": res.seconds,
                            "features": res.feature_importance[:15]}
        args.keep_json.write_text(json.dumps(plain, default=str, indent=1))
    if args.keep_backtest:
        import pyarrow.parquet as pq
        pq.write_table(r["train"]["result"].backtest, args.keep_backtest)
    print(text)
    if args.write:
        write_section(args.write, "forecast", text)


if __name__ == "__main__":
    main()
