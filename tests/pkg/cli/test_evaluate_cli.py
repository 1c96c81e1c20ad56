"""`retail evaluate business`: bad options exit 2 naming the flag before anything starts; an
MLflow server that does not answer exits 1 naming it, before Spark or the warehouse is
touched. (The whole run: tests/bench/business_loop_check.py, in make bench-business.)"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from retail.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args, named", [
    (["--stores", "0"], "--stores must be at least 1"),
    (["--start", "2026-01-06"], "--start must be a Monday, got Tuesday 2026-01-06"),
    (["--start", "06/01/2026"], "--start"),
    (["--warmup-weeks", "3"], "--warmup-weeks must be >= 4"),
    (["--compare-weeks", "0"], "--compare-weeks must be >= 1"),
    (["--feature-days", "200"], "--feature-days must be in 35 .. 84"),
    (["--oracle", "magic"], "unknown --oracle part(s) magic; known: forecast, safety-stock"),
])
def test_a_bad_option_exits_2_naming_it(args, named, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["evaluate", "business", *args])
    assert result.exit_code == 2, result.output
    assert named in " ".join(result.output.split())


def test_an_unreachable_registry_exits_1_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:8")
    monkeypatch.setenv("RETAIL_MLFLOW__TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("RETAIL_MLFLOW__REQUEST_TIMEOUT_S", "2")
    result = runner.invoke(app, ["evaluate", "business", "--stores", "2", "--products", "10"])
    assert result.exit_code == 1, result.output
    assert "http://127.0.0.1:9" in result.output and "127.0.0.1:8" not in result.output
