"""`make bench` (warehouse concurrency): many clients, long queries and big results at once.

Measured through `retail warehouse serve` (clickhouse-connect, the platform's client, one
client and one HTTP connection per thread) against chDB in-process on its own data
directory, loaded the same way, one connection per thread, in the same run:

1. Concurrent clients (1, 10, 100), each running rounds of a dashboard aggregation, a point
   lookup and a 100-row Arrow insert over a ``fact`` table of ``--rows`` rows: requests/s,
   p50/p95/p99 latency, errors.
2. Parallelism: ``cores`` and ``2*cores`` concurrent ``SELECT sleep(1)``: wall time and the
   number of queries that ran at once (queries x 1 s / wall).
3. Fair share: a small insert's latency alone and while a long GROUP BY runs on another client.
4. Memory: a fresh server's peak RSS above idle (VmHWM after ``clear_refs``) while a ~1 GB
   TSV result streams to a client that reads and drops it in 1 MiB chunks, vs. the same
   query with ``wait_end_of_query=1`` (the server buffers the whole result first).

The two sides run one after the other, never at once. Any error makes the script exit
non-zero after printing the report and the errors (the report is then not written). Sizes:
5 M rows, 300 rounds per client count, a ~6 s long query and a 1 GB result (a few minutes
on 2 cores); ``--quick`` shrinks them to check the script in about half a minute.

Usage: ``python tests/bench/bench_warehouse_concurrency.py [--quick] [--write
docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WarehouseProcess  # noqa: E402
from report import write_section  # noqa: E402

from retail.io.warehouse import ClickHouseWarehouse  # noqa: E402

CORES = os.cpu_count() or 1
CLIENTS = (1, 10, 100)
FIRST_DAY = date(2024, 1, 1)
DDL = ("CREATE TABLE fact (date Date, store UInt16, sku UInt32, qty Int32, revenue Float64) "
       "ENGINE = MergeTree ORDER BY (store, sku, date)")
LOAD = ("INSERT INTO fact SELECT toDate('2024-01-01') + number % 365, number % 200, "
        "(number * 7919) % 20000, toInt32(number % 7) - 1, (number % 1000) / 10 "
        "FROM numbers({rows})")
DASHBOARD = ("SELECT store, sum(qty) AS units, sum(revenue) AS revenue, uniqExact(sku) AS skus "
             "FROM fact WHERE date >= {since:Date} GROUP BY store ORDER BY revenue DESC LIMIT 20")
LOOKUP = ("SELECT date, qty, revenue FROM fact WHERE store = {store:UInt16} AND "
          "sku = {sku:UInt32} ORDER BY date")
LONG = ("SELECT number % 1000000 AS k, sum(sipHash64(number)) AS s FROM numbers_mt({n}) "
        "GROUP BY k ORDER BY s DESC LIMIT 1")
STREAM = "SELECT number, repeat('x', 100) FROM numbers({n}) FORMAT TSV"
STREAM_ROW_BYTES = 108  # one TSV row of STREAM, on average
TARGET_MB = 300  # acceptance: peak RSS above idle while streaming ~1 GB

_t0 = time.perf_counter()


def progress(msg: str) -> None:
    print(f"[{time.perf_counter() - _t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class InProcess:
    """chDB in this process: the baseline. One connection per thread."""

    def __init__(self, path: Path) -> None:
        import chdb

        self.conn = chdb.connect(str(path))

    def query(self, sql: str, params: dict | None = None) -> pa.Table:
        return self.conn.query(sql, "Arrowtable",
                               params={k: str(v) for k, v in (params or {}).items()} or None)

    def command(self, sql: str) -> None:
        self.conn.query(sql)

    def insert(self, table: str, data: pa.Table) -> None:
        names = ", ".join(data.column_names)
        self.conn.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(data)")

    def close(self) -> None:
        self.conn.close()


class OverHttp:
    """The platform's warehouse client on the server, with a connection pool of its own."""

    def __init__(self, server: WarehouseProcess) -> None:
        from clickhouse_connect.driver.httputil import get_pool_manager

        self.wh = ClickHouseWarehouse.connect(server.settings("default"),
                                              pool_mgr=get_pool_manager(maxsize=1))

    def query(self, sql: str, params: dict | None = None) -> pa.Table:
        return self.wh.query_arrow(sql, params)

    def command(self, sql: str) -> None:
        self.wh.command(sql)

    def insert(self, table: str, data: pa.Table) -> None:
        self.wh.insert_arrow(table, data)

    def close(self) -> None:
        self.wh.close()


class Run:
    """The errors of the whole run, each with what was being measured."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def timed(self, label: str, fn, *args, into: list[float] | None = None) -> float | None:
        """Seconds ``fn(*args)`` took (also appended to ``into``), None if it failed."""
        start = time.perf_counter()
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            self.errors.append(f"{label}: {type(exc).__name__}: {str(exc).strip()[:400]}")
            return None
        took = time.perf_counter() - start
        if into is not None:
            into.append(took)
        return took

    def attempt(self, label: str, fn, *args) -> dict:
        """A whole step's figures; {} if it failed (reported, and the run goes on)."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{label}: {type(exc).__name__}: {str(exc).strip()[:400]}")
            return {}


@contextmanager
def opened(make, n: int) -> Iterator[list]:
    clients = [make() for _ in range(n)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def together(clients: list, work) -> float:
    """``work(i, client)`` on one thread per client, all released at once; wall seconds."""
    barrier = threading.Barrier(len(clients) + 1)

    def run(i: int, client) -> None:
        barrier.wait()
        work(i, client)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def small_batch(rng: random.Random, rows: int = 100) -> pa.Table:
    return pa.table({
        "date": pa.array([FIRST_DAY + timedelta(days=364)] * rows, pa.date32()),
        "store": pa.array([rng.randrange(200)] * rows, pa.uint16()),
        "sku": pa.array([rng.randrange(20000) for _ in range(rows)], pa.uint32()),
        "qty": pa.array([1] * rows, pa.int32()), "revenue": pa.array([9.99] * rows)})


def pct(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def load(make, rows: int) -> dict:
    with opened(make, 1) as (client,):
        start = time.perf_counter()
        client.command(DDL)
        client.command(LOAD.format(rows=rows))
        return {"seconds": time.perf_counter() - start}


def mix(run: Run, make, n_clients: int, rounds: int, rows: int) -> dict:
    """``n_clients`` threads, each ``rounds`` x (dashboard, lookup, insert)."""
    lat: list[float] = []
    errors_before = len(run.errors)

    def work(i: int, client) -> None:
        rng = random.Random(i)
        batch = small_batch(rng)
        for _ in range(rounds):
            since = FIRST_DAY + timedelta(days=rng.randrange(300))
            run.timed(f"{n_clients} clients, dashboard", client.query, DASHBOARD,
                      {"since": since}, into=lat)
            row = rng.randrange(rows)  # a (store, sku) that LOAD wrote
            run.timed(f"{n_clients} clients, lookup", client.query, LOOKUP,
                      {"store": row % 200, "sku": row * 7919 % 20000}, into=lat)
            run.timed(f"{n_clients} clients, insert", client.insert, "fact", batch, into=lat)

    with opened(make, n_clients) as clients:
        wall = together(clients, work)
    return {"requests": len(lat), "rps": len(lat) / wall, "p50": pct(lat, 50),
            "p95": pct(lat, 95), "p99": pct(lat, 99), "errors": len(run.errors) - errors_before}


def sleeps(run: Run, make, n: int) -> dict:
    with opened(make, n) as clients:
        wall = together(clients, lambda i, c: run.timed(f"{n} x sleep(1)", c.command,
                                                        "SELECT sleep(1)"))
    return {"wall": wall, "at_once": n * 1.0 / wall}


def fair_share(run: Run, make, long_n: int, reps: int) -> dict:
    """Inserts alone, then back to back while the long query runs on another client: only
    those sent before it ended count."""
    batch = small_batch(random.Random(7))
    long_sql = LONG.format(n=long_n)
    with opened(make, 2) as (inserter, other):
        alone: list[float] = []
        for _ in range(reps):
            run.timed("fair share, insert alone", inserter.insert, "fact", batch, into=alone)
        long_alone = run.timed("fair share, long query alone", other.query, long_sql)
        ended: list[float] = []
        long_during: list[float] = []

        def long_query() -> None:
            run.timed("fair share, long query", other.query, long_sql, into=long_during)
            ended.append(time.perf_counter())

        thread = threading.Thread(target=long_query)
        thread.start()
        time.sleep(min(0.5, (long_alone or 1) / 5))  # let it get going
        sent: list[tuple[float, float]] = []
        while thread.is_alive():
            start = time.perf_counter()
            took = run.timed("fair share, insert during", inserter.insert, "fact", batch)
            if took is not None:
                sent.append((start, took))
        thread.join()
    during = [took for start, took in sent if ended and start < ended[0]]
    return {"alone_mean": statistics.fmean(alone) if alone else None,
            "alone_max": max(alone, default=None), "n_during": len(during),
            "during_mean": statistics.fmean(during) if during else None,
            "during_max": max(during, default=None), "long_alone": long_alone,
            "long_during": long_during[0] if long_during else None}


def stream_size(rows: int) -> int:
    """Bytes of STREAM's result: the numbers' digits, a tab, 100 x and a newline a row."""
    size, digits, low = rows * 102, 1, 0
    while low < rows:
        high = min(rows, 10 ** digits)
        size += (high - low) * digits
        digits, low = digits + 1, high
    return size


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def stream_memory(path: Path, rows: int, buffered: bool) -> dict:
    """A fresh server sends STREAM's result to a client that drops it chunk by chunk."""
    server = WarehouseProcess(path)
    try:
        server.start()
        pid = server.proc.pid
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        conn.request("GET", "/?query=SELECT%201")
        conn.getresponse().read()  # what the first query loads counts as idle
        idle = rss_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        params = {"query": STREAM.format(n=rows), **({"wait_end_of_query": "1"} if buffered
                                                      else {})}
        start = time.perf_counter()
        conn.request("GET", "/?" + urlencode(params))
        resp = conn.getresponse()
        first_byte, received, tail = None, 0, b""
        while chunk := resp.read1(1 << 20):
            first_byte = first_byte or time.perf_counter() - start
            received += len(chunk)
            tail = (tail + chunk)[-400:]
        took = time.perf_counter() - start
        conn.close()
        peak = rss_kb(pid, "VmHWM")
    finally:
        server.stop()
    if resp.status != 200 or b"Exception" in tail or received != stream_size(rows):
        raise RuntimeError(f"HTTP {resp.status}, {received:,} bytes of "
                           f"{stream_size(rows):,}, ending {tail[-300:]!r}")
    framing = "chunked" if resp.getheader("Transfer-Encoding") == "chunked" else \
        f"Content-Length {resp.getheader('Content-Length')}"
    return {"idle_mb": idle / 1024, "peak_mb": (peak - idle) / 1024, "bytes": received,
            "seconds": took, "first_byte": first_byte, "framing": framing}


def num(value, spec: str, scale: float = 1) -> str:
    return "n/a" if value is None else format(value * scale, spec)


def ratio(ours, base) -> str:
    return "n/a" if not ours or not base else f"{ours / base:.2f}x"


def report(args, facts: dict) -> str:
    (base_load, our_load), (base_fair, our_fair) = facts["load"], facts["fair"]
    streamed, buffered = facts["memory"]
    lines = [
        "## Warehouse server: concurrency and memory", "",
        f"`python tests/bench/bench_warehouse_concurrency.py{' --quick' if args.quick else ''}`"
        f", {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {platform.machine()}, {CORES} cores, "
        f"Python {platform.python_version()}. Server: `retail warehouse serve` through "
        "clickhouse-connect (Arrow), one client and connection per thread, the clients in the "
        "bench process on the same cores. Baseline: chDB in-process on its own directory with "
        "the same data, one `chdb.connect` per thread. `fact` holds "
        f"{args.rows:,} rows, loaded by `INSERT ... SELECT FROM numbers()` in "
        f"{num(base_load.get('seconds'), '.2f')} s in-process and "
        f"{num(our_load.get('seconds'), '.2f')} s through the server.", "",
        "Concurrent clients, each running rounds of a dashboard GROUP BY, a point lookup and a "
        f"100-row insert ({args.rounds} rounds shared by the clients, at least 1 each); "
        "errors in-process / server:", "",
        "| clients | requests | in-process req/s | server req/s | throughput ratio "
        "| in-process p50 / p95 / p99 ms | server p50 / p95 / p99 ms | p50 ratio | p95 ratio "
        "| errors |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, base, ours in facts["mix"]:
        lat = [" / ".join(num(m.get(q), ",.0f", 1000) for q in ("p50", "p95", "p99"))
               for m in (base, ours)]
        lines.append(
            f"| {n} | {num(ours.get('requests'), ',')} | {num(base.get('rps'), ',.0f')} "
            f"| {num(ours.get('rps'), ',.0f')} | {ratio(ours.get('rps'), base.get('rps'))} "
            f"| {lat[0]} | {lat[1]} | {ratio(ours.get('p50'), base.get('p50'))} "
            f"| {ratio(ours.get('p95'), base.get('p95'))} "
            f"| {base.get('errors', 'n/a')} / {ours.get('errors', 'n/a')} |")
    lines += ["", "Parallelism: concurrent `SELECT sleep(1)`; queries running at once = "
              "queries x 1 s / wall.", "",
              "| queries | in-process wall s | in-process at once | server wall s "
              "| server at once | server / in-process |", "|---:|---:|---:|---:|---:|---:|"]
    for n, base, ours in facts["sleep"]:
        lines.append(f"| {n} | {num(base.get('wall'), '.2f')} | {num(base.get('at_once'), '.1f')} "
                     f"| {num(ours.get('wall'), '.2f')} | {num(ours.get('at_once'), '.1f')} "
                     f"| {ratio(ours.get('at_once'), base.get('at_once'))} |")
    lines += ["", f"Fair share: 100-row inserts alone ({args.reps}), then back to back while "
              f"`{LONG.format(n=args.long)}` runs on another client (those sent before it "
              "ended).", "",
              "| | inserts alone: mean / max ms | inserts during: mean / max ms (count) "
              "| mean ratio | max ratio | long query alone s | long query with inserts s |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in (("in-process", base_fair), ("server", our_fair)):
        lines.append(
            f"| {name} | {num(m.get('alone_mean'), ',.1f', 1000)} / "
            f"{num(m.get('alone_max'), ',.1f', 1000)} | {num(m.get('during_mean'), ',.1f', 1000)}"
            f" / {num(m.get('during_max'), ',.0f', 1000)} ({m.get('n_during', 'n/a')}) "
            f"| {ratio(m.get('during_mean'), m.get('alone_mean'))} "
            f"| {ratio(m.get('during_max'), m.get('alone_max'))} "
            f"| {num(m.get('long_alone'), '.2f')} | {num(m.get('long_during'), '.2f')} |")
    lines += ["", f"Memory: a fresh server per row sends `{STREAM.format(n=args.stream_rows)}` "
              "to a client that reads it in chunks of up to 1 MiB and drops them; peak = VmHWM "
              "after `clear_refs` minus idle VmRSS.", "",
              "| result | bytes received | framing | seconds | first byte s | idle RSS MB "
              "| peak above idle MB |", "|---|---:|---|---:|---:|---:|---:|"]
    for name, m in (("streamed", streamed), ("`wait_end_of_query=1` (baseline)", buffered)):
        lines.append(f"| {name} | {num(m.get('bytes'), ',')} | {m.get('framing', 'n/a')} "
                     f"| {num(m.get('seconds'), '.1f')} | {num(m.get('first_byte'), '.2f')} "
                     f"| {num(m.get('idle_mb'), ',.0f')} | {num(m.get('peak_mb'), ',.0f')} |")
    peak = streamed.get("peak_mb")
    verdict = "n/a" if peak is None else ("PASS" if peak < TARGET_MB else "FAIL")
    lines += ["", f"Streamed peak / buffered peak: {ratio(peak, buffered.get('peak_mb'))}. "
              f"Target, streamed peak < {TARGET_MB} MB above idle: **{verdict}**."]
    return "\n".join(lines)


def measure(args, tmp: Path, run: Run) -> dict:
    facts: dict = {}
    server = WarehouseProcess(tmp / "server")
    server.start()
    try:
        sides = (("in-process", lambda: InProcess(tmp / "inprocess")),
                 ("server", lambda: OverHttp(server)))
        progress(f"loading {args.rows:,} rows on each side")
        facts["load"] = [run.attempt(f"{name}, load", load, make, args.rows)
                         for name, make in sides]
        facts["mix"] = []
        for n in CLIENTS:
            rounds = max(1, args.rounds // n)
            got = []
            for name, make in sides:
                progress(f"{n} clients x {rounds} rounds, {name}")
                m = run.attempt(f"{n} clients, {name}", mix, run, make, n, rounds, args.rows)
                got.append(m)
                progress(f"  {num(m.get('rps'), ',.0f')} req/s, p95 "
                         f"{num(m.get('p95'), ',.0f', 1000)} ms, {m.get('errors', 'n/a')} errors")
            facts["mix"].append((n, *got))
        facts["sleep"] = []
        for n in (CORES, 2 * CORES):
            progress(f"{n} x sleep(1) on each side")
            facts["sleep"].append((n, *(run.attempt(f"{n} x sleep(1), {name}", sleeps, run,
                                                    make, n) for name, make in sides)))
        progress("fair share: inserts beside a long query, on each side")
        facts["fair"] = [run.attempt(f"fair share, {name}", fair_share, run, make, args.long,
                                     args.reps) for name, make in sides]
    finally:
        server.stop()
    facts["memory"] = []
    for buffered in (False, True):
        how = "wait_end_of_query=1" if buffered else "streamed"
        progress(f"memory: {stream_size(args.stream_rows) / 1e6:,.0f} MB result, {how}, "
                 "fresh server")
        m = run.attempt(f"memory, {how}", stream_memory, tmp / f"memory-{how}",
                        args.stream_rows, buffered)
        facts["memory"].append(m)
        if m:
            progress(f"  {m['bytes']:,} bytes in {m['seconds']:.1f} s, peak "
                     f"{m['peak_mb']:,.0f} MB above idle")
    return facts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    p.add_argument("--rows", type=int, help="rows in fact (default 5M; quick 300k)")
    p.add_argument("--rounds", type=int, help="query rounds per client count (default 300)")
    p.add_argument("--long", type=int, help="numbers_mt() size of the long query (1.5e8)")
    p.add_argument("--reps", type=int, default=20, help="inserts timed alone (fair share)")
    p.add_argument("--stream-mb", type=int, help="size of the big result (default 1000)")
    p.add_argument("--tmp", type=Path, default=None, help="scratch directory")
    p.add_argument("--write", type=Path, help="also write the markdown section here")
    args = p.parse_args()
    sizes = dict(rows=300_000, rounds=30, long=20_000_000, stream_mb=50) if args.quick \
        else dict(rows=5_000_000, rounds=300, long=150_000_000, stream_mb=1000)
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.stream_rows = args.stream_mb * 1_000_000 // STREAM_ROW_BYTES
    tmp = Path(tempfile.mkdtemp(prefix="retail-bench-conc-", dir=args.tmp))
    run = Run()
    try:
        facts = measure(args, tmp, run)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(args, facts)
    print(text)
    if run.errors:
        print(f"\n{len(run.errors)} errors (the report was not written):", file=sys.stderr)
        for error in run.errors:
            print(f"  {error}", file=sys.stderr)
        sys.exit(1)
    if args.write:
        write_section(args.write, "warehouse-concurrency", text)


if __name__ == "__main__":
    main()
