"""`retail masterdata load` against the real local warehouse server: the examples load, a
re-load changes nothing, a changed row replaces the old one (also when it changes back), a
file with bad rows loads nothing from any file, and the schema's fields are the dimensions'
columns."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.io.warehouse import ClickHouseWarehouse, connect
from retail.settings import WarehouseSettings
from retail.warehouse.masterdata import FILES, check_files
from retail.warehouse.migrate import Migrator
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "masterdata"

pytestmark = [pytest.mark.integration, pytest.mark.clickhouse_server]
runner = CliRunner()
ALL = ["--stores", str(EXAMPLES / "stores.csv"), "--products", str(EXAMPLES / "products.csv"),
       "--suppliers", str(EXAMPLES / "suppliers.csv")]


@pytest.fixture(scope="module")
def database(warehouse_settings) -> Iterator[WarehouseSettings]:
    """One migrated database for the module (migrating costs more than the tests)."""
    settings = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    with connect(settings, database="") as admin:
        Migrator(admin, settings.database, lambda db: connect(settings, db)).migrate()
        yield settings
        admin.command(f"DROP DATABASE IF EXISTS `{settings.database}` SYNC")


@pytest.fixture
def warehouse(database, monkeypatch) -> Iterator[ClickHouseWarehouse]:
    """Empty dimensions, and the CLI pointed at them."""
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", database.database)
    with connect(database) as wh:
        for spec in FILES.values():
            wh.command(f"TRUNCATE TABLE {spec.table}")
        yield wh


def load(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["masterdata", "load", *args])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def state(wh) -> dict[str, list[tuple]]:
    """Every row of the three dimensions as stored, its version (updated_at) included; not
    FINAL, so a duplicate would show."""
    return {spec.table: sorted(wh.query_rows(f"SELECT * FROM {spec.table}"))
            for spec in FILES.values()}


def test_the_examples_load_then_a_reload_changes_nothing(warehouse):
    out = load(*ALL)
    assert "dim_supplier │ 3 │ 3 │ 0 │ 0" in out and "dim_store │ 4 │ 4 │ 0 │ 0" in out
    assert "dim_product │ 8 │ 8 │ 0 │ 0" in out
    before = state(warehouse)
    assert [len(rows) for rows in before.values()] == [3, 8, 4]
    assert warehouse.query_rows(
        "SELECT count() FROM dim_product AS p JOIN dim_supplier AS s ON s.supplier_key = "
        "p.supplier_key WHERE p.product_key = retail_key(p.product_id)")[0][0] == 8
    assert warehouse.query_rows(
        "SELECT store_key = retail_key('TOR-001'), country, timezone, opens_at, closes_at "
        "FROM dim_store WHERE store_id = 'TOR-001'") == \
        [(True, "CA", "America/Toronto", "08:00", "21:00")]
    assert warehouse.query_rows("SELECT list_price, shelf_life_days, pack_size FROM "
                                "dim_product WHERE product_id = 'P-300001'") == \
        [(Decimal("8.99"), 0, 8)]

    out = load(*ALL)
    assert "dim_product │ 8 │ 0 │ 0 │ 8" in out
    assert state(warehouse) == before  # not one row rewritten, not even its updated_at


def test_a_changed_row_replaces_the_old_version_and_changing_it_back_restores_it(
        warehouse, tmp_path):
    load(*ALL)
    changed = tmp_path / "products.csv"
    original = (EXAMPLES / "products.csv").read_text()
    changed.write_text(original.replace("Greek Yogurt 32 oz,Dairy,Yogurt,Northern Farms,"
                                        "SUP-DAIRYCO,3.10,5.49", "Greek Yogurt 32 oz,Dairy,"
                                        "Yogurt,Northern Farms,SUP-DAIRYCO,3.10,5.29"))
    price = "SELECT list_price FROM dim_product WHERE product_id = 'P-200002'"

    assert "dim_product │ 8 │ 0 │ 1 │ 7" in load("--products", str(changed))
    assert warehouse.query_rows(price) == [(Decimal("5.29"),)]  # one row: merged
    assert "dim_product │ 8 │ 0 │ 1 │ 7" in load("--products", str(EXAMPLES / "products.csv"))
    assert warehouse.query_rows(price) == [(Decimal("5.49"),)]
    assert warehouse.query_rows("SELECT count() FROM dim_product")[0][0] == 8


def test_a_file_with_bad_rows_loads_nothing_from_any_file(warehouse, tmp_path):
    load("--suppliers", str(EXAMPLES / "suppliers.csv"))
    before = state(warehouse)
    out = load("--stores", str(EXAMPLES / "stores.csv"), "--products",
               str(EXAMPLES / "bad_products.csv"), code=1)
    assert "7 problems in 3 rows; nothing was loaded" in out
    assert "bad_products.csv │ line 4 │ supplier_id │ SUP-NOWHERE │ no supplier_id " \
           "SUP-NOWHERE in the suppliers file or in dim_supplier" in out
    assert "error: nothing was loaded" in out
    assert state(warehouse) == before  # the good stores file was not loaded either

    capped = load("--products", str(EXAMPLES / "bad_products.csv"), "--max-errors", "2",
                  code=1)
    assert "7 problems in 3 rows" in capped and "… and 5 more" in capped
    assert "line 3 │ list_price" in capped and "line 4" not in capped


def test_products_may_name_suppliers_already_in_the_warehouse_and_parquet_loads(
        warehouse, tmp_path):
    load("--suppliers", str(EXAMPLES / "suppliers.csv"))
    parquet = tmp_path / "products.parquet"
    pq.write_table(check_files({"products": EXAMPLES / "products.csv"},
                               {"suppliers": ["SUP-ORCHARD", "SUP-DAIRYCO", "SUP-HOMEGOODS"]}
                               ).tables["products"], parquet)
    assert "dim_product │ 8 │ 8 │ 0 │ 0" in load("--products", str(parquet))
    assert warehouse.query_rows("SELECT count() FROM dim_product")[0][0] == 8


def test_a_dry_run_compares_and_writes_nothing(warehouse, tmp_path):
    out = load(*ALL, "--dry-run")
    assert "dry run: nothing written" in out and "dim_store │ 4 │ 4 │ 0 │ 0" in out
    assert state(warehouse) == {spec.table: [] for spec in FILES.values()}


def test_the_schema_covers_every_column_of_the_dimensions_in_their_types(warehouse):
    checked = check_files({n: EXAMPLES / f"{n}.csv" for n in FILES})
    derived = {"store_key", "product_key", "supplier_key", "updated_at"}  # column defaults
    for name, spec in FILES.items():
        columns = [(c, t) for c, t, *_ in warehouse.query_rows(f"DESCRIBE TABLE {spec.table}")
                   if c not in derived]
        assert [c for c, _ in columns] == [f.name for f in spec.fields]
        sent = checked.tables[name].schema
        for column, ch_type in columns:
            arrow = str(sent.field(column).type)
            assert {"string": "String", "uint16": "UInt16", "uint32": "UInt32",
                    "float": "Float32", "decimal128(12, 2)": "Decimal(12, 2)"}[arrow] in \
                ch_type, (column, arrow, ch_type)
