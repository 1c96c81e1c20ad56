"""`make bench-models`' report: the three insight models' bench figures (the JSON files of
anomalies_bench.py, slow_movers_bench.py and recommendations_bench.py) as the "models"
section of docs/benchmarks.md. Accuracy is each model against its baseline measured in the
same run; cost is each step's seconds against the seconds the same run took to simulate and
load the chain's days (the same machine's pace of reading that much data), per day for the
daily scoring.

Usage: ``python tests/bench/models_report.py --anomalies A.json [A2.json ...]
--slow-movers S.json ... --recommendations R.json ... --write docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402


def _chain(f: dict) -> str:
    c = f["chain"]
    return f"{c['stores']} x {c['products']:,}, {c['days']} days"


def _cost(f: dict, load_key: str) -> tuple[str, str]:
    s = f["seconds"]
    load, days = s[load_key], f["chain"]["days"]
    per_day = load / days
    return (f"{s['train']:.0f} s ({s['train'] / load:.2f}x the {load:.0f} s load)",
            f"{s['score_day']:.0f} s ({s['score_day'] / per_day:.1f}x a day's load, "
            f"{per_day:.1f} s)")


def _x(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def anomalies(files: list[dict]) -> list[str]:
    out = ["### Anomaly detection (Isolation Forest vs robust z-score, top-k per store-day)", "",
           "| chain | planted | recall model / z | precision model / z | ratio (recall) | "
           "train | score one day |", "|---|---|---|---|---|---|---|"]
    for f in files:
        m, b = f["model"], f["baseline_robust_z"]
        train, score = _cost(f, "simulate_and_load")
        out.append(f"| {_chain(f)} (anomaly rate {f['chain']['anomaly_rate']}) | "
                   f"{f['chain']['planted']:,} | {m['recall']:.3f} / {b['recall']:.3f} | "
                   f"{m['precision']:.3f} / {b['precision']:.3f} | "
                   f"{_x(m['recall'], b['recall'])} | {train} | {score} |")
    kinds = sorted({k.split(".", 1)[1] for f in files for k in f["model"]
                    if k.startswith("recall.")})
    if kinds:
        out += ["", "Recall by kind, model / z-score: " + "; ".join(
            f"{_chain(f)}: " + ", ".join(
                f"{k} {f['model'].get('recall.' + k, 0):.2f} / "
                f"{f['baseline_robust_z'].get('recall.' + k, 0):.2f}" for k in kinds)
            for f in files) + "."]
    return out


def slow_movers(files: list[dict]) -> list[str]:
    out = ["### Slow movers (random forest vs \"days of cover > horizon\")", "",
           "| chain | eval rows | PR-AUC forest / rule | F1 forest / rule | ratio (PR-AUC) | "
           "flags on faded products, forest / rule | train | score one day |",
           "|---|---|---|---|---|---|---|---|"]
    for f in files:
        m, r = f["model"], f["rule"]
        train, score = _cost(f, "simulate_close_featurize")
        fades = f.get("fades", {})
        enrich = " / ".join(f"{fades[w]['enrichment']:.2f}" if w in fades else "n/a"
                            for w in ("model", "rule"))
        out.append(f"| {_chain(f)} ({len(f['chain']['feature_days'])} feature days) | "
                   f"{f['eval_rows']:,} | {m['pr_auc']:.3f} / {r['pr_auc']:.3f} | "
                   f"{m['f1']:.3f} / {r['f1']:.3f} | {_x(m['pr_auc'], r['pr_auc'])} | "
                   f"{enrich} | {train} | {score} |")
    out += ["", "Cost: the load column here includes closing and featurizing the origins' "
            "days (the feature store the model reads)."]
    return out


def recommendations(files: list[dict]) -> list[str]:
    out = ["### Cross-sell (ALS vs popularity on each loyal customer's held-out last basket)",
           "", "| chain | customers judged | recall@10 ALS / popularity | precision@10 ALS / "
           "popularity | ratio (recall@10) | planted pairs in the top 10 | train | "
           "score one day |", "|---|---|---|---|---|---|---|---|"]
    for f in files:
        a, p = f["als"], f["popularity"]
        train, score = _cost(f, "simulate")
        found = ", ".join(f"{m} {g['found']}/{g['pairs']}"
                          for m, g in f["planted_pairs_found"].items())
        out.append(f"| {_chain(f)} | {int(a.get('judged_customers', 0)):,} | "
                   f"{a['recall_at_10']:.3f} / {p['recall_at_10']:.3f} | "
                   f"{a['precision_at_10']:.3f} / {p['precision_at_10']:.3f} | "
                   f"{_x(a['recall_at_10'], p['recall_at_10'])} | {found} | "
                   f"{train} | {score} |")
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("anomalies", "slow-movers", "recommendations"):
        p.add_argument(f"--{name}", nargs="*", type=Path, default=[])
    p.add_argument("--write", type=Path, required=True)
    p.add_argument("--note", default="", help="a paragraph to add (how the run went)")
    a = p.parse_args(argv)
    load = lambda paths: [json.loads(path.read_text()) for path in paths]  # noqa: E731
    lines = ["## Insight models (issue 19, `make bench-models`)", "",
             f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine (2 cores). Each "
             "chain is simulated with planted ground truth (docs/simulator.md) into a "
             "warehouse server of its own; each model is judged on a time-based split "
             "against its baseline in the same run. Cost: seconds, and the ratio to the "
             "seconds the same run took to simulate and load the chain (per day for the "
             "daily scoring).", ""]
    for title, build, paths in (("anomalies", anomalies, a.anomalies),
                                ("slow movers", slow_movers, a.slow_movers),
                                ("recommendations", recommendations, a.recommendations)):
        if paths:
            lines += build(load(paths)) + [""]
        else:
            lines += [f"({title}: not run)", ""]
    if a.note:
        lines += [a.note, ""]
    write_section(a.write, "models", "\n".join(lines))
    print(f"wrote the models section of {a.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
