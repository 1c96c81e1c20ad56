"""The forecast benchmark's section of docs/benchmarks.md, from what bench_forecast.py
measured. Every verdict is computed here from the run's figures."""

from __future__ import annotations

import platform

MODELS = ("gbt", "seasonal_naive", "mean_28", "ets", "oracle")
NAMES = {"gbt": "GBT", "seasonal_naive": "seasonal naive", "mean_28": "28-day mean",
         "ets": "AutoETS", "oracle": "oracle (expected demand)"}
FIGURES = ("wape", "mae", "bias", "rmsse")


def _x(v: float, base: float) -> str:
    return f"{v / base:,.1f}x" if base else "-"


def _overall(metrics: list[dict], sample: str, level: str) -> dict[str, dict]:
    return {m["model"]: m for m in metrics if m["sample"] == sample and m["level"] == level
            and m["horizon"] is None}


def _table(rows: dict[str, dict], ratios: dict | None) -> list[str]:
    out = ["| model | WAPE | MAE | bias | RMSSE | WAPE / seasonal naive | WAPE / oracle | rows |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    naive, oracle = (rows.get(m, {}).get("wape") for m in ("seasonal_naive", "oracle"))
    for m in MODELS:
        if m not in rows:
            continue
        r = rows[m]
        out.append(f"| {NAMES[m]} | {r['wape']:.3f} | {r['mae']:.2f} | {r['bias']:+.3f} | "
                   f"{r['rmsse']:.3f} | {r['wape'] / naive:.3f} | "
                   f"{r['wape'] / oracle if oracle else float('nan'):.3f} | {r['rows']:,} |")
    return out


def _per_horizon(metrics: list[dict]) -> list[str]:
    rows = {(m["model"], m["horizon"]): m for m in metrics
            if m["sample"] == "all" and m["level"] == "store_product_day"
            and m["horizon"] is not None}
    models = [m for m in MODELS if any(k[0] == m for k in rows)]
    out = ["| horizon | " + " | ".join(f"{NAMES[m]} WAPE / MAE / bias / RMSSE"
                                       for m in models) + " |",
           "|---:|" + "---:|" * len(models)]
    for h in sorted({k[1] for k in rows}):
        cells = [" / ".join(f"{rows[(m, h)][f]:.3f}" if f != "bias" else
                            f"{rows[(m, h)][f]:+.3f}" for f in FIGURES) for m in models]
        out.append(f"| {h} | " + " | ".join(cells) + " |")
    return out


def verdicts(result) -> list[tuple[str, bool, str]]:
    """(criterion, met, the figures) of the issue's accuracy acceptance."""
    ratios, cov = result.ratios, result.coverage
    gbt = ratios["gbt"]["wape"]
    sample = _overall(result.metrics, "ets_sample", "store_product_day")
    out = [("GBT WAPE at least 20 % below seasonal naive",
            ratios["gbt"]["to_seasonal_naive"] <= 0.8,
            f"{ratios['gbt']['to_seasonal_naive']:.3f}x"),
           ("GBT WAPE below the 28-day mean's", gbt < ratios["mean_28"]["wape"],
            f"{gbt:.3f} vs {ratios['mean_28']['wape']:.3f}")]
    if "ets" in sample:
        out.append(("GBT WAPE below AutoETS's on AutoETS's sample",
                    sample["gbt"]["wape"] < sample["ets"]["wape"],
                    f"{sample['gbt']['wape']:.3f} vs {sample['ets']['wape']:.3f} "
                    f"({sample['ets']['rows']:,} rows)"))
    for level, nominal in (("80", 0.80), ("95", 0.95)):
        out.append((f"{level} % interval coverage on the last origin within 3 points",
                    abs(cov[level] - nominal) <= 0.03, f"{cov[level]:.1%}"))
    return out


def _build(b: dict) -> list[str]:
    c = b["chain"]
    return [
        f"The chain: {c['stores']} stores x {c['products']} SKUs (the catalog's assortment: "
        f"{b.get('pairs', 0):,} store x product series), {c['days']} days from {c['start']}, "
        f"rate {c['rate']:g} events/min/store, seed {c['seed']}; "
        f"{b['fact_rows'].get('fact_sales', 0):,} sales lines. Built once and cached: "
        f"simulated into the warehouse in {b['sim_s']:.0f} s ({b['sim_s_per_day']:.2f} s a "
        f"day); the end-of-day snapshot of the {b['feature_days']} feature days "
        f"{b['snapshot_s']:.0f} s; `build_features` of those days {b['features_s']:.0f} s "
        f"({b['features_s_per_day']:.1f} s a day, one Spark session).",
        "What was not run: the daily ETL's lake parsing and fact completion (the simulator "
        "wrote the facts straight into the warehouse, as the stream would, so there was "
        "nothing to complete; only its snapshot step ran), the features' lake copy, MLflow.",
    ]


def render(args, r: dict) -> str:
    t, res = r["train"], r["train"]["result"]
    base = r["baseline"]["seconds"]
    folds = res.folds
    lines = [
        "## Forecast (`make bench`, forecast)",
        "",
        f"`python tests/bench/bench_forecast.py {' '.join(r['argv'])}`, run "
        f"{r['started']:%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{(r['finished'] - r['started']).total_seconds() / 60:.0f} min.",
        "",
        *_build(r["build"]),
        "",
        f"Backtest: {len(folds)} weekly origins {folds[0]['origin']} .. {folds[-1]['origin']} "
        f"(each scores the 7 days from its origin with the features of the day before, "
        f"trained on every target day before it); GBT parameters {res.params}; "
        f"`train_fraction` {t['settings']['train_fraction']:g}; AutoETS on "
        f"{t['settings']['ets_series']} sampled series.",
        "",
        "### Acceptance (issue 18, Accuracy)",
        "",
        "| criterion | met | figures |", "|---|---|---|",
        *(f"| {c} | {'yes' if ok else '**no**'} | {f} |" for c, ok, f in verdicts(res)),
        "",
        "### Store x product x day, 7-day horizon, all series",
        "",
        *_table(_overall(res.metrics, "all", "store_product_day"), res.ratios),
        "",
        "On AutoETS's sample of series:",
        "",
        *_table(_overall(res.metrics, "ets_sample", "store_product_day"), None),
        "",
        "Store x category x week (each origin's 7 days summed):",
        "",
        *_table(_overall(res.metrics, "all", "store_category_week"), None),
        "",
        "Per horizon (all series):",
        "",
        *_per_horizon(res.metrics),
        "",
        f"Interval coverage on the last origin (calibrated on the origins before it): "
        f"80 %: {res.coverage['80']:.1%}, 95 %: {res.coverage['95']:.1%}.",
        "",
        "Most important inputs: " + ", ".join(
            f"`{f['feature']}` {f['importance']:.3f}" for f in res.feature_importance[:10]),
        "",
        "### Time and memory",
        "",
        "Each fit's line runs until the next line starts: the last origin's includes "
        "AutoETS on its sample.",
        "",
        f"Baseline in the same run: one GBT pipeline of 20 trees of depth 6 on "
        f"{r['baseline']['rows']:,} training rows, {base:.1f} s.",
        "",
        "| step | seconds | x baseline | peak MB |", "|---|---:|---:|---:|",
        f"| `train` (tuning, backtest, baselines, intervals, final fit) | {t['seconds']:,.0f} | "
        f"{_x(t['seconds'], base)} | {t['peak_mb']:,.0f} |",
        f"| - read the feature store, stack the 7 horizons, cache (before the first fit) | "
        f"{t['seconds'] - sum(s for _, s in t['steps']):,.0f} | "
        f"{_x(t['seconds'] - sum(s for _, s in t['steps']), base)} | |",
        *(f"| - {msg} | {s:,.0f} | {_x(s, base)} | |" for msg, s in t["steps"]),
        f"| `predict`: {r['predict']['rows']:,} forecasts (every series, 7 horizons) | "
        f"{r['predict']['seconds']:.1f} | {_x(r['predict']['seconds'], base)} | "
        f"{r['predict']['peak_mb']:,.0f} |",
        "",
    ]
    if "compare" in r:
        c = r["compare"]
        lines += [
            "### Sampling the training rows",
            "",
            f"The same backtest with `train_fraction` {c['settings']['train_fraction']:g} "
            f"instead of {t['settings']['train_fraction']:g} (AutoETS not rerun):",
            "",
            "| train_fraction | GBT WAPE | / seasonal naive | / oracle | coverage 80 / 95 | "
            "train seconds | x baseline |", "|---:|---:|---:|---:|---|---:|---:|",
            *(f"| {x['settings']['train_fraction']:g} | {x['result'].ratios['gbt']['wape']:.4f} "
              f"| {x['result'].ratios['gbt']['to_seasonal_naive']:.3f} | "
              f"{x['result'].ratios['gbt']['to_oracle']:.3f} | "
              f"{x['result'].coverage['80']:.1%} / {x['result'].coverage['95']:.1%} | "
              f"{x['seconds']:,.0f} | {_x(x['seconds'], base)} |" for x in (t, c)),
            "",
        ]
    return "\n".join(lines)
