"""``retail batch close-imported``: days whose facts were loaded straight into the
warehouse get their end-of-day snapshot (what the feature build needs of a closed day) and
a ``job_runs`` row of their own; a re-run changes nothing; a day with nothing loaded is
refused by name. On the local warehouse server, no Spark."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from retail.batch.imported import JOB
from retail.features.sources import DayNotReady, check_ready
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink, backfill
from retail.warehouse.load import load_dimensions
from tests.conftest import retail_cli as retail

START = date(2026, 5, 4)
DAYS = [START + timedelta(days=i) for i in range(3)]


@pytest.fixture()
def imported(cli_env, migrated):
    """Three days of a small chain loaded straight into the facts (no lake)."""
    catalog = generate_catalog(2, 12, 3)
    load_dimensions(migrated, catalog, START, len(DAYS) + 7)
    sink = WarehouseSink(migrated, catalog, run_id="imported-test")
    backfill(Simulator(catalog, SimConfig(seed=3, rate=3.0, start=START,
                                          days=len(DAYS))), sink)
    return migrated


def snapshots(wh) -> dict[int, int]:
    return dict(wh.query_rows("SELECT date_key, count() FROM fact_inventory FINAL WHERE "
                              "record_type = 'snapshot' GROUP BY date_key"))


def test_imported_days_are_closed_by_their_snapshot_and_recorded_as_imported(imported):
    wh = imported
    with pytest.raises(DayNotReady, match="close-imported"):
        check_ready(wh, DAYS)
    out = retail("batch", "close-imported", "--from", str(DAYS[0]), "--to", str(DAYS[-1]))
    assert f"closed 3 imported day(s), {DAYS[0]}..{DAYS[-1]}" in out
    held = snapshots(wh)
    assert sorted(held) == [int(f"{d:%Y%m%d}") for d in DAYS] and min(held.values()) > 0
    check_ready(wh, DAYS)  # the feature build takes them
    runs = wh.query_rows("SELECT status, rows_in, rows_out, details FROM job_runs FINAL "
                         "WHERE job = {job:String} ORDER BY started_at", {"job": JOB})
    assert [r[0] for r in runs] == ["succeeded"] * 3
    for (_, lines, rows, details), day in zip(runs, DAYS):
        d = json.loads(details)
        assert d["day"] == str(day) and "no reconciliation" in d["mode"]
        assert lines > 0 and rows == held[int(f"{day:%Y%m%d}")]
    assert not wh.query_rows("SELECT count() FROM job_runs WHERE job = 'daily_etl'")[0][0]
    # a re-run writes no row: every snapshot row is unchanged
    raw = wh.query_rows("SELECT count() FROM fact_inventory")[0][0]
    retail("batch", "close-imported", "--date", str(DAYS[1]))
    assert wh.query_rows("SELECT count() FROM fact_inventory")[0][0] == raw


def test_a_day_with_nothing_loaded_is_refused_by_name(imported):
    empty = DAYS[-1] + timedelta(days=1)  # the first day after the loaded ones
    out = retail("batch", "close-imported", "--from", str(DAYS[-1]),
                 "--to", str(empty + timedelta(days=1)), code=1)
    assert f"{empty}: fact_sales" in out and "nothing imported to close" in out
    assert sorted(snapshots(imported)) == [int(f"{DAYS[-1]:%Y%m%d}")]  # the days before it
    failed = imported.query_rows("SELECT details FROM job_runs FINAL WHERE status = 'failed'")
    assert len(failed) == 1 and str(empty) in failed[0][0]


def test_bad_days_name_the_flag(cli_env):
    assert "--to 2026-05-01 is before --from 2026-05-04" in retail(
        "batch", "close-imported", "--from", "2026-05-04", "--to", "2026-05-01", code=2)
    assert "--date must be a date YYYY-MM-DD" in retail(
        "batch", "close-imported", "--date", "04/05/2026", code=2)
