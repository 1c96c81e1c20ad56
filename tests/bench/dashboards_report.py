"""bench_dashboards.py, the report: its section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime

from retail.dashboard.app import PARALLEL_QUERIES


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def report(args, built: dict, pages: list[dict], drawn: list[dict], alone: dict,
           crowd: dict) -> str:
    worst = max(pages, key=lambda p: p["p95"])
    worst_draw = max(drawn, key=lambda d: d["p95"])
    size = "the design's size" if (args.stores, args.products, args.days) == (200, 2000, 365) \
        else "a REDUCED size, the design's is 365 days of 200 x 2,000"
    lines = [
        "## Dashboards (issue 21, `make bench-dashboards`)", "",
        f"Measured on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; {args.days} days of "
        f"{args.stores} stores x {args.products:,} SKUs ({size}; {built['fact_sales']:,} "
        f"fact_sales rows, simulator rate {args.rate:g}, seed {args.seed}), the local "
        "warehouse server. The model tables (forecasts, evaluations, drift, replenishment, "
        "slow movers) are empty in this warehouse: their panels run their queries and show "
        "their empty note.", "",
        f"**Pages' queries** (one page view at the warehouse as the analyst, who sees all "
        f"{args.stores} stores: the reader's stores, the days with sales, then each panel's "
        f"query, {PARALLEL_QUERIES} at once on the app's pooled clients as the page's "
        f"callback runs them; {args.reps} views after one "
        "warm-up):", "",
        "| page | queries | p50 ms | p95 ms | slowest query | its p95 ms |",
        "|---|---:|---:|---:|---|---:|"]
    lines += [f"| {p['page']} | {p['queries']} | {ms(p['p50'])} | {ms(p['p95'])} | "
              f"{p['slowest']} | {ms(p['slowest_p95'])} |" for p in pages]
    lines += ["", f"Slowest page: {worst['page']}, p95 {ms(worst['p95'])} ms for the whole "
              f"view (target < 1 s: {'met' if worst['p95'] < 1 else 'NOT met'}).", "",
              f"**Drawn in headless Chromium** (`retail dashboard serve`, Playwright with "
              f"/usr/bin/chromium; from navigation until every panel shows its chart, table "
              f"or empty note; {args.browser_reps} loads per page after one warm-up, one "
              "browser profile, so the app's scripts come from its cache as for a returning "
              "reader):", "",
              "| page | panels with data | p50 ms | p95 ms | browser console errors |",
              "|---|---:|---:|---:|---:|"]
    lines += [f"| {d['page']} | {d['with_data']} of {d['panels']} | {ms(d['p50'])} | "
              f"{ms(d['p95'])} | {d['console_errors']} |" for d in drawn]
    lines += ["", f"Slowest page drawn: {worst_draw['page']}, p95 {ms(worst_draw['p95'])} ms "
              f"(target < 3 s: {'met' if worst_draw['p95'] < 3 else 'NOT met'}).", "",
              f"**{crowd['sessions']} concurrent sessions** (one client and connection each, a "
              "page's queries one after another, so at most 100 queries at once, the local "
              "server's limit; "
              f"page views of the three readers over every page, {args.duration:g} s) vs the "
              f"same page views one at a time ({args.duration / 2:g} s), same run:", "",
              "| run | page views | queries | queries/s | p50 ms | p95 ms | p99 ms | "
              "page view p95 ms | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in (("one at a time", alone), (f"{crowd['sessions']} sessions", crowd)):
        lines.append(f"| {name} | {r['views']:,} | {r['queries']:,} | {r['qps']:,.1f} | "
                     f"{ms(r['p50'])} | {ms(r['p95'])} | {ms(r['p99'])} | "
                     f"{ms(r['view_p95'])} | {len(r['errors'])} |")
    lines += ["", f"Throughput with {crowd['sessions']} sessions: "
              f"{crowd['qps'] / alone['qps']:.2f}x the one-at-a-time rate; p95 latency "
              f"{crowd['p95'] / alone['p95']:.1f}x (the server runs the queries side by side "
              f"on {os.cpu_count()} cores; the sessions' clients share them)."]
    return "\n".join(lines)
