"""`retail local up --with-dashboard|status|down` with the web dashboards, as a user runs them."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from conftest import free_port
from test_local_stack import listening, retail, stack_env  # noqa: F401
from tests.processes import group, listening_addresses

pytestmark = pytest.mark.integration


@pytest.fixture
def dash_env(stack_env) -> dict[str, str]:
    return {**stack_env, "RETAIL_DASHBOARD__PORT": str(free_port())}


def test_up_starts_the_dashboards_on_loopback_status_shows_them_down_stops_their_group(
        dash_env, tmp_path):
    home = tmp_path / ".retail"
    port = int(dash_env["RETAIL_DASHBOARD__PORT"])
    url = f"http://127.0.0.1:{port}"
    first = retail(dash_env, "local", "up", "--with-dashboard", timeout=300)
    assert first.returncode == 0, first.stderr
    record = json.loads((home / "dashboard.json").read_text())
    assert f"dashboard up: pid {record['pid']}, {url} (pick a user" in first.stdout
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as resp:
        assert resp.status == 200 and resp.read().strip() == b"ok"
    processes = group(record["pid"])
    assert record["pid"] in processes
    assert listening_addresses(processes) == {f"0100007F:{port:04X}"}  # 127.0.0.1 only

    again = retail(dash_env, "local", "up", "--with-dashboard")
    assert again.returncode == 0, again.stderr
    assert json.loads((home / "dashboard.json").read_text())["pid"] == record["pid"]
    status = retail(dash_env, "local", "status")
    assert f"dashboard: running, pid {record['pid']}, {url} (healthz: ok)" in status.stdout

    down = retail(dash_env, "local", "down")
    assert f"dashboard stopped (pid {record['pid']})" in down.stdout
    assert not group(record["pid"]) and not listening(port)
    assert not (home / "dashboard.json").exists()
    assert "dashboard: nothing to stop" in retail(dash_env, "local", "down").stdout


def test_a_taken_port_starts_nothing_and_an_app_too_slow_to_answer_is_stopped(
        dash_env, tmp_path):
    home = tmp_path / ".retail"
    port = int(dash_env["RETAIL_DASHBOARD__PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        taken = retail(dash_env, "local", "up", "--with-dashboard")
    assert taken.returncode == 1
    assert f"127.0.0.1:{port} is taken by another process (free it or set " \
           "RETAIL_DASHBOARD__PORT); nothing was started" in " ".join(taken.stderr.split())
    assert not any((home / name).exists() for name in ("broker.json", "warehouse.json"))

    slow = retail({**dash_env, "RETAIL_DASHBOARD__START_TIMEOUT_S": "0.05"}, "local", "up",
                  "--with-dashboard", timeout=300)
    assert slow.returncode == 1
    assert f"did not answer http://127.0.0.1:{port}/healthz within 0.05s " \
           "(RETAIL_DASHBOARD__START_TIMEOUT_S) and was stopped" in \
           " ".join(slow.stderr.split())
    assert not (home / "dashboard.json").exists() and not listening(port)
    assert "dashboard: not running (retail local up --with-dashboard starts it)" in \
        retail(dash_env, "local", "status").stdout
