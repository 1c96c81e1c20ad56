"""The dashboards in a real browser (Debian's Chromium driven by Playwright) over the demo
warehouse, served by ``retail dashboard serve`` in local identity: every page draws its
charts with data and logs no error, a filter changes what is drawn, and a store manager's
view shows their store only. Each page's screenshot goes to the test's directory, and to
$DASHBOARD_SCREENSHOTS when set (``DASHBOARD_SCREENSHOTS=docs/img`` refreshes the docs')."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from retail.dashboard.pages import BY_PATH, PAGES
from retail.io.warehouse import connect
from retail.queries import run_query
from tests.pkg.dashboard.demo_warehouse import (ADMIN, END, STORE_MANAGER,
                                                demo_warehouse)  # noqa: F401 (a fixture)
from tests.pkg.dashboard.served import dashboard

pytestmark = [pytest.mark.integration, pytest.mark.clickhouse_server]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ALL_STORES = ["S00001", "S00002", "S00003", "S00004"]
OTHER_STORES = [s for s in ALL_STORES if s != "S00002"]
# true once every panel of the page has content and every chart in it has drawn traces
DRAWN = """([ids, reader]) => {
  const status = document.getElementById(ids[0]);
  if (!status || !status.textContent.startsWith(reader)) return false;
  return ids.slice(1).every(id => {
    const el = document.getElementById(id);
    if (!el || !el.firstElementChild) return false;
    return [...el.querySelectorAll('.chart')].every(c => {
      const plot = c.querySelector('.js-plotly-plot');
      return plot && plot._fullData && plot._fullData.length > 0 && plot.querySelector('.main-svg');
    });
  });
}"""

HAS_DATA = """p => p.data.some(t => ['y', 'z', 'value'].some(
  k => t[k] !== undefined && t[k] !== null && (t[k].length === undefined || t[k].length > 0)))"""


@pytest.fixture(scope="module")
def served(demo_warehouse, tmp_path_factory):
    with dashboard(demo_warehouse.settings, tmp_path_factory.mktemp("dash"), "local") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """One browser tab reading the dashboards as one user; console errors are kept."""

    def __init__(self, browser: Browser, url: str, user: str) -> None:
        self.url, self.user = url, user
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(url + PAGES[0].path)
        self.choose("reader-picker", user)

    def choose(self, dropdown: str, option: str) -> None:
        self.page.click(f"#{dropdown}")
        self.page.locator(".dash-dropdown-option", has_text=option).first.click()
        self.page.keyboard.press("Escape")

    def open(self, path: str) -> None:
        """Go to ``path`` through the page header's link and wait until it has drawn."""
        self.page.click(f"a.nav[href='{path}']")
        self.wait_drawn(path)

    def wait_drawn(self, path: str) -> None:
        page = BY_PATH[path]
        ids = [f"{page.key}-status", *(f"{page.key}-{p.id}" for p in page.panels)]
        self.page.wait_for_function(DRAWN, arg=[ids, self.user], timeout=30_000)

    def wait_figure(self, element_id: str, axis: str, values: list) -> None:
        """Wait until the first trace of the chart in ``element_id`` has ``values`` on
        ``axis``."""
        self.page.wait_for_function(
            "([id, axis, want]) => { const p = document.querySelector("
            "'#' + id + ' .js-plotly-plot'); return p && p.data && "
            "JSON.stringify(p.data[0][axis]) === JSON.stringify(want); }",
            arg=[element_id, axis, values], timeout=30_000)

    def figure_data(self, element_id: str) -> list[dict]:
        return self.page.evaluate(
            "id => document.querySelector('#' + id + ' .js-plotly-plot').data"
            ".map(t => ({x: t.x, y: t.y}))", element_id)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def admin(browser, served):
    tab = Tab(browser, served, ADMIN)
    yield tab
    tab.close()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.key)
def test_each_page_draws_its_charts_with_data_and_logs_no_error(admin, page, tmp_path):
    admin.open(page.path)
    body = admin.page.locator("main")
    assert body.locator(".empty").count() == 0, body.inner_text()
    charts = body.locator(".chart .js-plotly-plot")
    assert charts.count() >= 1
    for i in range(charts.count()):
        assert charts.nth(i).evaluate(HAS_DATA), charts.nth(i).evaluate("p => p.data")
    assert admin.errors == []
    shot = f"dashboard-{page.key}.png"
    admin.page.screenshot(path=tmp_path / shot, full_page=True)
    if os.environ.get("DASHBOARD_SCREENSHOTS"):
        out = Path(os.environ["DASHBOARD_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        admin.page.screenshot(path=out / shot, full_page=True)


def test_the_category_and_store_filters_change_what_is_drawn(admin, demo_warehouse):
    with connect(demo_warehouse.settings) as wh:
        top = run_query(wh, "top_products", as_of=END, stores=ALL_STORES).to_pylist()
    category = top[0]["category"]
    admin.open("/executive")
    assert admin.figure_data("executive-top")[0]["y"] == [r["product_name"] for r in top]
    assert admin.figure_data("executive-heatmap")[0]["y"] == ALL_STORES

    admin.choose("executive-category", category)
    admin.wait_figure("executive-top", "y",
                      [r["product_name"] for r in top if r["category"] == category])
    admin.wait_figure("executive-heatmap", "x", [category])
    admin.choose("executive-store", "S00003")
    admin.wait_figure("executive-heatmap", "y", ["S00003"])
    assert admin.errors == []


def test_a_store_managers_view_shows_only_their_store(browser, served):
    tab = Tab(browser, served, STORE_MANAGER)
    try:
        tab.wait_drawn("/executive")
        assert tab.figure_data("executive-heatmap")[0]["y"] == ["S00002"]
        tab.page.click("#executive-store")
        offered = tab.page.locator(".dash-dropdown-option").all_inner_texts()
        tab.page.keyboard.press("Escape")
        assert offered == ["S00002"]
        for path in ("/store-manager", "/alerts", "/inventory-analyst"):
            tab.open(path)
            text = tab.page.locator("main").inner_text()
            assert "S00002" in text and not [s for s in OTHER_STORES if s in text], text
        assert tab.errors == []
    finally:
        tab.close()
