"""End-to-end latency of the stream benchmark: the stream (or the baseline) under a live
load, latency taken in the warehouse."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Broker, WarehouseProcess  # noqa: E402
from stream_baseline import _baseline_process  # noqa: E402
from stream_common import make_database, say, seed_state, simulate  # noqa: E402
from stream_cpu import CpuMeter, cpu_line  # noqa: E402
from stream_load import LiveLoad, build_pool, clear_pool  # noqa: E402
from stream_process import StreamProcess  # noqa: E402


def visible(wh, t0: float, t1: float) -> tuple[int, float | None]:
    """Rows with event_time in [t0, t1] and the newest of their event times (epoch s)."""
    (n, newest), = wh.query_rows(
        "SELECT count(), toUnixTimestamp64Milli(max(event_time)) FROM raw_events "
        "WHERE event_time >= fromUnixTimestamp64Milli({a:Int64}, 'UTC') "
        "AND event_time <= fromUnixTimestamp64Milli({b:Int64}, 'UTC')",
        {"a": int(t0 * 1000), "b": int(t1 * 1000)})
    return int(n), (newest / 1000 if n else None)


def latencies(wh, t0: float, t1: float, skip_s: float, tail_s: float,
              bucket_s: float = 10.0) -> dict:
    """Quantiles over [t0 + skip_s, t1]; the lag's growth (regression slope, s per s) over
    [t0 + skip_s, t1 - tail_s]: the last events are processed after the load stops, when
    the producers' CPU is free again, so they would bend the fit."""
    params = {"a": int((t0 + skip_s) * 1000), "b": int(t1 * 1000), "t0": int(t0 * 1000),
              "w": int(bucket_s * 1000), "fit_end": int((t1 - tail_s) * 1000)}
    where = ("event_time >= fromUnixTimestamp64Milli({a:Int64}, 'UTC') "
             "AND event_time <= fromUnixTimestamp64Milli({b:Int64}, 'UTC')")
    lat = "dateDiff('millisecond', event_time, ingested_at)"
    (q, n, mx, last_ms, fit), = wh.query_rows(
        f"SELECT quantiles(0.5, 0.95, 0.99)({lat}), count(), max({lat}), "
        f"toUnixTimestamp64Milli(max(ingested_at)), simpleLinearRegressionIf("
        f"toFloat64(toUnixTimestamp64Milli(event_time) - {{t0:Int64}}), toFloat64({lat}), "
        f"toUnixTimestamp64Milli(event_time) <= {{fit_end:Int64}}) "
        f"FROM raw_events WHERE {where}", params)
    buckets = wh.query_rows(
        f"SELECT intDiv(toUnixTimestamp64Milli(event_time) - {{t0:Int64}}, {{w:Int64}}) AS b, "
        f"quantile(0.95)({lat}) FROM raw_events WHERE {where} GROUP BY b ORDER BY b", params)
    return {"p50": q[0] / 1000, "p95": q[1] / 1000, "p99": q[2] / 1000, "max": mx / 1000,
            "rows": int(n), "last_visible": last_ms / 1000 if n else None,
            "slope": fit["k"] if n else float("nan"),  # latency growth, seconds per second
            "buckets": [(int(b), v / 1000) for b, v in buckets]}


def run_live(name: str, load: LiveLoad, wh, rate: float, args, *, abort_lag_s: float,
             roots: dict[int, str], on_tick=lambda: None) -> dict:
    """One measured load at ``rate``; waits for the rows to become visible."""
    args.quiet(roots)
    say(f"  {name}: {rate:,.0f} events/s for {args.load_seconds:.0f} s ...")
    load.start(rate)
    t0 = load.t0
    meter = CpuMeter({**roots, **{p.pid: "producers" for p in load.procs}}).start()
    aborted = False
    while time.time() - t0 < args.load_seconds:
        time.sleep(2.0)
        n, newest = visible(wh, t0, time.time() + 60)
        lag = time.time() - (newest or t0)
        el = time.time() - t0
        print(f"    {el:4.0f} s: {n:,} rows visible, newest {lag:.1f} s old", flush=True)
        on_tick()
        if el > 15 and lag > abort_lag_s:
            say(f"  {name}: falling behind ({lag:.0f} s), load stopped early")
            aborted = True
            break
    cpu = meter.stop()
    sent = load.finish()
    t1 = load.t1
    deadline = time.time() + args.drain_timeout
    while time.time() < deadline:
        n, _ = visible(wh, t0, t1 + 1)
        if n >= sent["acked"]:
            break
        time.sleep(0.5)
        on_tick()
    n, _ = visible(wh, t0, t1 + 1)
    lat = latencies(wh, t0, t1 + 1, args.skip_seconds, args.tail_seconds)
    (during,), = wh.query_rows(  # rows of this load that landed while it ran (after the skip)
        "SELECT count() FROM raw_events WHERE event_time >= fromUnixTimestamp64Milli({a:Int64}, "
        "'UTC') AND ingested_at BETWEEN fromUnixTimestamp64Milli({b:Int64}, 'UTC') AND "
        "fromUnixTimestamp64Milli({c:Int64}, 'UTC')",
        {"a": int(t0 * 1000), "b": int((t0 + args.skip_seconds) * 1000), "c": int(t1 * 1000)})
    drain = (lat["last_visible"] - t1) if lat["last_visible"] else float("inf")
    achieved = sent["acked"] / max(t1 - t0, 1e-9)
    b = [v for _, v in lat["buckets"]]
    growing = lat["slope"] > args.max_growth
    complete = n >= sent["acked"]
    producer_ok = achieved >= 0.95 * rate
    sustained = not aborted and complete and not growing and producer_ok
    out = {"rate": rate, "achieved": achieved, "acked": sent["acked"], "visible": n,
           "seconds": t1 - t0, "aborted": aborted, "drain": drain, "growing": growing,
           "complete": complete, "producer_ok": producer_ok, "sustained": sustained,
           "processed_during": during / max(t1 - t0 - args.skip_seconds, 1e-9), "cpu": cpu,
           **lat}
    say(f"  {name} at {rate:,.0f}/s: sent {sent['acked']:,} ({achieved:,.0f}/s), visible "
        f"{n:,}; latency p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s, max "
        f"{lat['max']:.2f} s; last row {drain:.1f} s after the end; p95 per 10 s "
        f"{', '.join(f'{v:.1f}' for v in b)}; lag growth {lat['slope']:+.3f} s/s; "
        f"{'sustained' if sustained else 'NOT sustained'}")
    say(f"  {name} at {rate:,.0f}/s, CPU during the load: {cpu_line(cpu)}")
    return out


# --- the stream in its own process ----------------------------------------------------------

def _disturbed(run: dict, args) -> bool:
    """Other work on the machine took more than its share of the cores during the load."""
    return run["cpu"].get(CpuMeter.OTHER, 0.0) > args.other_limit


def _again(run: dict) -> None:
    say(f"  other work used {run['cpu'].get(CpuMeter.OTHER, 0.0):.1f} cores during this "
        "load: measuring it again")


def batch_cost_fit(batches: list[dict]) -> dict:
    """Least squares ``seconds = fixed + per_event * rows`` per step and in total."""
    rows = np.array([b["rows"] for b in batches], dtype=float)
    if len(batches) < 5 or rows.max() < 3 * rows.min():  # too few, or too alike, to fit
        return {}
    out = {"batches": len(batches), "min_rows": int(rows.min()), "max_rows": int(rows.max())}
    names = sorted({k for b in batches for k in b["stages"]})
    for name in [*names, "total"]:
        secs = np.array([b["seconds"] if name == "total" else b["stages"].get(name, 0.0)
                         for b in batches])
        per_event, fixed = np.polyfit(rows, secs, 1)
        out[name] = (float(fixed), float(per_event))
    return out


def stage_sums(batches: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for b in batches:
        for k, v in b["stages"].items():
            out[k] = out.get(k, 0.0) + v
    return out


def within_target(run: dict, args) -> bool:
    """Sustained, and with a p95 latency under ``--max-p95`` (the rate search stops at the
    first such rate)."""
    return run["sustained"] and run["p95"] < args.max_p95


def bench_latency(args, tmp: Path, server: WarehouseProcess) -> dict:
    broker = Broker(tmp)
    broker.start()
    try:
        start = datetime.now(UTC).date() - timedelta(days=2)
        say(f"latency: simulating the live pool ({args.live_stores} stores x "
            f"{args.live_products:,} SKUs, rate {args.live_rate:g}) ...")
        catalog, tables = simulate(args.live_stores, args.live_products, args.live_rate, start,
                                   args.seed)
        pool_size = sum(t.num_rows for t in tables.values())
        build_pool(tables, args.producers)
        say(f"latency: pool of {pool_size:,} events; databases ...")
        ws_s, wh_s = make_database(server, "stream_live", catalog, start, 4)
        keys = seed_state(wh_s, tables, datetime.now(UTC))
        del tables
        ws_b, wh_b = make_database(server, "baseline_live", catalog, start, 4)
        say(f"latency: stream state seeded with {keys:,} store x SKU keys")
        load = LiveLoad(broker.settings, args.load_tick)
        stream_runs, baseline_runs = [], []
        roots = {os.getpid(): "benchmark (monitor)", broker.proc.pid: "broker",
                 server.proc.pid: "warehouse server"}
        proc = None
        live_batches: list[dict] = []
        retries = args.retries
        try:
            i = 0
            while i < len(args.rates):
                rate = args.rates[i]
                if proc is None:
                    say("latency: starting `retail stream run` (warm-up load of "
                        f"{args.warmup_rate:,.0f} events/s for {args.warmup_batches} batches) "
                        "...")
                    proc = StreamProcess(tmp / f"live-{i}-{retries}", broker.settings, ws_s,
                                         trigger_seconds=1, starting_offsets="latest",
                                         late_after_minutes=10)
                    t_start = time.time()
                    load.start(args.warmup_rate)  # until the query runs and is warm
                    proc.wait_batches(args.warmup_batches, timeout_s=240)
                    load.finish()
                    say(f"  stream up and warm after {time.time() - t_start:.1f} s")
                first = len(proc.batches)
                run = run_live("stream", load, wh_s, rate, args, abort_lag_s=args.abort_lag,
                               on_tick=proc.print_batches,
                               roots={**roots, proc.proc.pid: "stream (Spark)"})
                time.sleep(1.0)
                proc.print_batches()
                batches = proc.batches[first:]
                if not run["complete"]:  # still behind: the next load gets a fresh stream
                    proc.stop()
                    proc = None
                disturbed = _disturbed(run, args)
                if disturbed and retries > 0:
                    retries -= 1
                    _again(run)
                    continue
                run["batches"] = len(batches)
                run["batch_rows"] = sum(b["rows"] for b in batches) / max(len(batches), 1)
                run["batch_s"] = sum(b["seconds"] for b in batches) / max(len(batches), 1)
                run["stages"] = stage_sums(batches)
                run["max_batch_rows"] = max((b["rows"] for b in batches), default=0)
                if not disturbed:
                    live_batches += [b for b in batches if b["rows"] > 0]
                stream_runs.append(run)
                if within_target(run, args):
                    break
                i += 1
        finally:
            if proc is not None:
                proc.stop()
        best = next((r for r in stream_runs if within_target(r, args)), None)
        base_rates = sorted({args.rates[0], *([best["rate"]] if best else
                                              [stream_runs[-1]["rate"]])}, reverse=True)
        ctx = mp.get_context("fork")
        while base_rates:
            rate = base_rates[0]
            say(f"latency: baseline (plain consumer loop) at {rate:,.0f} events/s ...")
            ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
            p = ctx.Process(target=_baseline_process, daemon=True,
                            args=(broker.settings, ws_b, ready, stop, out))
            p.start()
            ready.wait(60)
            try:
                run = run_live("baseline", load, wh_b, rate, args, abort_lag_s=args.abort_lag,
                               roots={**roots, p.pid: "baseline loop"})
            finally:
                stop.set()
                stats = out.get(timeout=120)
                p.join(30)
            if "error" in stats:
                raise RuntimeError(f"baseline loop failed: {stats['error']}")
            if _disturbed(run, args) and retries > 0:
                retries -= 1
                _again(run)
                continue
            run["polls"] = stats["polls"]
            run["parse_s"], run["insert_s"] = stats["parse_s"], stats["insert_s"]
            baseline_runs.append(run)
            base_rates.pop(0)
        wh_s.close()
        wh_b.close()
        return {"stream": stream_runs, "baseline": baseline_runs, "pool": pool_size,
                "fit": batch_cost_fit(live_batches), "keys": keys,
                "catalog": (args.live_stores, args.live_products)}
    finally:
        broker.stop()
        clear_pool()
