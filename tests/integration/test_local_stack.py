"""`retail local up|status|down` and `retail simulate` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import re
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import free_port
from retail.warehouse.migrate import discover

pytestmark = pytest.mark.integration
RETAIL = [sys.executable, "-m", "retail.cli"]


@pytest.fixture
def stack_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
    # The MLflow server has tests of its own (test_local_mlflow.py); here the runs would go
    # to a folder, and `up` starts no server.
    env.update(RETAIL_LOCAL__HOME=str(tmp_path / ".retail"),
               RETAIL_LOCAL__BROKER_PORT=str(free_port()),
               RETAIL_LOCAL__WAREHOUSE_PORT=str(free_port()),
               RETAIL_LOCAL__MLFLOW_PORT=str(free_port()),
               RETAIL_MLFLOW__TRACKING_URI=f"file://{tmp_path / 'mlruns'}", COLUMNS="200")
    yield env
    subprocess.run([*RETAIL, "local", "down"], env=env, capture_output=True, timeout=60)


def retail(env, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*RETAIL, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_up_status_down_manage_only_the_broker_that_up_started(stack_env, tmp_path):
    first = retail(stack_env, "local", "up")
    assert first.returncode == 0, first.stderr
    assert "retail-dead-letter" in first.stdout
    assert f"{len(discover())} migration(s) applied now" in first.stdout
    mlruns = stack_env["RETAIL_MLFLOW__TRACKING_URI"]  # no local MLflow server then
    assert f"mlflow: not started here, RETAIL_MLFLOW__TRACKING_URI is {mlruns}" in first.stdout
    record = json.loads((tmp_path / ".retail" / "broker.json").read_text())
    wh_record = json.loads((tmp_path / ".retail" / "warehouse.json").read_text())
    port = stack_env["RETAIL_LOCAL__WAREHOUSE_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?query=SELECT%20count()%20FROM%20"
                                "retail.schema_migrations", timeout=10) as resp:
        assert resp.read() == f"{len(discover())}\n".encode()

    again = retail(stack_env, "local", "up")
    assert again.returncode == 0 and "all existed" in again.stdout
    assert "0 migration(s) applied now" in again.stdout
    assert json.loads((tmp_path / ".retail" / "broker.json").read_text())["pid"] == record["pid"]
    assert json.loads((tmp_path / ".retail" / "warehouse.json").read_text())["pid"] == \
        wh_record["pid"]

    status = retail(stack_env, "local", "status")
    assert status.returncode == 0, status.stderr
    for name, partitions in [("retail-sales-transactions", 3), ("retail-restock-alerts", 1),
                             ("retail-price-changes", 2)]:
        line = next(ln for ln in status.stdout.splitlines() if name in ln)
        assert f" {partitions} " in line

    assert f"warehouse: running, pid {wh_record['pid']}" in status.stdout
    assert f"mlflow: {mlruns} (RETAIL_MLFLOW__TRACKING_URI)" in status.stdout

    down = retail(stack_env, "local", "down")
    assert down.returncode == 0 and str(record["pid"]) in down.stdout
    assert f"warehouse stopped (pid {wh_record['pid']})" in down.stdout
    for pid in (record["pid"], wh_record["pid"]):
        assert not Path(f"/proc/{pid}").exists() or \
            "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert retail(stack_env, "local", "status").returncode == 3
    assert "broker: nothing to stop" in retail(stack_env, "local", "down").stdout


def test_down_leaves_alone_a_process_it_did_not_start(stack_env, tmp_path):
    other = subprocess.Popen(["sleep", "60"])
    try:
        home = tmp_path / ".retail"
        home.mkdir()
        (home / "broker.json").write_text(json.dumps({
            "pid": other.pid, "port": 1, "binary": "/bin/sleep",
            "storage_engine": "memory://", "started_at": 0}))
        assert "nothing to stop" in retail(stack_env, "local", "down").stdout
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("taken", [["RETAIL_LOCAL__BROKER_PORT"],
                                   ["RETAIL_LOCAL__WAREHOUSE_PORT"],
                                   ["RETAIL_LOCAL__BROKER_PORT", "RETAIL_LOCAL__WAREHOUSE_PORT"]])
def test_up_checks_both_ports_first_and_starts_nothing_when_one_is_taken(stack_env, tmp_path,
                                                                         taken):
    ports = {var: int(stack_env[var]) for var in ("RETAIL_LOCAL__BROKER_PORT",
                                                  "RETAIL_LOCAL__WAREHOUSE_PORT")}
    holders = [socket.socket() for _ in taken]
    try:
        for s, var in zip(holders, taken):
            s.bind(("127.0.0.1", ports[var]))
            s.listen()
        result = retail(stack_env, "local", "up")
    finally:
        for s in holders:
            s.close()
    assert result.returncode == 1, result.stdout
    for var in taken:
        assert f"127.0.0.1:{ports[var]} is taken by another process (free it or set {var})" \
            in result.stderr
    assert "nothing was started" in result.stderr
    home = tmp_path / ".retail"
    assert not (home / "broker.json").exists() and not (home / "warehouse.json").exists()
    assert not any(listening(port) for port in ports.values())  # the holders are closed


def test_a_bad_setting_fails_fast_naming_the_variable(stack_env):
    result = retail({**stack_env, "RETAIL_SIMULATOR__RATE": "-3"}, "simulate", "--sink", "null")
    assert result.returncode == 2
    assert "RETAIL_SIMULATOR__RATE" in result.stderr


def test_simulate_reports_per_type_counts_that_match_the_broker(stack_env):
    assert retail(stack_env, "local", "up").returncode == 0
    run = retail(stack_env, "simulate", "--stores", "2", "--products", "100", "--rate", "10",
                 "--start", "2026-03-02", "--seed", "3")
    assert run.returncode == 0, run.stderr
    assert "backfill" in run.stdout and "1/1" in run.stdout
    total = next(ln for ln in run.stdout.splitlines() if "total" in ln)
    sent = int([c.strip() for c in total.split("│") if c.strip()][1].replace(",", ""))
    assert f"acked {sent:,}" in run.stdout
    status = retail(stack_env, "local", "status")
    messages = 0
    for ln in status.stdout.splitlines():
        cells = [c.strip() for c in ln.split("│") if c.strip()]
        if cells and cells[0].startswith("retail-"):
            messages += int(cells[3].replace(",", ""))
    assert messages == sent


def test_sigterm_stops_a_backfill_after_the_current_batch_and_flushes(stack_env):
    assert retail(stack_env, "local", "up").returncode == 0
    proc = subprocess.Popen(
        [*RETAIL, "simulate", "--stores", "30", "--products", "300", "--rate", "100",
         "--days", "30", "--start", "2026-03-02"],
        env=stack_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped before the end" in out and "SIGTERM" in err
    line = next(ln for ln in out.splitlines() if ln.startswith("producer:"))
    counts = {k: int(v.replace(",", "")) for k, v in re.findall(r"([a-z-]+) ([\d,]+)", line)}
    assert counts["sent"] > 0
    assert counts["sent"] == counts["acked"] and counts["failed"] == 0


def test_stream_run_prints_no_third_party_info_lines_and_fills_the_lake_in_the_home(
        stack_env, tmp_path):
    assert retail(stack_env, "local", "up").returncode == 0
    day = str(datetime.now(UTC).date() - timedelta(days=3))
    for args in (["simulate", "--stores", "2", "--products", "20", "--rate", "5",
                  "--start", day], ["warehouse", "load-dims", "--stores", "2",
                                    "--products", "20"]):
        assert retail(stack_env, *args).returncode == 0
    run = retail(stack_env, "stream", "run", "--available-now", "--late-after", "2880",
                 timeout=300)
    assert run.returncode == 0, run.stderr
    assert "batch 0:" in run.stdout
    third_party = re.compile(r" INFO +(py4j|kafka|urllib3|clickhouse_connect)")
    assert not [ln for ln in run.stderr.splitlines() if third_party.search(ln)], run.stderr
    # nor Spark's JVM start-up notices (pkg/retail/streaming/log4j2-quiet.properties)
    for notice in ("log4j profile", "Setting default log level", "NativeCodeLoader",
                   "resolves to a loopback address"):
        assert notice not in run.stderr, run.stderr
    assert any((tmp_path / ".retail" / "lake").rglob("*.parquet"))  # the lake in the home
    # (`--verbose` bringing them back: tests/pkg/cli/test_verbosity.py, without a second Spark)
