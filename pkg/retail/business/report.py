"""``docs/business-impact.md``: the experiment's set-up, its metrics beside the design's
targets, the forecast's accuracy, what the run cost, and three plots (PNG, matplotlib):
the daily stock-out rate and the inventory value of both arms, and lost sales by category.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail.business.experiment import Experiment
from retail.business.metrics import Comparison, compare
from retail.business.runner import BusinessRun
from retail.sim import generate_catalog
from retail.sim.profiles import CATEGORIES

PLOTS = ("stockout-rate.png", "inventory-value.png", "lost-sales-by-category.png")
COLORS = {"baseline": "#7f7f7f", "platform": "#1f77b4"}


@dataclass(frozen=True)
class Target:
    """A design promise read as a bound on platform / baseline."""

    metric: str
    promise: str
    bound: float
    at_most: bool  # the ratio must be at most ``bound`` (else at least)

    def met(self, c: Comparison) -> bool:
        return c.ratio <= self.bound if self.at_most else c.ratio >= self.bound


TARGETS = (
    Target("stockout_rate", "stock-outs -50 %", 0.5, True),
    Target("overstock_value", "overstock cost -30 %", 0.7, True),
    Target("turnover", "inventory turnover +25 %", 1.25, False),
    Target("lost_value", "lost sales lower", 1.0, True),
    Target("forecast_wape", "forecast accuracy +20 % (WAPE -20 %)", 0.8, True),
)
# the issue's acceptance: the forecast's accuracy is reported beside, not a condition
REQUIRED = ("stockout_rate", "overstock_value", "turnover", "lost_value")

_LABELS = {
    "stockout_rate": ("stock-out rate (pair-days with a lost sale)", "{:.2%}"),
    "lost_units": ("lost sales, units", "{:,.0f}"),
    "lost_value": ("lost sales, value", "{:,.0f}"),
    "fill_rate": ("fill rate", "{:.2%}"),
    "avg_inventory_value": ("average inventory value at cost", "{:,.0f}"),
    "overstock_units": ("overstock units (beyond 60 days of cover, pair-days)", "{:,.0f}"),
    "overstock_value": ("overstock value at cost (daily average)", "{:,.0f}"),
    "cover_over_60_share": ("pair-days with more than 60 days of cover", "{:.2%}"),
    "over_2x_up_to_units": ("units above 2x the chain's order-up-to (pair-days)", "{:,.0f}"),
    "expired_units": ("expired units", "{:,.0f}"),
    "expired_value": ("expired value at cost", "{:,.0f}"),
    "cogs": ("cost of goods sold", "{:,.0f}"),
    "turnover": ("inventory turnover (COGS / average inventory)", "{:.2f}"),
    "orders": ("supplier orders placed", "{:,.0f}"),
    "units_ordered": ("units ordered", "{:,.0f}"),
    "forecast_wape": ("forecast WAPE (baseline: seasonal naive)", "{:.3f}"),
}


def targets_met(run: BusinessRun) -> dict[str, bool]:
    """Each target's metric -> met."""
    rows = {c.metric: c for c in compare(*(run.metrics[a] for a in ("baseline", "platform")))}
    return {t.metric: t.met(rows[t.metric]) for t in TARGETS}


def daily(ledger: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(days, stock-out rate, inventory value at cost) per day of a ledger."""
    days = ledger["day"].to_numpy()
    uniq, at = np.unique(days, return_inverse=True)
    pairs = np.bincount(at)
    out = np.bincount(at, (ledger["lost_units"].to_numpy() > 0).astype(float)) / pairs
    value = np.bincount(at, ledger["closing"].to_numpy() * ledger["unit_cost"].to_numpy())
    return uniq, out, value


def lost_by_category(ledger: pa.Table, stores: int, products: int, seed: int
                     ) -> dict[str, float]:
    """Lost sales value per category of a ledger's pairs."""
    catalog = generate_catalog(stores, products, seed)
    cat = catalog.product_category[catalog.pair_product[ledger["pair"].to_numpy()]]
    value = np.bincount(cat, ledger["lost_value"].to_numpy(), minlength=len(CATEGORIES))
    return {c.name: float(v) for c, v in zip(CATEGORIES, value, strict=True)}


def plot(run: BusinessRun, folder: Path) -> list[Path]:
    """The three PNGs into ``folder``; their paths."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    exp = run.outcome.experiment
    arms = {"baseline": run.outcome.baseline.ledger, "platform": run.outcome.platform.ledger}
    series = {arm: daily(t) for arm, t in arms.items()}
    paths = [folder / name for name in PLOTS]
    for path, (index, title, fmt) in zip(paths[:2], (
            (1, "Daily stock-out rate (share of store x SKU with a lost sale)", "{x:.1%}"),
            (2, "Inventory value at cost, end of day", "{x:,.0f}")), strict=True):
        fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
        for arm, s in series.items():
            ax.plot(s[0], s[index], label=arm, color=COLORS[arm], linewidth=1.8)
        ax.set_title(title)
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter(fmt))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
    lost = {arm: lost_by_category(t, exp.stores, exp.products, exp.seed)
            for arm, t in arms.items()}
    names = [c.name for c in CATEGORIES]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
    x = np.arange(len(names))
    for k, arm in enumerate(arms):
        ax.bar(x + (k - 0.5) * 0.4, [lost[arm][n] for n in names], 0.4, label=arm,
               color=COLORS[arm])
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_title("Lost sales value by category, compared period")
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths[2])
    plt.close(fig)
    return paths


_VARIANTS = """
SELECT variant, argMax(run_id, created_at) AS run FROM business_impact FINAL
WHERE stores = {stores:UInt32} AND products = {products:UInt32} AND seed = {seed:UInt64}
  AND period_from = {first:Date} AND period_to = {last:Date}
GROUP BY variant ORDER BY variant"""
_VALUES = """
SELECT run_id, arm, metric, value FROM business_impact FINAL
WHERE run_id IN {runs:Array(String)}"""


_ATTRIBUTION, _PLOTS = "## Attribution: each part replaced by the truth", "## Plots"


def attribution(wh, exp: Experiment) -> dict[str, dict[str, float | str]]:
    """The newest run of each variant of ``exp``'s chain and period in ``business_impact``
    (``wh``: the configured warehouse): variant -> metric -> platform / baseline, and
    ``"run"`` -> its run id."""
    variants = wh.query_rows(_VARIANTS, {
        "stores": exp.stores, "products": exp.products, "seed": exp.seed,
        "first": exp.first_compared, "last": exp.start + timedelta(days=exp.days - 1)})
    runs = dict(variants)
    values: dict[tuple[str, str, str], float] = {
        (r, arm, m): v for r, arm, m, v in wh.query_rows(_VALUES, {"runs": list(runs.values())})}
    out: dict[str, dict[str, float | str]] = {}
    for variant, r in runs.items():
        out[variant] = {t.metric: Comparison(t.metric, values.get((r, "baseline", t.metric),
                                                                  float("nan")),
                                             values.get((r, "platform", t.metric),
                                                        float("nan"))).ratio
                        for t in TARGETS}
        out[variant]["run"] = r
    return out


def refresh_attribution(doc: Path, wh, exp: Experiment) -> bool:
    """Rewrite the attribution section of the report at ``doc`` from ``business_impact``
    (after a variant's run; the rest of the report is its run's and stays). False when
    ``doc`` is not such a report."""
    if not doc.exists():
        return False
    text = doc.read_text()
    start, end = text.find(_ATTRIBUTION), text.find(_PLOTS)
    if end < 0:
        return False
    start = end if start < 0 else start
    section = "\n".join(_attribution_lines(attribution(wh, exp)))
    doc.write_text(text[:start] + section + "\n" + text[end:])
    return True


def _attribution_lines(ratios: dict[str, dict[str, float | str]]) -> list[str]:
    lines = [
        _ATTRIBUTION,
        "",
        "The newest run of each variant on the same chain, seed and period (`retail evaluate "
        "business --oracle PART`, `make bench-business`): the platform's chain with the parts "
        "named replaced by the simulator's truth (`retail.business.oracle`: *forecast* the "
        "true expected demand, *safety-stock* the true spread of daily demand, *lead-time* "
        "each supplier's true lead-time mean and sd, *caps* the shelf-capacity cap lifted). "
        "Each figure is platform / baseline; the baseline arm is the same in every run. The "
        "run id starts with the run's UTC start: a variant run before a change to the "
        "platform measured the platform before it.",
        "",
        "| variant | run | " + " | ".join(t.promise for t in TARGETS) + " |",
        "|---|---|" + "---:|" * len(TARGETS),
    ]
    for variant, r in ratios.items():
        lines.append(f"| {variant or 'the platform as it is'} | `{r['run']}` | "
                     + " | ".join("-" if np.isnan(r[t.metric]) else f"{r[t.metric]:.2f}x"
                                  for t in TARGETS) + " |")
    return lines + [""]


def _forecast_settings(jobs) -> dict[str, object]:
    f = jobs.settings.forecast
    return {k: getattr(f, k) for k in ("train_fraction", "backtest_origins", "max_depth",
                                       "max_iter", "step_size", "ets_series", "history_days",
                                       "max_series")}


def _replenishment_settings(jobs) -> dict[str, object]:
    r = jobs.settings.replenishment
    return {k: getattr(r, k) for k in ("service_level_a", "service_level_b",
                                       "service_level_c", "review_period_days",
                                       "capacity_headroom")}


def _ratio(c: Comparison) -> str:
    return "-" if np.isnan(c.ratio) else f"{c.ratio:.2f}x"


def markdown(run: BusinessRun, images: str,
             ratios: dict[str, dict[str, float | str]] | None = None) -> str:
    """The document; ``images`` is the plots' folder relative to the document, ``ratios``
    the attribution's (:func:`attribution`; none: no section)."""
    exp, out = run.outcome.experiment, run.outcome
    last = exp.start.toordinal() + exp.days - 1
    rows = compare(run.metrics["baseline"], run.metrics["platform"])
    target = {t.metric: t for t in TARGETS}
    met = targets_met(run)
    lines = [
        "# Business impact: the closed loop",
        "",
        "Written by `retail evaluate business` (`make bench-business`); do not edit by hand.",
        "",
        "One simulated chain, two arms, the same customers: every day both arms draw the "
        "same demand (common random numbers); only the ordering differs. The *baseline* "
        "orders by the chain's fixed reorder-point / order-up-to policy "
        "(`retail.sim.supply.fixed_policy`: reorder point = daily demand x (lead time + "
        "safety x lead-time sd + 1 day), order-up-to = reorder point + a review period of "
        "demand, whole packs; set once, never tuned against this test). The *platform* arm "
        "orders, from the first compared day, the recommendations `optimize_stock` made the "
        "day before, read from `fact_replenishment` as a store system would; each night its "
        "day's events are in the warehouse and the real jobs run on the closed day (end-of-"
        "day snapshot, features, `predict_daily`, `optimize_stock`; the demand forecast's "
        "and the lead time's training every Sunday). Perishables expire; a stock-out "
        "loses the sale.",
        "",
        "## Set-up",
        "",
        f"- run `{run.run_id}`: {exp.stores} stores x {exp.products} SKUs, seed {exp.seed}, "
        f"{exp.rate:g} events a minute a store"
        + (f"; **variant {exp.variant}** (those parts replaced by the truth)"
           if exp.variant else "") + ";",
        f"- warm-up {exp.warmup_weeks} weeks from {exp.start} (both arms by the fixed "
        f"policy; the first training reads its last {exp.feature_days} days of features);",
        f"- compared period {exp.compare_weeks} weeks, {exp.first_compared} .. "
        f"{type(exp.start).fromordinal(last)};",
        "- the platform's settings as the run had them: forecast "
        + ", ".join(f"{k} {v}" for k, v in _forecast_settings(out.jobs).items())
        + "; replenishment " + ", ".join(f"{k} {v}" for k, v in
                                         _replenishment_settings(out.jobs).items()) + ";",
        f"- run time {run.seconds / 60:.1f} min on {os.cpu_count()} cores; the platform "
        "arm's jobs: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in
                                   run.outcome.jobs.seconds.steps.items()) + ".",
        "",
        "## Results",
        "",
        "| metric | baseline | platform | platform / baseline | design target | met |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for c in rows:
        label, fmt = _LABELS[c.metric]
        t = target.get(c.metric)
        lines.append(f"| {label} | {fmt.format(c.baseline)} | {fmt.format(c.platform)} | "
                     f"{_ratio(c)} | {t.promise if t else ''} | "
                     f"{('yes' if met[c.metric] else '**no**') if t else ''} |")
    required = all(met[m] for m in REQUIRED)
    lines += [
        "",
        f"The issue's targets (stock-outs, overstock value, turnover, lost sales): "
        f"**{'all met' if required else 'not all met'}**.",
        "",
        "Overstock is the stock beyond 60 days of cover (each pair's mean daily demand over "
        "the period; both arms face the same demand), valued at cost. The issue's other "
        "measure, units above twice the chain's order-up-to level, is in the table too, but "
        "the baseline never holds any by construction: it orders up to that level only from "
        "at or below its reorder point, so it holds at most the level plus a pack less one, "
        "and the level is at least a pack. No reduction can show on it.",
        "",
        "## Forecast accuracy (platform arm, horizons 1 to 7)",
        "",
        "| horizon | store x SKU x days | WAPE champion | WAPE seasonal naive | ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in run.accuracy.rows:
        f, n = r["forecast_error"] / r["actual"], r["naive_error"] / r["actual"]
        lines.append(f"| {r['horizon']} | {r['n']:,} | {f:.3f} | {n:.3f} | {f / n:.2f}x |")
    lines += [
        "",
        "## Trainings",
        "",
        "| as of | forecast version | promoted | forecast WAPE (backtest) | lead time promoted |",
        "|---|---|:---:|---:|:---:|",
    ]
    for t in out.jobs.trainings:
        lines.append(f"| {t['as_of']} | {t['forecast_version']} | "
                     f"{'yes' if t['forecast_promoted'] else 'no'} | "
                     f"{t['forecast_wape']:.3f} | {'yes' if t['lead_time_promoted'] else 'no'} |")
    lines += [""] + (_attribution_lines(ratios) if ratios else [])
    lines += [_PLOTS, ""]
    for name, alt in zip(PLOTS, ("Daily stock-out rate of both arms",
                                 "Inventory value of both arms",
                                 "Lost sales by category"), strict=True):
        lines.append(f"![{alt}]({images}/{name})")
        lines.append("")
    return "\n".join(lines)


def write(run: BusinessRun, doc: Path,
          ratios: dict[str, dict[str, float | str]] | None = None) -> list[Path]:
    """The document at ``doc`` and its plots in ``<doc's folder>/img/business-impact/``."""
    folder = doc.parent / "img" / "business-impact"
    paths = plot(run, folder)
    doc.write_text(markdown(run, os.path.relpath(folder, doc.parent), ratios) + "\n")
    return [doc, *paths]
