"""`retail stream run|status`: bad options and settings fail fast naming them; status reads
the batches recorded in the warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import console
from retail.streaming.state import StreamState

runner = CliRunner()


@pytest.mark.parametrize(("args", "named"), [
    (["--late-after", "-5"], "--late-after"),
    (["--max-offsets", "0"], "--max-offsets"),
    (["--starting-offsets", "middle"], "--starting-offsets"),
])
def test_a_bad_option_stops_before_spark_starts_and_names_the_flag(args, named):
    result = runner.invoke(app, ["stream", "run", *args])
    assert result.exit_code == 2, result.output
    assert named in result.output


def test_outside_local_mode_a_checkpoint_directory_is_required(monkeypatch):
    monkeypatch.setenv("RETAIL_ENV", "prod")
    monkeypatch.setenv("RETAIL_WAREHOUSE__PASSWORD", "a-real-secret-1")
    result = runner.invoke(app, ["stream", "run"])
    assert result.exit_code == 2, result.output
    assert "RETAIL_STREAM__CHECKPOINT_DIR is required for env=prod" in result.output


def test_a_bad_threshold_setting_names_its_variable(monkeypatch):
    monkeypatch.setenv("RETAIL_STREAM__RESTOCK_RESOLVE_RISK", "0.9")
    result = runner.invoke(app, ["stream", "run"])
    assert result.exit_code == 2, result.output
    assert "RETAIL_STREAM" in result.output and "restock_resolve_risk" in result.output


@pytest.mark.integration
def test_status_lists_the_latest_batches(migrated, fresh_database, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    monkeypatch.setattr(console, "width", 200)
    empty = runner.invoke(app, ["stream", "status"])
    assert empty.exit_code == 0, empty.output
    assert "no micro-batches recorded yet" in empty.output
    t = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for batch in range(3):
        StreamState(migrated, "5f0c2a9e-0000").record_batch(batch, {
            "max_event_time": t, "watermark": None, "input_rows": 100 + batch,
            "good_rows": 100, "rejected_rows": batch, "late_rows": 0, "alerts": 0,
            "started_at": t, "finished_at": t.replace(minute=batch), "lag_ms": 1500})
    result = runner.invoke(app, ["stream", "status", "--last", "2"])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "5f0c2a9e" in ln]
    assert len(lines) == 2 and "102" in lines[0] and "101" in lines[1], result.output


def test_status_without_a_warehouse_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["stream", "status"])
    assert result.exit_code == 1, result.output
    assert "cannot reach the warehouse at http://127.0.0.1:9" in result.output


@pytest.mark.integration
def test_status_into_a_pipe_shows_every_column_whole(migrated, fresh_database):
    """Without a terminal rich assumes 80 columns; a log must still read "rejected"."""
    t = datetime(2026, 11, 20, 12, tzinfo=UTC)
    StreamState(migrated, "5f0c2a9e-0000").record_batch(7, {
        "max_event_time": t, "watermark": t, "input_rows": 123_456, "good_rows": 123_000,
        "rejected_rows": 456, "late_rows": 0, "alerts": 3, "started_at": t,
        "finished_at": t.replace(minute=1), "lag_ms": 1500})
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_") and k != "COLUMNS"}
    env.update(RETAIL_WAREHOUSE__URL=fresh_database.url,
               RETAIL_WAREHOUSE__DATABASE=fresh_database.database)
    result = subprocess.run([sys.executable, "-m", "retail", "stream", "status"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    header = next(ln for ln in result.stdout.splitlines() if "stream" in ln)
    assert [c.strip() for c in header.split("┃") if c.strip()] == [
        "stream", "batch", "rows", "rejected", "late", "repeats", "alerts", "ms", "lag ms",
        "watermark", "finished"], result.stdout
    assert "…" not in result.stdout
    row = next(ln for ln in result.stdout.splitlines() if "5f0c2a9e" in ln)
    assert "2026-11-20 12:01:00" in row and "123456" in row, result.stdout


def test_status_shows_at_least_one_batch():
    result = runner.invoke(app, ["stream", "status", "--last", "0"])
    assert result.exit_code == 2
    assert "--last" in result.output
