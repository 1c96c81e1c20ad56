"""Who reads the dashboards, and that they receive only their stores' rows: identity
resolution against the demo warehouse's assignments, then the real app served on a free
port in header identity, its callbacks replayed as the browser sends them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from retail.dashboard.identity import (Forbidden, Reader, Unauthenticated, assigned_users,
                                       reader, user_name)
from retail.dashboard.pages import NO_FORECASTS, PAGES
from retail.dashboard.settings import DashboardSettings
from retail.io.warehouse import connect
from retail.queries import run_query
from tests.pkg.dashboard.demo_warehouse import (ADMIN, END, REGIONAL_MANAGER, STORE_MANAGER,
                                                demo_warehouse)  # noqa: F401 (a fixture)
from tests.pkg.dashboard.served import USER_HEADER, Callbacks, dashboard, http

pytestmark = pytest.mark.clickhouse_server
HEADER = DashboardSettings(identity="header", user_header=USER_HEADER)
LOCAL = DashboardSettings(identity="local")
STORES = ["S00001", "S00002", "S00003", "S00004"]


@pytest.fixture(scope="module")
def wh(demo_warehouse):
    with connect(demo_warehouse.settings) as client:
        yield client


@pytest.fixture(scope="module")
def served(demo_warehouse, tmp_path_factory):
    with dashboard(demo_warehouse.settings, tmp_path_factory.mktemp("dash"), "header") as url:
        yield url


def as_user(user: str) -> dict[str, str]:
    return {USER_HEADER: user}


def panels(served: str, user: str, page, **values) -> dict:
    """The page's panels for ``user`` as of the demo's last day: component id -> props."""
    filters = {f"{page.key}-as-of": END.isoformat(), **values}
    status, text = Callbacks(served, as_user(user)).call(f"{page.key}-status", filters)
    assert status == 200, text
    return {k: v.get("children", v) for k, v in json.loads(text)["response"].items()}


def figure(children: dict) -> dict:
    assert children["type"] == "Graph", children
    return children["props"]["figure"]


# --- identity -----------------------------------------------------------------------------
def test_header_identity_takes_the_proxys_header_lower_cased_and_ignores_the_page():
    assert user_name(HEADER, {USER_HEADER: " Ann@Example.COM "}, "admin@example.com") \
        == "ann@example.com"


@pytest.mark.parametrize("headers", [{}, {USER_HEADER: "  "}, {"X-Other": "ann@example.com"}])
def test_header_identity_without_the_header_is_unauthenticated(headers):
    with pytest.raises(Unauthenticated, match=USER_HEADER):
        user_name(HEADER, headers, "admin@example.com")


def test_local_identity_is_the_readers_choice_and_nobody_before_one():
    assert user_name(LOCAL, {USER_HEADER: "x@y"}, "Ann@Example.com") == "ann@example.com"
    assert user_name(LOCAL, {}, None) is None and user_name(LOCAL, {}, " ") is None


def test_a_reader_gets_the_stores_of_their_assignments(wh, demo_warehouse):
    for user, stores in demo_warehouse.stores.items():
        assert reader(wh, user.upper()) == Reader(user, tuple(stores))
    assert reader(wh, "nobody@example.com") == Reader("nobody@example.com", ())
    assert reader(wh, None) is None


def test_the_assigned_users_are_listed_with_what_they_cover(wh):
    assert assigned_users(wh) == [
        (ADMIN, "all stores: 4 stores"),
        (REGIONAL_MANAGER.lower(), "region Northeast: 2 stores"),
        (STORE_MANAGER, "store S00002: 1 store")]


def test_a_store_outside_the_readers_is_forbidden():
    Reader("ann", ("S00002",)).check_store("S00002")
    with pytest.raises(Forbidden, match="S00001"):
        Reader("ann", ("S00002",)).check_store("S00001")


# --- over HTTP ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/executive", "/_dash-layout", "/_dash-dependencies"])
def test_without_the_header_every_request_is_refused(served, path):
    status, text = http(served + path)
    assert status == 401 and USER_HEADER in text


def test_health_needs_no_header(served):
    assert http(served + "/healthz") == (200, "ok")


def test_a_callback_without_the_header_is_refused(served):
    callbacks = Callbacks(served, as_user(STORE_MANAGER))
    status, text = callbacks.call("executive-status", {}, headers={})
    assert status == 401 and "S0000" not in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.key)
def test_a_store_manager_is_offered_only_their_store(served, page):
    status, text = Callbacks(served, as_user(STORE_MANAGER)).call(f"{page.key}-store", {})
    assert status == 200, text
    store = json.loads(text)["response"][f"{page.key}-store"]
    assert store["options"] == ["S00002"]
    assert store["value"] == ("S00002" if page.one_store else None)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.key)
def test_a_store_manager_receives_no_other_stores_rows_even_when_the_page_names_another_reader(
        served, page):
    store = {f"{page.key}-store": "S00002"} if page.one_store else {}
    mine = panels(served, STORE_MANAGER, page, reader=ADMIN, **store)
    text = json.dumps(mine)
    assert not [s for s in STORES if s != "S00002" and s in text]
    assert mine[f"{page.key}-status"].startswith(STORE_MANAGER)
    empty = [p.id for p in page.panels if mine[f"{page.key}-{p.id}"]["props"].get(
        "className") == "empty"]
    assert empty == [], f"panels without rows for the store manager: {empty}"


def test_the_admin_sees_every_store_where_the_store_manager_sees_one(served, wh,
                                                                      demo_warehouse):
    executive = PAGES[0]
    heat = {u: figure(panels(served, u, executive)["executive-heatmap"])["data"][0]["y"]
            for u in (ADMIN, STORE_MANAGER, REGIONAL_MANAGER)}
    assert heat == {ADMIN: STORES, STORE_MANAGER: ["S00002"],
                    REGIONAL_MANAGER: demo_warehouse.stores[REGIONAL_MANAGER.lower()]}
    # the store manager's trend is the query's answer for their store alone
    trend = figure(panels(served, STORE_MANAGER, executive)["executive-trend"])["data"][0]
    want = run_query(wh, "sales_trend_90d", as_of=demo_warehouse.end, stores=["S00002"])
    assert trend["y"] == want["revenue"].to_pylist()
    everyone = run_query(wh, "sales_trend_90d", as_of=demo_warehouse.end, stores=STORES)
    assert sum(trend["y"]) < sum(everyone["revenue"].to_pylist())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.key)
def test_a_forged_store_in_the_slicer_is_refused(served, page):
    status, text = Callbacks(served, as_user(STORE_MANAGER)).call(
        f"{page.key}-status", {f"{page.key}-store": "S00001"})
    assert status == 403 and "S00001" in text and "figure" not in text


def test_a_reader_without_assignments_is_told_how_to_get_some(served):
    got = panels(served, "nobody@example.com", PAGES[0])
    assert "retail access grant" in got["executive-status"]
    assert "S0000" not in json.dumps(got)


def test_a_panel_without_rows_says_what_to_run(served):
    page = next(p for p in PAGES if p.one_store)
    before_any_run = (END - timedelta(days=30)).isoformat()
    got = panels(served, STORE_MANAGER, page, **{f"{page.key}-store": "S00002",
                                                  f"{page.key}-as-of": before_any_run})
    assert got[f"{page.key}-forecast"]["props"]["children"] == NO_FORECASTS
    assert got[f"{page.key}-stock"]["type"] == "Graph"


def test_readers_at_the_same_time_each_receive_their_own_stores(served, demo_warehouse):
    executive = PAGES[0]
    users = [ADMIN, STORE_MANAGER, REGIONAL_MANAGER] * 4
    with ThreadPoolExecutor(len(users)) as pool:
        got = list(pool.map(lambda u: figure(panels(served, u, executive)[
            "executive-heatmap"])["data"][0]["y"], users))
    assert got == [demo_warehouse.stores[u.lower()] for u in users]
