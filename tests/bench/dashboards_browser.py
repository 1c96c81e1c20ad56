"""bench_dashboards.py, part 2: each page of ``retail dashboard serve`` drawn in headless
Chromium (Playwright driving Debian's /usr/bin/chromium; browser downloads are impossible
here). The app runs as the local stack runs it (:mod:`retail.local.dashboard_server`), on the
benchmark warehouse, with identity ``header``: the browser sends the reader in the proxy's
header on every request, as oauth2-proxy would."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_warehouse import percentile
from conftest import free_port

from retail.dashboard.pages import PAGES
from retail.local import dashboard_server
from retail.settings import WarehouseSettings, load_settings

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
# Every panel body holds something, and every Plotly graph in it has drawn its SVG.
DRAWN = """(ids) => ids.every(id => {
  const el = document.getElementById(id);
  return el && el.childElementCount > 0 &&
    [...el.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('.main-svg'));
})"""
WITH_DATA = "(ids) => ids.filter(id => !document.getElementById(id).querySelector('.empty'))" \
            ".length"


def draw_times(ws: WarehouseSettings, user: str, reps: int,
               progress: Callable[[str], None]) -> list[dict]:
    """Per page: panels, panels with data, p50/p95 seconds until drawn, console errors."""
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="retail-bench-dash-app-"))
    os.environ.update({"RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE":
                       ws.database, "RETAIL_DASHBOARD__IDENTITY": "header",
                       "RETAIL_DASHBOARD__PORT": str(free_port()),
                       "RETAIL_LOCAL__HOME": str(home), "RETAIL_LOG__LEVEL": "WARNING"})
    settings = load_settings()
    header = settings.dashboard.user_header
    record, _ = dashboard_server.up(settings)
    out = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=CHROMIUM_ARGS)
            context = browser.new_context(extra_http_headers={header: user},
                                          viewport={"width": 1400, "height": 1000})
            for page in PAGES:
                ids = [f"{page.key}-{p.id}" for p in page.panels]
                errors: list[str] = []
                times = []
                for rep in range(reps + 1):  # the first load warms the app up
                    tab = context.new_page()
                    tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
                    tab.on("pageerror", lambda e: errors.append(str(e)))
                    t0 = time.perf_counter()
                    tab.goto(record.url + page.path, wait_until="commit")
                    tab.wait_for_function(DRAWN, arg=ids, timeout=120_000, polling=50)
                    if rep:
                        times.append(time.perf_counter() - t0)
                    with_data = tab.evaluate(WITH_DATA, ids)
                    tab.close()
                out.append({"page": page.name, "panels": len(ids), "with_data": with_data,
                            "p50": percentile(times, 0.5), "p95": percentile(times, 0.95),
                            "console_errors": len(errors)})
                progress(f"drawn {page.name}: p95 {out[-1]['p95'] * 1000:,.0f} ms, "
                         f"{with_data} of {len(ids)} panels with data, {len(errors)} console "
                         f"error(s){': ' + errors[0][:200] if errors else ''}")
            browser.close()
    finally:
        dashboard_server.down(settings)
        shutil.rmtree(home, ignore_errors=True)
    return out
