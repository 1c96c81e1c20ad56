"""`make bench-forecast-strategy`: the direct strategy's two forms measured on the same
chain (issue 18: "the horizon is a feature or there is a model per horizon (your choice,
measured)").

On the cached 20-store x 300-SKU chain of 120 days (:mod:`forecast_chain`, built by
bench_forecast.py), ``train`` runs twice with the same settings, origins, series and
sampled rows, once per :attr:`ForecastSettings.strategy`:

* ``stacked``: one GBT over the rows of every horizon, the horizon a feature (the default,
  and the only form the registry takes: one Spark pipeline per registered version);
* ``per_horizon``: seven GBTs, each fitted on its horizon's rows only.

Each reports the backtest's GBT WAPE overall and per horizon, its ratio to seasonal naive
and to the oracle on the same rows, the intervals' coverage on the last origin, and the
training time. Baseline in the same run (bench_forecast's): one GBT pipeline of 20 trees of
depth 6 on 40,000 training rows; each time is also a ratio to it.

Usage: ``python tests/bench/forecast_strategy.py [--max-series 1000 --train-fraction 0.25]
[--write docs/benchmarks.md] [--keep-json f] [--from-json f]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_forecast import baseline_fit, chain_run_arguments, spark_session, timed_train  # noqa: E402
from forecast_chain import Chain, build  # noqa: E402
from report import write_section  # noqa: E402

from retail.ml.settings import ForecastSettings  # noqa: E402

STRATEGIES = ("stacked", "per_horizon")


def _figures(trained: dict) -> dict:
    res = trained["result"]
    per_h = {m["horizon"]: m["wape"] for m in res.metrics
             if m["model"] == "gbt" and m["sample"] == "all"
             and m["level"] == "store_product_day" and m["horizon"] is not None}
    return {"seconds": trained["seconds"], "peak_mb": trained["peak_mb"],
            "ratios": res.ratios, "coverage": res.coverage, "per_horizon": per_h,
            "rows": next(m["rows"] for m in res.metrics if m["model"] == "gbt"
                         and m["sample"] == "all" and m["level"] == "store_product_day"
                         and m["horizon"] is None)}


def run(args) -> dict:
    chain = Chain(20, 300, 120)
    base = ForecastSettings(**json.loads(args.settings)).model_copy(update={
        "max_series": args.max_series, "train_fraction": args.train_fraction,
        "ets_series": 0})
    r: dict = {"started": str(datetime.now(UTC)), "argv": sys.argv[1:],
               "settings": base.model_dump(mode="json"), "runs": {}}
    spark = spark_session(args.driver_memory)
    built = build(chain, spark, args.root)
    try:
        r["baseline"] = baseline_fit(spark, built.wh, chain)
        for strategy in STRATEGIES:
            settings = base.model_copy(update={"strategy": strategy})
            r["runs"][strategy] = _figures(
                timed_train(spark, built.wh, chain, settings, built.oracle))
            if args.keep_json:
                args.keep_json.write_text(json.dumps(r, default=str, indent=1))
    finally:
        built.stop()
        spark.stop()
    return r


def render(r: dict) -> str:
    s, base = r["settings"], r["baseline"]["seconds"]
    runs = r["runs"]
    started = datetime.fromisoformat(r["started"])
    st, ph = runs["stacked"], runs["per_horizon"]
    horizons = sorted(int(h) for h in st["per_horizon"])
    lines = [
        "## Forecast strategy: stacked vs one model per horizon (issue 18)",
        "",
        f"`python tests/bench/forecast_strategy.py {' '.join(r['argv'])}`, run "
        f"{started:%Y-%m-%d %H:%M} UTC on 2 cores. The cached 20 x 300 chain of 120 days; "
        f"both trainings with the same grid (depth {s['max_depth']}, trees {s['max_iter']}, "
        f"step {s['step_size']}, subsampling {s['subsampling_rate']}), "
        f"{s['backtest_origins']} weekly origins, `max_series` {s['max_series']}, "
        f"`train_fraction` {s['train_fraction']:g}, no AutoETS. Baseline in the same run: "
        f"one GBT pipeline of 20 trees of depth 6 on {r['baseline']['rows']:,} training "
        f"rows, {base:.1f} s.",
        "",
        "| strategy | GBT WAPE | / seasonal naive | / oracle | coverage 80 / 95 | scored rows "
        "| train s | x baseline |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name in STRATEGIES:
        z = runs[name]
        g = z["ratios"]["gbt"]
        lines.append(f"| {name} | {g['wape']:.4f} | {g['to_seasonal_naive']:.3f} | "
                     f"{g['to_oracle']:.3f} | {z['coverage']['80']:.1%} / "
                     f"{z['coverage']['95']:.1%} | {z['rows']:,} | {z['seconds']:,.0f} | "
                     f"{z['seconds'] / base:,.1f}x |")
    lines += ["", "GBT WAPE per horizon:", "",
              "| horizon | stacked | per horizon | per horizon / stacked |",
              "|---:|---:|---:|---:|"]
    for h in horizons:
        a, b = st["per_horizon"][str(h)], ph["per_horizon"][str(h)]
        lines.append(f"| {h} | {a:.4f} | {b:.4f} | {b / a:.3f} |")
    ratio = ph["ratios"]["gbt"]["wape"] / st["ratios"]["gbt"]["wape"]
    better = "stacked" if ratio > 1 else "per_horizon"
    lines += ["", f"Per horizon / stacked: WAPE {ratio:.3f}, training time "
              f"{ph['seconds'] / st['seconds']:.2f}. Lower WAPE in this run: **{better}**. "
              "The platform trains `stacked` (`RETAIL_FORECAST__STRATEGY`); the registry "
              "refuses `per_horizon`, whose seven pipelines are not one Spark model."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-series", type=int, default=1000)
    p.add_argument("--train-fraction", type=float, default=0.25)
    p.add_argument("--settings", default="{}", help="other ForecastSettings, JSON")
    chain_run_arguments(p)
    p.add_argument("--from-json", type=Path, help="render a kept run, measure nothing")
    args = p.parse_args()
    r = json.loads(args.from_json.read_text()) if args.from_json else run(args)
    r = json.loads(json.dumps(r, default=str))  # horizons as the kept file spells them
    text = render(r)
    print(text)
    if args.write:
        write_section(args.write, "forecast-strategy", text)


if __name__ == "__main__":
    main()
