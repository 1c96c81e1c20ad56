"""`retail forecast evaluate --date D`: bad options exit 2 naming the flag; missing actuals
exit 1 naming the feature job; a day with forecasts and actuals prints and writes its
evaluations and drift."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import console
from tests.pkg.ml.monitoring_data import (day_actuals, forecasts, insert_features,
                                          insert_predictions)

runner = CliRunner()


@pytest.mark.parametrize("args, named", [
    (["--date", "10/03/2026"], "--date"),
    (["--date", "2026-03-10", "--reference-from", "2026-13-01", "--reference-to",
      "2026-02-01"], "--reference-from"),
    (["--date", "2026-03-10", "--reference-to", "2026-02-01"], "--reference-from and "
     "--reference-to together"),
    (["--date", "2026-03-10", "--reference-days", "2"], "--reference-days")])
def test_a_bad_option_exits_2_naming_it(args, named, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["forecast", "evaluate", *args])
    assert result.exit_code == 2, result.output
    assert named in result.output


@pytest.mark.clickhouse_server
def test_evaluate_prints_the_metrics_and_drift_and_missing_actuals_exit_1(
        migrated, fresh_database, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    monkeypatch.setattr(console, "width", 400)
    insert_predictions(migrated, forecasts())
    missing = runner.invoke(app, ["forecast", "evaluate", "--date", "2026-03-10"])
    assert missing.exit_code == 1 and "retail features build --date 2026-03-10" in \
        missing.output, missing.output

    insert_features(migrated, day_actuals())
    done = runner.invoke(app, ["forecast", "evaluate", "--date", "2026-03-10"])
    assert done.exit_code == 0, done.output
    assert "37.5%" in done.output  # v1, horizon 1, Dairy: WAPE 6 / 16
    assert "4 evaluation row(s) in model_evaluations" in done.output
    assert migrated.query_rows("SELECT count() FROM model_evaluations FINAL")[0][0] == 4
