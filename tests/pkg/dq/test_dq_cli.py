"""`retail dq run|status|list`: a run prints every result and exits by its error checks;
status shows the latest result per check; bad options exit 2 naming the flag."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import console
from retail.dq import CHECKS
from tests.pkg.dq.dq_dataset import NOW, dataset, load, movement

runner = CliRunner()


@pytest.mark.parametrize("args, named", [
    (["--date", "11/03/2026"], "--date"), (["--as-of", "noon"], "--as-of"),
    (["--check", "nothing.like.this"], "--check nothing.like.this")])
def test_a_bad_option_exits_2_naming_it(args, named, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["dq", "run", *args])

    assert result.exit_code == 2, result.output
    assert named in result.output


def test_list_shows_every_declared_check(monkeypatch):
    monkeypatch.setattr(console, "width", 400)
    result = runner.invoke(app, ["dq", "list"])

    assert result.exit_code == 0, result.output
    assert all(c.name in result.output for c in CHECKS)


@pytest.mark.integration
@pytest.mark.clickhouse_server
def test_run_prints_the_results_and_exits_1_on_a_failing_error_check_then_status(
        migrated, fresh_database, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    monkeypatch.setattr(console, "width", 400)
    empty = runner.invoke(app, ["dq", "status"])
    assert "no data-quality results recorded yet" in empty.output
    tables = dataset()
    load(migrated, tables)

    clean = runner.invoke(app, ["dq", "run", "--as-of", NOW.isoformat()])
    assert clean.exit_code == 0, clean.output
    assert f"{len(CHECKS)} pass, 0 warn, 0 fail" in clean.output

    tables = {"fact_inventory": [movement("S00003", "P00002", NOW - timedelta(hours=1),
                                          int(f"{NOW:%Y%m%d}"), -5, -5, "x", "shrinkage")]}
    load(migrated, tables, history_from={"fact_sales": []})
    found = runner.invoke(app, ["dq", "run", "--as-of", NOW.isoformat(), "--check",
                                "consistency.*", "--no-alerts"])
    assert found.exit_code == 1, found.output
    assert "2 pass, 0 warn, 1 fail" in found.output
    assert "S00003 P00002" in found.output and "alert" not in found.output.split("run dq-")[1]

    status = runner.invoke(app, ["dq", "status"])
    assert status.exit_code == 0, status.output
    lines = [line for line in status.output.splitlines() if "consistency." in line]
    assert len(lines) == 3 and sum("fail" in line for line in lines) == 1
    assert sum(c.name in status.output for c in CHECKS) == len(CHECKS)
