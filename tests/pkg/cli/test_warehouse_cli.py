"""`retail warehouse load-dims`: bad flags are refused naming them, before the warehouse is
even reached (its URL here answers nothing, so any attempt would fail differently)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from retail.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("args", "said"), [
    (["--stores", "0"], "--stores: Input should be greater than or equal to 1, got 0"),
    (["--products", "0"], "--products: Input should be greater than or equal to 10, got 0"),
    (["--seed", "-3"], "--seed: Input should be greater than or equal to 0, got -3"),
    (["--start", "2023/01/01"], "--start must be a date YYYY-MM-DD, got '2023/01/01'"),
    (["--days", "0"], "--days"),
])
def test_load_dims_refuses_a_bad_flag_naming_it(monkeypatch, args, said):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["warehouse", "load-dims", *args])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "cannot reach the warehouse" not in result.output
