"""`make bench-forecast-cost`: what the demand forecast's weekly training and daily
prediction cost at three chain sizes, up to 200 stores x 2,000 SKUs (issue 18, Cost).

The feature store at the larger sizes is **replicated rows: cost only, accuracy measured on
the real chain**. Building a real one at 200 x 2,000 takes about 121 s a day (3 hours for
the 90 days), so each size's store is the cached 20 x 300 chain's
(:mod:`forecast_chain`, built by bench_forecast.py) last ``--days`` days of feature rows,
copied under new ids: store copy ``s`` of store ``S00007`` is ``S00007.s``, product copy
``p`` of ``P00042`` is ``P00042.p`` (copy 0 keeps its id), and each key is
``retail_key(<new id>)`` as the warehouse derives it; every value besides the ids and keys is
the simulator's real feature. Products are copied in the chain's order until the size's
SKU count, stores until its store count. The copy runs in the warehouse (one
``INSERT .. SELECT`` per store copy from the chain's database into a fresh, migrated
database on the same server), not through Python.

Per size, in one Spark session:

* ``train`` with the default tuning grid and backtest, ``history_days`` = ``--days`` - 1,
  ``max_series`` and ``train_fraction`` from the command line (the sampled series are read,
  the rest never), no oracle;
* the daily prediction of the last day - 7 for **every** series (``predict_day``: D's full
  rows, 27 days of its demand columns, the scoring rows, ``predict``, the stock-out risk,
  the insert into ``fact_ml_predictions``), except that the target days' known-ahead
  columns are read from the store's own rows of D + 1 .. D + 7 instead of ``target_rows``
  (the replicated stores have no ``dim_store``/``promotion_calendar`` rows; the columns are
  the same, tests/pkg/ml/forecast/test_targets.py);
* peak memory of the process tree (Python, the JVM, its Python workers; the warehouse
  server is another process, not counted) while each ran.

Baseline in the same run (bench_forecast's): one GBT pipeline of 20 trees of depth 6 on
40,000 of the real chain's training rows; each time is also a ratio to it.

Usage: ``python tests/bench/forecast_cost.py [--sizes 20x300,60x900,200x2000]
[--max-series 1000 --train-fraction 0.1] [--write docs/benchmarks.md] [--keep-json f]``.
A size's figures go to ``--keep-json`` as soon as it is measured, and ``--from-json``
renders the section from a kept file without measuring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_forecast import chain_run_arguments, fit_baseline, measured, spark_session  # noqa: E402
from forecast_chain import Chain, build  # noqa: E402
from report import write_section  # noqa: E402
from stream_common import say  # noqa: E402

from pyspark.sql import functions as F  # noqa: E402

from retail.features.build import TABLE  # noqa: E402
from retail.features.definitions import COLUMNS, KNOWN_AHEAD  # noqa: E402
from retail.features.sources import arrow_for_spark  # noqa: E402
from retail.io.warehouse import connect  # noqa: E402
from retail.ml.forecast import daily, train  # noqa: E402
from retail.ml.forecast.training import training_rows  # noqa: E402
from retail.ml.settings import ForecastSettings  # noqa: E402
from retail.transforms.forecast import PLANNED  # noqa: E402
from retail.warehouse.migrate import Migrator  # noqa: E402

IDS = {"store_id": "{store_copy:UInt32}", "product_id": "p"}  # the id, its copy number
KEYS = {"store_key": "store_id", "product_key": "product_id"}


def replicate(built, stores: int, products: int, first: date, last: date) -> dict:
    """A fresh database ``cost_<stores>x<products>`` on the chain's server holding the
    chain's feature rows of ``first`` .. ``last`` copied to ``stores`` x ``products``."""
    chain, ws = built.chain, built.settings
    db = f"cost_{stores}x{products}"
    admin = connect(ws, database="")
    admin.command(f"DROP DATABASE IF EXISTS {db}")  # our name, never data
    t = time.perf_counter()
    Migrator(admin, db, lambda d: connect(ws, d)).migrate()
    migrate_s = time.perf_counter() - t
    ids = [r[0] for r in built.wh.query_rows(
        f"SELECT DISTINCT product_id FROM {TABLE} ORDER BY product_id")]
    new_id = {c: "if(" + n + " = 0, " + c + ", concat(" + c + ", '.', toString(" + n + ")))"
              for c, n in IDS.items()}
    cols = [new_id.get(c.name) or (f"retail_key({new_id[KEYS[c.name]]})"
                                   if c.name in KEYS else c.name) for c in COLUMNS]
    # column names and expressions are ours (definitions); every value is a bound parameter
    sql = (f"INSERT INTO {db}.{TABLE} ({', '.join(c.name for c in COLUMNS)}) "
           f"SELECT {', '.join(cols)} FROM {built.wh.database}.{TABLE} FINAL "
           "CROSS JOIN (SELECT toUInt32(number) AS p FROM numbers({copies:UInt32})) AS pc "
           "WHERE date BETWEEN {first:Date} AND {last:Date} "
           "AND p * {base:UInt32} + indexOf({ids:Array(String)}, product_id) <= {products:UInt32} "
           "AND toUInt32(extract(store_id, '\\\\d+')) <= {base_stores:UInt32}")
    t = time.perf_counter()
    for s in range(-(-stores // chain.stores)):
        keep = min(chain.stores, stores - s * chain.stores)
        admin.command(sql, {
            "store_copy": s, "copies": -(-products // len(ids)), "first": first, "last": last,
            "base": len(ids), "ids": ids, "products": products, "base_stores": keep})
    copy_s = time.perf_counter() - t
    wh = connect(ws, db)
    series, rows = wh.query_rows(
        f"SELECT uniqExact(store_id, product_id), count() FROM {TABLE}")[0]
    n_stores, n_products = wh.query_rows(
        f"SELECT uniqExact(store_id), uniqExact(product_id) FROM {TABLE}")[0]
    admin.close()
    say(f"{db}: {n_stores} stores x {n_products} products, {series:,} series, {rows:,} rows "
        f"copied in {copy_s:.0f} s (migrations {migrate_s:.0f} s)")
    return {"db": db, "wh": wh, "stores": n_stores, "products": n_products,
            "series": series, "rows": rows, "copy_s": copy_s, "migrate_s": migrate_s}


def baseline(spark, wh, last: date, days: int) -> dict:
    """bench_forecast's baseline fit (20 trees of depth 6 on 40,000 training rows, a hash
    sample), its rows from the real chain's last ``days`` days of 1,000 sampled series (not
    all 92 days of every series: that read alone takes minutes)."""
    _, rows = training_rows(spark, wh, last - timedelta(days=days - 1), last, 7,
                            max_series=1000)
    return fit_baseline(rows)


def store_targets(spark, wh, day: date, horizon: int = 7):
    """``target_rows``'s columns (the target days' known-ahead and planned columns, typed as
    the feature store types them) from the store's own rows of D + 1 .. D + ``horizon``."""
    names = ("store_key", "product_key", "date", *KNOWN_AHEAD, *PLANNED)
    types = {c.name: c.type for c in COLUMNS}
    rows = wh.query_arrow(
        f"SELECT {', '.join(names)} FROM {TABLE} FINAL "
        "WHERE date BETWEEN {first:Date} AND {last:Date}",
        {"first": day + timedelta(days=1), "last": day + timedelta(days=horizon)})
    return spark.createDataFrame(arrow_for_spark(rows)).select(
        *(F.col(c).cast(types[c]) for c in names))


def measure_size(spark, built, stores: int, products: int, settings: ForecastSettings,
                 days: int, *, compare_all: bool = False) -> dict:
    last = built.chain.last
    copy = replicate(built, stores, products, last - timedelta(days=days - 1), last)
    wh = copy.pop("wh")
    try:
        if compare_all:  # the same training on every series: the sample's accuracy effect
            every = settings.model_copy(update={"max_series": None})
            result, seconds, peak = measured(lambda: train(spark, wh, every, last,
                                                           on_step=say))
            say(f"every series: GBT WAPE {result.ratios['gbt']['wape']:.4f} in {seconds:.0f} s")
            return {**copy, "train_s": seconds, "train_mb": peak,
                    "wape": result.ratios["gbt"]["wape"],
                    "to_seasonal_naive": result.ratios["gbt"]["to_seasonal_naive"],
                    "coverage": result.coverage}
        steps: list[tuple[float, str]] = []

        def on_step(msg: str) -> None:
            steps.append((time.perf_counter(), msg))
            say(msg)

        started = time.perf_counter()
        result, train_s, train_mb = measured(
            lambda: train(spark, wh, settings, last, on_step=on_step))
        read_s = steps[0][0] - started if steps else train_s
        say(f"{stores}x{products}: trained in {train_s:.0f} s (read {read_s:.0f} s), "
            f"GBT WAPE {result.ratios['gbt']['wape']:.4f} on the sample")
        sampled = len({(r["store_id"], r["product_id"]) for r in result.backtest.select(
            ["store_id", "product_id"]).to_pylist()})
        day = last - timedelta(days=7)
        forecaster = SimpleNamespace(model=result.model, quantiles=result.quantiles,
                                     version=SimpleNamespace(version="bench-cost"))
        real_targets = daily.target_rows
        daily.target_rows = lambda sp, w, d, h: store_targets(sp, w, d, h)
        try:
            done, predict_s, predict_mb = measured(
                lambda: daily.predict_day(spark, wh, forecaster, day))
        finally:
            daily.target_rows = real_targets
        say(f"{stores}x{products}: predicted {done.rows:,} rows of {done.pairs:,} series "
            f"in {predict_s:.0f} s")
        return {**copy, "train_s": train_s, "train_read_s": read_s, "train_mb": train_mb,
                "fits": [(m, s) for m, s in _spans(steps, started + train_s)],
                "sampled_series": sampled, "wape": result.ratios["gbt"]["wape"],
                "to_seasonal_naive": result.ratios["gbt"]["to_seasonal_naive"],
                "coverage": result.coverage,
                "params": result.params, "predict_day": str(day), "pairs": done.pairs,
                "predicted_rows": done.rows, "predict_s": predict_s,
                "predict_mb": predict_mb}
    finally:
        wh.command(f"DROP DATABASE IF EXISTS {copy['db']}")
        wh.close()


def _spans(steps, end):
    return [(msg, (steps[i + 1][0] if i + 1 < len(steps) else end) - t)
            for i, (t, msg) in enumerate(steps)]


def run(args) -> dict:
    chain = Chain(20, 300, 120)
    settings = ForecastSettings(**json.loads(args.settings)).model_copy(update={
        "history_days": args.days - 1, "max_series": args.max_series,
        "train_fraction": args.train_fraction})
    r: dict = {"started": str(datetime.now(UTC)), "argv": sys.argv[1:],
               "driver_memory": args.driver_memory,
               "settings": settings.model_dump(mode="json"), "days": args.days, "sizes": []}
    spark = spark_session(args.driver_memory)
    built = build(chain, spark, args.root)
    try:
        r["baseline"] = baseline(spark, built.wh, chain.last, args.days)
        keep(args, r)
        for size in args.sizes.split(","):
            stores, products = (int(x) for x in size.split("x"))
            r["sizes"].append(measure_size(spark, built, stores, products, settings, args.days))
            keep(args, r)
        if args.compare_all:
            r["every"] = measure_size(spark, built, chain.stores, chain.products, settings,
                                      args.days, compare_all=True)
            keep(args, r)
    finally:
        built.stop()
        spark.stop()
    r["finished"] = str(datetime.now(UTC))
    keep(args, r)
    return r


def keep(args, r: dict) -> None:
    if args.keep_json:
        args.keep_json.write_text(json.dumps(r, default=str, indent=1))


def _x(v: float, base: float) -> str:
    return f"{v / base:,.1f}x"


def _grid(values) -> str:
    return " / ".join(f"{v:g}" for v in values)


def render(r: dict) -> str:
    base, s = r["baseline"]["seconds"], r["settings"]
    sizes = sorted(r["sizes"], key=lambda z: z["series"])
    started = datetime.fromisoformat(r["started"])
    lines = [
        "## Forecast cost at three sizes (issue 18, Cost)",
        "",
        f"`python tests/bench/forecast_cost.py {' '.join(r['argv'])}`, run "
        f"{started:%Y-%m-%d %H:%M} UTC, 2 cores shared with a CI run of the test suite.",
        "",
        "**Replicated rows: cost only, accuracy measured on the real chain** (the forecast "
        "section above). Each size's feature store is the cached 20 x 300 chain's last "
        f"{r['days']} days of feature rows copied under new store and product ids and their "
        "`retail_key`s (every other value a real simulator feature), into a fresh database "
        "on the chain's warehouse server: building a real store at 200 x 2,000 takes about "
        "121 s a day, 3 hours for 90 days.",
        "",
        f"Training: `train` with the default grid (depth {_grid(s['max_depth'])}, "
        f"{_grid(s['max_iter'])} trees, step {_grid(s['step_size'])}, subsampling "
        f"{_grid(s['subsampling_rate'])}), "
        f"{s['backtest_origins']} weekly origins, AutoETS on {s['ets_series']} series, "
        f"`history_days` {s['history_days']}, **`max_series` {s['max_series']}** (a hash "
        f"sample read in the warehouse's query; the rest never read), `train_fraction` "
        f"{s['train_fraction']:g}; no oracle. Prediction: `predict_day` for every series "
        "of one day, 7 horizons, written to `fact_ml_predictions`, with the target days' "
        "known-ahead columns read from the store's own rows instead of `target_rows` (the "
        "copies have no dimension rows). Peak: resident memory of the process tree "
        "(Python, Spark's JVM with a "
        f"{r['driver_memory']} heap, its Python workers); the warehouse server is not "
        "counted.",
        "",
        f"Baseline in the same run: one GBT pipeline of 20 trees of depth 6 on "
        f"{r['baseline']['rows']:,} training rows, {base:.1f} s.",
        "",
        "| stores x SKUs | series | feature rows | series trained on | train s | x baseline "
        "| of which reading | train peak GB | predicted rows | predict s | x baseline | "
        "predict peak GB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for z in sizes:
        lines.append(
            f"| {z['stores']} x {z['products']:,} | {z['series']:,} | {z['rows']:,} | "
            f"{z['sampled_series']:,} | "
            f"{z['train_s']:,.0f} | {_x(z['train_s'], base)} | {z['train_read_s']:,.0f} | "
            f"{z['train_mb'] / 1024:.1f} | {z['predicted_rows']:,} | {z['predict_s']:,.0f} | "
            f"{_x(z['predict_s'], base)} | {z['predict_mb'] / 1024:.1f} |")
    if sizes:
        big = sizes[-1]
        lines += [
            "",
            f"Targets at {big['stores']} x {big['products']:,} on 2 cores: weekly training "
            f"with tuning under 30 minutes: {big['train_s'] / 60:.1f} min "
            f"({'met' if big['train_s'] < 1800 else '**not met**'}); daily predictions "
            f"under 5 minutes: {big['predict_s'] / 60:.1f} min "
            f"({'met' if big['predict_s'] < 300 else '**not met**'}).",
            "",
            "Each fit of the largest size (a line runs until the next starts; the last "
            "origin's includes AutoETS on its series; \"series trained on\" counts the "
            "backtest's scored series):",
            "",
            "| step | seconds | x baseline |", "|---|---:|---:|",
            f"| read the sample, stack, cache (before the first fit) | "
            f"{big['train_read_s']:,.0f} | {_x(big['train_read_s'], base)} |",
            *(f"| {m} | {sec:,.0f} | {_x(sec, base)} |" for m, sec in big["fits"]),
            "",
            "Copying the rows (not part of the cost): " + "; ".join(
                f"{z['stores']} x {z['products']:,} {z['copy_s']:.0f} s" for z in sizes) + ".",
        ]
    return "\n".join(lines) + "\n"


def render_sample(r: dict) -> str | None:
    """The series sample's effect on accuracy: the sampled 20 x 300 run against the same
    training on every series, both of this run (None when the run did not compare)."""
    s, sizes = r["settings"], r["sizes"]
    real = next((z for z in sizes if z["stores"] == 20 and z["products"] == 300), None)
    if not (real and "every" in r):
        return None
    e, started = r["every"], datetime.fromisoformat(r["started"])
    lines = [
        "## What the series sample does to accuracy (issue 18, Cost)",
        "",
        f"`python tests/bench/forecast_cost.py {' '.join(r['argv'])}`, run "
        f"{started:%Y-%m-%d %H:%M} UTC on 2 cores. Baseline in the same run: one GBT "
        f"pipeline of 20 trees of depth 6 on {r['baseline']['rows']:,} training rows, "
        f"{r['baseline']['seconds']:.1f} s.",
        "",
        f"The same training on the chain's {r['days']} days, `train_fraction` "
        f"{s['train_fraction']:g}, with `max_series` {s['max_series']} and with every "
        "series. Each backtest scores its own series (the sample's, or all), so the "
        "comparable figure is the GBT's WAPE relative to seasonal naive on the same "
        "series:",
        "",
        "| series | GBT WAPE | / seasonal naive | coverage 80 / 95 | train s "
        "| x baseline |",
        "|---|---:|---:|---|---:|---:|",
        *(f"| {label} | {z['wape']:.4f} | {z['to_seasonal_naive']:.3f} | "
          f"{z['coverage']['80']:.1%} / {z['coverage']['95']:.1%} | {z['train_s']:,.0f} "
          f"| {_x(z['train_s'], r['baseline']['seconds'])} |"
          for label, z in ((f"{real['sampled_series']:,} (max_series "
                            f"{s['max_series']})", real), (f"{e['series']:,} (all)", e))),
        "",
        f"Ratio sample / all: WAPE {real['wape'] / e['wape']:.3f}, WAPE / seasonal naive "
        f"{real['to_seasonal_naive'] / e['to_seasonal_naive']:.3f}, training time "
        f"{real['train_s'] / e['train_s']:.2f}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="20x300,60x900,200x2000",
                   help="stores x SKUs, comma-separated, each at most 10x the chain's")
    p.add_argument("--days", type=int, default=63,
                   help="the chain's last days copied: 4 origins + 5 weeks to learn from")
    p.add_argument("--max-series", type=int, default=1000)
    p.add_argument("--train-fraction", type=float, default=0.1)
    p.add_argument("--compare-all", action="store_true",
                   help="also train on every series of the real 20 x 300 chain's copy")
    p.add_argument("--settings", default="{}", help="other ForecastSettings, JSON")
    chain_run_arguments(p)
    p.add_argument("--from-json", type=Path, help="render a kept run, measure nothing")
    p.add_argument("--sections", default="cost,sample",
                   help="which sections to write: cost (the sizes), sample (--compare-all's)")
    args = p.parse_args()
    r = json.loads(args.from_json.read_text()) if args.from_json else run(args)
    sections = set(args.sections.split(","))
    for name, text in (("forecast-cost", render(r) if "cost" in sections else None),
                       ("forecast-sample", render_sample(r) if "sample" in sections else None)):
        if text:
            print(text)
            if args.write:
                write_section(args.write, name, text)


if __name__ == "__main__":
    main()
