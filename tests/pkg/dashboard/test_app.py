"""The app's shell in-process (Flask's test client on the real app): its health answer, the
refresh interval, and what local identity says when nobody has access yet."""

from __future__ import annotations

import json

import pytest

from retail.dashboard.app import create_app
from retail.dashboard.data import Source
from retail.dashboard.settings import DashboardSettings
from retail.settings import WarehouseSettings
from tests.conftest import free_port
from tests.pkg.dashboard.demo_warehouse import demo_warehouse  # noqa: F401 (a fixture)

pytestmark = pytest.mark.clickhouse_server


def layout(settings: DashboardSettings, ws: WarehouseSettings) -> str:
    response = create_app(settings, Source(ws)).server.test_client().get("/_dash-layout")
    assert response.status_code == 200, response.text
    return response.text


def interval(text: str) -> dict:
    def find(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == "refresh":
                return node["props"]
            for value in node.values():
                if (hit := find(value)) is not None:
                    return hit
        if isinstance(node, list):
            for value in node:
                if (hit := find(value)) is not None:
                    return hit
        return None
    return find(json.loads(text))


def test_health_is_503_naming_the_warehouse_while_it_does_not_answer():
    ws = WarehouseSettings(url=f"http://127.0.0.1:{free_port()}", connect_timeout_s=2)
    app = create_app(DashboardSettings(), Source(ws))
    response = app.server.test_client().get("/healthz")
    assert response.status_code == 503 and ws.url in response.text


def test_local_identity_without_assignments_says_how_to_grant_one(migrated, fresh_database):
    text = layout(DashboardSettings(identity="local"), fresh_database)
    assert "nobody has access yet" in text and "retail access grant" in text
    assert "reader-picker" not in text


@pytest.mark.parametrize(("seconds", "every_ms", "disabled"), [(900, 900_000, False),
                                                                (60, 60_000, False),
                                                                (0, 1_000, True)])
def test_the_pages_refresh_every_refresh_seconds(demo_warehouse, seconds, every_ms, disabled):
    props = interval(layout(DashboardSettings(refresh_seconds=seconds),
                            demo_warehouse.settings))
    assert props["interval"] == every_ms and props["disabled"] is disabled


@pytest.mark.parametrize(("flag", "value"), [("--identity", "sso"), ("--port", "80")])
def test_serve_refuses_a_bad_option_naming_it(flag, value):
    from tests.conftest import retail_cli

    out = retail_cli("dashboard", "serve", flag, value, code=2)
    assert flag in out and value in out
