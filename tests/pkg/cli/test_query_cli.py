"""`retail query`: an unknown store or a day outside the data is refused (exit 2) naming the
flag, what exists and, for a store in the wrong case, the right id."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from retail.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()
# Sales on 2026-03-02 and 2026-03-04 (none on 03-03: a gap inside the data is fine).
SALES = [("T1", "S00001", "P00001", 2, "2026-03-02T15:00"),
         ("T2", "S00002", "P00001", 1, "2026-03-04T18:00")]


def sales(rows) -> pa.Table:
    money = pa.decimal128(12, 2)
    return pa.table({
        "transaction_id": [r[0] for r in rows],
        "line_number": pa.array([1] * len(rows), pa.uint16()),
        "transaction_type": ["sale"] * len(rows),
        "store_id": [r[1] for r in rows], "product_id": [r[2] for r in rows],
        "quantity": pa.array([r[3] for r in rows], pa.int32()),
        "unit_price": pa.array([Decimal("2.50")] * len(rows), money),
        "revenue": pa.array([Decimal("2.50") * r[3] for r in rows], pa.decimal128(14, 2)),
        "unit_cost": pa.array([Decimal("1.00")] * len(rows), money),
        "payment_method": ["card"] * len(rows),
        "event_time": pa.array([datetime.fromisoformat(r[4]).replace(tzinfo=timezone.utc)
                                for r in rows], pa.timestamp("ms", tz="UTC")),
    })


@pytest.fixture
def warehouse(migrated, fresh_database, monkeypatch):
    """An empty, migrated warehouse, and the CLI pointed at it."""
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    return migrated


@pytest.fixture
def chain(warehouse):
    """Two stores with sales on two days."""
    warehouse.insert_arrow("dim_store", pa.table({
        "store_id": ["S00001", "S00002"], "name": ["Uptown", "Harbor"],
        "region": ["North", "South"]}))
    warehouse.insert_arrow("fact_sales", sales(SALES))
    return warehouse


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_a_known_store_and_a_day_in_the_data_run(chain):
    result = runner.invoke(app, ["query", "store_today_vs_target", "--store", "S00002",
                                 "--as-of", "2026-03-03", "--format", "json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("store", ["S99999", "S00001' OR 1=1 --", ""])
def test_an_unknown_store_is_refused_saying_what_ids_look_like(chain, store):
    result = runner.invoke(app, ["query", "store_low_stock", "--store", store])
    assert result.exit_code == 2, result.output
    assert f"--store: unknown store {store!r} (store ids look like S00001; 2 stores known)" \
        in one_line(result.output)
    assert "rows" not in result.output


def test_a_store_in_the_wrong_case_is_refused_naming_the_right_one(chain):
    result = runner.invoke(app, ["query", "store_low_stock", "--store", "s00002"])
    assert result.exit_code == 2, result.output
    assert "unknown store 's00002' (did you mean 'S00002'?" in one_line(result.output)


def test_with_no_stores_loaded_the_error_says_how_to_load_them(warehouse):
    warehouse.insert_arrow("fact_sales", sales(SALES))
    result = runner.invoke(app, ["query", "store_low_stock", "--store", "S00001"])
    assert result.exit_code == 2, result.output
    assert "dim_store is empty" in result.output and "load-dims" in result.output


@pytest.mark.parametrize("day", ["2026-03-01", "2026-03-05", "2027-01-01"])
def test_a_day_outside_the_data_is_refused_naming_the_range(chain, day):
    result = runner.invoke(app, ["query", "executive_kpis", "--as-of", day])
    assert result.exit_code == 2, result.output
    assert f"--as-of {day}: outside the data, which has sales from 2026-03-02 to " \
        "2026-03-04" in one_line(result.output)


def test_a_day_that_is_not_a_date_names_the_flag_and_the_format(chain):
    result = runner.invoke(app, ["query", "executive_kpis", "--as-of", "2026/03/02"])
    assert result.exit_code == 2, result.output
    assert "--as-of must be a date YYYY-MM-DD, got '2026/03/02'" in one_line(result.output)


def test_an_empty_warehouse_says_there_is_nothing_to_report(warehouse):
    result = runner.invoke(app, ["query", "executive_kpis"])
    assert result.exit_code == 1, result.output
    assert "fact_sales is empty" in result.output
