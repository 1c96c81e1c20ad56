"""`make bench` (dashboards): the local dashboards on the benchmark warehouse.

The warehouse: a year of 200 stores x 2,000 SKUs, loaded once by bench_warehouse.py's
loader (imported, not copied) and cached in ``.retail/bench-dashboards/<size>/``; later runs
start the local warehouse server on the cached data and apply any new migration. Three
readers are granted there: an analyst (every store), a regional manager (S00001's region)
and a store manager (S00001).

1. Pages' queries: one page view as the app's callbacks run it at the warehouse (the reader's
   stores from bi_user_access, the days with sales, then the panels' queries of
   ``retail.dashboard.pages``, PARALLEL_QUERIES at once on the app's pooled Source, as the
   page's callback does), for the analyst (the widest reader): p50/p95 per page. Target:
   the slowest page's p95 < 1 s.
2. Drawn in the browser: ``retail dashboard serve`` on the warehouse, headless Chromium
   (Playwright, Debian's binary) opening each page as the analyst (the proxy's header,
   identity ``header``): time from navigation until every panel holds its chart, table or
   "nothing to show" note. Target: p95 < 3 s per page.
3. Concurrency: ``--sessions`` (100) sessions, one client each (a page's queries one after
   another: 100 queries at once at most, the local server's limit), replaying page views (the
   three readers, every page) against the warehouse server for ``--duration`` seconds, vs
   the same page views run one at a time in the same run: throughput, p50/p95/p99 per
   query, errors (none allowed: any makes the script exit non-zero, the report unwritten).

Usage: ``python tests/bench/bench_dashboards.py [--stores 200 --products 2000 --days 365]
[--write docs/benchmarks.md]``; ``--stores 20 --products 200 --days 60`` proves the script
in minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

# The repository (tests/conftest.py imports tests.*), tests/ (conftest) and this folder.
sys.path[:0] = [str(Path(__file__).resolve().parents[i]) for i in (2, 1, 0)]
from bench_warehouse import add_chain_arguments, bench_load, percentile  # noqa: E402
from conftest import WarehouseProcess  # noqa: E402
from dashboards_browser import draw_times  # noqa: E402
from dashboards_report import report  # noqa: E402
from report import write_section  # noqa: E402

from retail.dashboard.app import PARALLEL_QUERIES  # noqa: E402
from retail.dashboard.data import Source  # noqa: E402
from retail.dashboard.pages import PAGES  # noqa: E402
from retail.io.warehouse import ClickHouseWarehouse, connect  # noqa: E402
from retail.warehouse import access  # noqa: E402
from retail.warehouse.access import Grant  # noqa: E402
from retail.local.sqltext import is_access_control  # noqa: E402
from retail.warehouse.migrate import LEDGER, MigrationError, Migrator  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ANALYST, REGIONAL, STORE_MANAGER = ("analyst@retail.example", "regional@retail.example",
                                    "s00001.manager@retail.example")
_t0 = time.perf_counter()


def progress(msg: str) -> None:
    print(f"[{time.perf_counter() - _t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def warehouse(args) -> tuple[WarehouseProcess, dict]:
    """The benchmark warehouse server on the cached data, built first if need be."""
    cache = args.cache / (f"{args.stores}x{args.products}x{args.days}d-rate{args.rate:g}"
                          f"-seed{args.seed}")
    marker = cache / "built.json"
    server = WarehouseProcess(cache / "data")
    if args.rebuild or not marker.exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
    server.start()
    try:
        if not marker.exists():
            _build(args, server, cache)
            marker.write_text(json.dumps({"built_at": datetime.now(UTC).isoformat()}))
        return server, _prepare(server.settings("retail"), marker)
    except MigrationError as exc:
        server.stop()
        raise SystemExit(f"the cached warehouse in {cache} does not take today's migrations "
                         f"({exc}): run again with --rebuild to build it anew") from None
    except BaseException:
        server.stop()
        raise


def _build(args, server: WarehouseProcess, cache: Path) -> None:
    progress(f"building the benchmark warehouse in {cache} (once) ...")
    scratch = Path(tempfile.mkdtemp(prefix="retail-bench-dash-"))
    try:  # bench_load also fills an in-process chDB copy (its baseline): dropped here
        _, wh = bench_load(args, scratch, server)
        wh.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _prepare(ws, marker: Path) -> dict:
    """New migrations applied, the three readers granted; what the report says of the data."""
    migrator = Migrator(connect(ws, database=""), "retail", lambda db: connect(ws, db))
    # A changed migration of access control only (roles, grants: the local server skips
    # them) leaves this warehouse as it is: recorded anew instead of a rebuild of the cache.
    with connect(ws) as wh:
        for st in migrator.status():
            if st.state == "changed" and all(map(is_access_control, st.migration.statements())):
                wh.command(f"INSERT INTO {LEDGER} (version, name, checksum, statements) VALUES "
                           "({v:UInt32}, {n:String}, {c:String}, {s:UInt32})",
                           {"v": st.version, "n": st.name, "c": st.migration.checksum,
                            "s": len(st.migration.statements())})
    migrator.migrate()
    with connect(ws) as wh:
        region = wh.query_rows("SELECT region FROM dim_store FINAL WHERE store_id = 'S00001'")
        for g in (Grant(ANALYST, "all"), Grant(REGIONAL, "region", region=region[0][0]),
                  Grant(STORE_MANAGER, "store", store_id="S00001")):
            access.grant(wh, g)
        facts = wh.query_rows("SELECT count() FROM fact_sales")[0][0]
    return {**json.loads(marker.read_text()), "fact_sales": facts, "region": region[0][0]}


class SessionSource(Source):
    """The app's Source with one client and one HTTP connection of its own (a session)."""

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._wh: ClickHouseWarehouse | None = None

    @contextmanager
    def client(self) -> Iterator[ClickHouseWarehouse]:
        if self._wh is None:
            from clickhouse_connect.driver.httputil import get_pool_manager

            self._wh = ClickHouseWarehouse.connect(self.settings,
                                                   pool_mgr=get_pool_manager(maxsize=1))
        yield self._wh

    def close(self) -> None:
        if self._wh is not None:
            self._wh.close()


def page_view(source: Source, page, user: str, parallel: int = 1
              ) -> tuple[float, list[tuple[str, float]]]:
    """One page view at the warehouse as the app's callbacks run it, its panels' queries
    ``parallel`` at once: (seconds, [(step, seconds)])."""
    steps = []
    started = time.perf_counter()

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        steps.append((name, time.perf_counter() - t0))
        return out

    reader = timed("reader", lambda: source.reader(user))
    _, last = timed("days", source.days)
    store = reader.stores[0] if page.one_store else None
    with ThreadPoolExecutor(min(parallel, len(page.panels))) as pool:
        list(pool.map(lambda q: timed(q, lambda: source.fetch(q, reader, as_of=last,
                                                               store_id=store)),
                      [p.query for p in page.panels]))
    return time.perf_counter() - started, steps


def bench_pages(source: Source, reps: int) -> list[dict]:
    out = []
    for page in PAGES:
        page_view(source, page, ANALYST, PARALLEL_QUERIES)  # warm-up
        runs = [page_view(source, page, ANALYST, PARALLEL_QUERIES) for _ in range(reps)]
        totals = [wall for wall, _ in runs]
        per_query = {name: percentile([dict(v)[name] for _, v in runs], 0.95)
                     for name, _ in runs[0][1]}
        slowest = max(per_query, key=per_query.get)
        out.append({"page": page.name, "queries": len(page.panels),
                    "p50": percentile(totals, 0.5), "p95": percentile(totals, 0.95),
                    "slowest": slowest, "slowest_p95": per_query[slowest]})
        progress(f"page {page.name}: p95 {out[-1]['p95'] * 1000:,.0f} ms "
                 f"(slowest query {slowest} {per_query[slowest] * 1000:,.0f} ms)")
    return out


def replay(settings, sessions: int, duration_s: float) -> dict:
    """``sessions`` threads replaying page views for ``duration_s``; latencies per query."""
    users = (ANALYST, REGIONAL, STORE_MANAGER)
    latencies: list[float] = []
    views: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + duration_s

    def session(i: int) -> None:
        source = SessionSource(settings)
        n = i
        while time.monotonic() < stop:
            page, user = PAGES[n % len(PAGES)], users[(n // len(PAGES) + i) % len(users)]
            n += 1
            try:
                wall, steps = page_view(source, page, user)
            except Exception as exc:  # noqa: BLE001 - every error is counted and reported
                with lock:
                    errors.append(f"{page.name} as {user}: {type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                latencies.extend(s for _, s in steps)
                views.append(wall)
        source.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"sessions": sessions, "wall_s": wall, "queries": len(latencies),
            "views": len(views), "qps": len(latencies) / wall,
            "p50": percentile(latencies, 0.5) if latencies else 0.0,
            "p95": percentile(latencies, 0.95) if latencies else 0.0,
            "p99": percentile(latencies, 0.99) if latencies else 0.0,
            "view_p95": percentile(views, 0.95) if views else 0.0, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_chain_arguments(parser)
    parser.add_argument("--reps", type=int, default=9, help="page views per page (queries)")
    parser.add_argument("--browser-reps", type=int, default=5, help="loads per page")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sessions")
    parser.add_argument("--cache", type=Path, default=REPO / ".retail" / "bench-dashboards")
    parser.add_argument("--rebuild", action="store_true",
                        help="build the cached warehouse anew (a migration it has changed)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--write", type=Path, help="also write the markdown section here")
    args = parser.parse_args()
    server, built = warehouse(args)
    try:
        if args.build_only:
            return
        ws = server.settings("retail")
        progress("pages' queries ...")
        pages = bench_pages(Source(ws), args.reps)
        progress("pages drawn in Chromium ...")
        drawn = draw_times(ws, ANALYST, args.browser_reps, progress)
        progress(f"one session at a time, {args.duration / 2:g} s ...")
        alone = replay(ws, 1, args.duration / 2)
        progress(f"{args.sessions} sessions, {args.duration:g} s ...")
        crowd = replay(ws, args.sessions, args.duration)
    finally:
        server.stop()
    text = report(args, built, pages, drawn, alone, crowd)
    print(text)
    errors = alone["errors"] + crowd["errors"]
    if errors:
        raise SystemExit(f"{len(errors)} error(s), the report is not written; first: "
                         + "\n".join(errors[:5]))
    if args.write:
        write_section(args.write, "dashboards", text)


if __name__ == "__main__":
    main()
