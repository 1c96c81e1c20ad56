"""Master-data files: every rule of the schema, with the line and field it reports; reading
CSV and Parquet; the generated docs; the CLI's argument checks. No warehouse here (the load
is tested against the real server in tests/integration/test_masterdata_cli.py)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.warehouse.masterdata import FILES, PRODUCTS, STORES, SUPPLIERS, check_files, \
    schema_markdown, with_schema

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "masterdata"
runner = CliRunner()

STORE = {"store_id": "BOS-001", "name": "Back Bay", "city": "Boston", "state": "MA",
         "region": "Northeast", "country": "US", "timezone": "America/New_York",
         "store_type": "supermarket", "square_footage": "42000", "opens_at": "07:00",
         "closes_at": "22:00"}
SUPPLIER = {"supplier_id": "SUP-1", "name": "Orchard", "category": "Produce",
            "lead_time_mean_days": "1.5", "lead_time_sd_days": "0.4"}
PRODUCT = {"product_id": "P-1", "sku": "4011", "name": "Bananas", "category": "Produce",
           "sub_category": "Fruit", "brand": "Orchard", "supplier_id": "SUP-1",
           "unit_cost": "0.31", "list_price": "0.59", "shelf_life_days": "7", "pack_size": "40"}
GOOD = {"stores": STORE, "suppliers": SUPPLIER, "products": PRODUCT}


def csv_file(tmp_path: Path, name: str, header: list[str], *rows: list[str]) -> Path:
    path = tmp_path / f"{name}.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows])
    return path


def rows_file(tmp_path: Path, name: str, *changes: dict[str, str]) -> Path:
    """A CSV of ``name`` with a good row (line 2) and one more row per change (line 3...):
    the good row with the change applied, its key made unique."""
    good = GOOD[name]
    unique = [f.name for f in FILES[name].fields if f.unique]  # made unique per row
    rows = [dict(good)] + [{**good, **{k: f"{good[k]}-{i}" for k in unique}, **c}
                           for i, c in enumerate(changes)]
    return csv_file(tmp_path, name, list(good), *[[r[k] for k in good] for r in rows])


def problems(paths: dict[str, Path], known: dict | None = None) -> list[tuple]:
    checked = check_files(paths, known)
    assert bool(checked.tables) != bool(checked.problems)
    return [(p.line, p.field, p.reason) for p in checked.problems]


def only(name: str, tmp_path: Path, change: dict[str, str]) -> list[tuple]:
    """The problems of a file whose line 3 differs from a good line 2 by ``change``."""
    return problems({name: rows_file(tmp_path, name, change)},
                    {"suppliers": ["SUP-1"]})


# --- the examples ---------------------------------------------------------------------------
def test_the_examples_pass_and_become_rows_in_the_dimensions_types():
    checked = check_files({n: EXAMPLES / f"{n}.csv" for n in FILES})
    assert checked.problems == []
    assert {n: t.num_rows for n, t in checked.tables.items()} == \
        {"suppliers": 3, "products": 8, "stores": 4}
    assert [f.name for f in checked.tables["products"].schema] == \
        [f.name for f in PRODUCTS.fields]
    paper = checked.tables["products"].to_pylist()[6]
    assert paper["list_price"] == Decimal("8.99") and paper["shelf_life_days"] == 0  # default
    assert checked.tables["products"].schema.field("pack_size").type == pa.uint16()
    assert checked.tables["suppliers"].schema.field("lead_time_mean_days").type == pa.float32()


def test_the_bad_example_reports_every_problem_with_its_line_and_field():
    assert problems({"products": EXAMPLES / "bad_products.csv"}, {"suppliers": ["SUP-ORCHARD"]}
                    ) == [
        (3, "sku", "duplicate sku (first on line 2)"),
        (3, "list_price", "not a number with at most 2 decimal places"),
        (4, "name", "required, but empty"),
        (4, "supplier_id", "no supplier_id SUP-NOWHERE in the suppliers file or in "
                           "dim_supplier"),
        (4, "shelf_life_days", "below the minimum 0"),
        (5, "product_id", "duplicate product_id (first on line 2)"),
        (5, "pack_size", "below the minimum 1"),
    ]


# --- every rule -----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "change", "field", "reason"), [
    ("stores", {"name": ""}, "name", "required, but empty"),
    ("stores", {"name": " "}, "name", "required, but empty"),
    ("products", {"supplier_id": ""}, "supplier_id", "required, but empty"),
    ("stores", {"store_id": "BOS 9"}, "store_id", "not an identifier"),
    ("stores", {"store_id": "-BOS"}, "store_id", "not an identifier"),
    ("stores", {"store_id": "S" * 65}, "store_id", "not an identifier"),
    ("stores", {"name": "x" * 201}, "name", "not text of at most 200 characters"),
    ("stores", {"name": "tab\there"}, "name", "not text of at most 200 characters"),
    ("stores", {"opens_at": "7:00"}, "opens_at", "not a time of day HH:MM"),
    ("stores", {"closes_at": "24:00"}, "closes_at", "not a time of day HH:MM"),
    ("stores", {"closes_at": "21:60"}, "closes_at", "not a time of day HH:MM"),
    ("stores", {"square_footage": "1.5"}, "square_footage", "not a whole number"),
    ("stores", {"square_footage": "-1"}, "square_footage", "below the minimum 0"),
    ("stores", {"square_footage": "4000000001"}, "square_footage",
     "above the maximum 4,000,000,000"),
    ("stores", {"country": "USA"}, "country", "not an ISO 3166-1 alpha-2 country code"),
    ("stores", {"country": "XX"}, "country", "not an ISO 3166-1 alpha-2 country code"),
    ("stores", {"timezone": "Mars/Olympus"}, "timezone", "not an IANA time zone"),
    ("products", {"unit_cost": "1.999"}, "unit_cost", "not a number with at most 2 decimal"),
    ("products", {"unit_cost": "$1.99"}, "unit_cost", "not a number with at most 2 decimal"),
    ("products", {"unit_cost": "-0.01"}, "unit_cost", "below the minimum 0"),
    ("products", {"list_price": "0"}, "list_price", "below the minimum 0.01"),
    ("products", {"shelf_life_days": "65536"}, "shelf_life_days",
     "above the maximum 65,535"),
    ("products", {"pack_size": "0"}, "pack_size", "below the minimum 1"),
    ("products", {"sku": "4011"}, "sku", "duplicate sku (first on line 2)"),
    ("products", {"supplier_id": "SUP-9"}, "supplier_id",
     "no supplier_id SUP-9 in the suppliers file or in dim_supplier"),
    ("suppliers", {"lead_time_mean_days": "0"}, "lead_time_mean_days",
     "below the minimum 0.1"),
    ("suppliers", {"lead_time_mean_days": "366"}, "lead_time_mean_days",
     "above the maximum 365"),
    ("suppliers", {"lead_time_mean_days": "nan"}, "lead_time_mean_days", "not a number"),
    ("suppliers", {"lead_time_sd_days": "-1"}, "lead_time_sd_days", "below the minimum 0"),
])
def test_a_bad_cell_is_reported_at_its_line_and_field(tmp_path, name, change, field, reason):
    [(line, got_field, got_reason)] = only(name, tmp_path, change)
    assert (line, got_field) == (3, field)
    assert got_reason.startswith(reason), got_reason


@pytest.mark.parametrize(("name", "change"), [
    ("stores", {"opens_at": "00:00", "closes_at": "00:00"}),  # open around the clock
    ("stores", {"closes_at": "01:30"}),  # after midnight
    ("stores", {"country": "CA", "timezone": "America/Toronto"}),
    ("stores", {"city": "", "state": "", "region": "", "store_type": "", "square_footage": ""}),
    ("products", {"unit_cost": "0", "list_price": "12", "sku": "A-1"}),
    ("products", {"unit_cost": "1.5000", "list_price": ".99", "sku": "A-2"}),
    ("products", {"shelf_life_days": "", "pack_size": "", "brand": "", "sku": "A-3"}),
    ("products", {"name": "  Bananas, ripe  ", "sku": "A-4"}),
    ("suppliers", {"lead_time_mean_days": "1e1", "lead_time_sd_days": ""}),
])
def test_a_good_variant_passes(tmp_path, name, change):
    assert only(name, tmp_path, change) == []


def test_empty_optional_cells_take_their_defaults_and_cells_are_trimmed(tmp_path):
    path = rows_file(tmp_path, "products", {"shelf_life_days": "", "pack_size": "",
                                            "brand": "", "name": "  Kiwi  "})
    rows = check_files({"products": path}, {"suppliers": ["SUP-1"]}).tables["products"]
    last = rows.to_pylist()[1]
    assert (last["shelf_life_days"], last["pack_size"], last["brand"], last["name"]) == \
        (0, 1, "", "Kiwi")


def test_a_duplicate_key_names_the_first_line_for_every_repeat(tmp_path):
    path = rows_file(tmp_path, "stores", {"store_id": "BOS-001"}, {"store_id": "BOS-001"})
    assert problems({"stores": path}) == [
        (3, "store_id", "duplicate store_id (first on line 2)"),
        (4, "store_id", "duplicate store_id (first on line 2)")]


def test_a_supplier_may_come_from_the_file_even_from_its_bad_row_or_from_the_warehouse(
        tmp_path):
    suppliers = rows_file(tmp_path, "suppliers", {"supplier_id": "SUP-2",
                                                  "lead_time_mean_days": "0"})
    products = rows_file(tmp_path, "products", {"supplier_id": "SUP-2"},
                         {"supplier_id": "SUP-3"}, {"supplier_id": "SUP-4"})
    assert problems({"suppliers": suppliers, "products": products}, {"suppliers": ["SUP-3"]}
                    ) == [(3, "lead_time_mean_days", "below the minimum 0.1"),
                          (5, "supplier_id", "no supplier_id SUP-4 in the suppliers file or "
                                             "in dim_supplier")]


def test_every_problem_of_every_file_is_reported_and_no_rows_are_returned(tmp_path):
    stores = rows_file(tmp_path, "stores", {"country": "XX"})
    suppliers = rows_file(tmp_path, "suppliers", {"name": ""})
    products = rows_file(tmp_path, "products")  # good
    checked = check_files({"stores": stores, "suppliers": suppliers, "products": products})
    assert checked.tables == {}
    assert [(Path(p.file).name, p.line, p.field) for p in checked.problems] == [
        ("suppliers.csv", 3, "name"), ("stores.csv", 3, "country")]


# --- the header -----------------------------------------------------------------------------
def test_an_unknown_a_repeated_and_a_missing_required_column_are_reported_on_line_1(
        tmp_path):
    path = csv_file(tmp_path, "suppliers", ["supplier_id", "nmae", "supplier_id", "category"],
                    ["SUP-1", "Orchard", "SUP-1", "Produce"])
    assert [(line, field, reason.split(" (")[0]) for line, field, reason in
            problems({"suppliers": path})] == [
        (1, "supplier_id", "column appears twice"),
        (1, "name", "required column missing"),
        (1, "lead_time_mean_days", "required column missing"),
        (1, "nmae", "unknown column")]


def test_an_absent_optional_column_takes_its_default(tmp_path):
    path = csv_file(tmp_path, "suppliers", ["supplier_id", "name", "lead_time_mean_days"],
                    ["SUP-1", "Orchard", "2"])
    assert check_files({"suppliers": path}).tables["suppliers"].to_pylist() == [
        {"supplier_id": "SUP-1", "name": "Orchard", "category": "",
         "lead_time_mean_days": 2.0, "lead_time_sd_days": 0.0}]


# --- CSV ------------------------------------------------------------------------------------
def test_csv_lines_count_blank_lines_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "suppliers.csv"
    path.write_text("supplier_id,name,lead_time_mean_days\n"
                    "SUP-1,\"Orchard\nValley\",2\n"  # lines 2-3
                    "\n"  # line 4
                    "SUP-2,Dairy,0\n"  # line 5
                    ",,\n"  # line 6: no values at all, skipped like a blank line
                    "SUP-3,Home,x\n")  # line 7
    assert problems({"suppliers": path}) == [
        (2, "name", "not text of at most 200 characters without control characters"),
        (5, "lead_time_mean_days", "below the minimum 0.1"),
        (7, "lead_time_mean_days", "not a number")]


def test_a_csv_line_with_too_few_or_too_many_cells_is_reported_once(tmp_path):
    path = csv_file(tmp_path, "suppliers", ["supplier_id", "name", "lead_time_mean_days"],
                    ["SUP-1", "Orchard"], ["SUP-2", "Dairy", "2", "extra"], ["SUP-3", "Ok", "1"])
    assert problems({"suppliers": path}) == [(2, "-", "2 cells, the header has 3"),
                                             (3, "-", "4 cells, the header has 3")]


def test_a_byte_order_mark_is_fine_and_text_that_is_not_utf8_is_refused(tmp_path):
    bom = tmp_path / "suppliers.csv"
    bom.write_bytes(b"\xef\xbb\xbfsupplier_id,name,lead_time_mean_days\nSUP-1,Caf\xc3\xa9,2\n")
    assert problems({"suppliers": bom}) == []
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"supplier_id,name,lead_time_mean_days\nSUP-1,Caf\xe9,2\n")
    [(line, field, reason)] = problems({"suppliers": latin1})
    assert (line, field) == (None, "-") and reason.startswith("not UTF-8 text")


def test_an_empty_file_is_refused(tmp_path):
    empty = tmp_path / "stores.csv"
    empty.write_text("")
    assert problems({"stores": empty}) == [
        (None, "-", "empty file: the first line must name the columns")]


# --- Parquet --------------------------------------------------------------------------------
def test_parquet_typed_columns_are_accepted_and_problems_name_the_row(tmp_path):
    path = tmp_path / "products.parquet"
    pq.write_table(pa.table({
        "product_id": pa.array(["P-1", "P-2", "P-3"]).dictionary_encode(),
        "sku": pa.array([4011, 4012, 4013], pa.int64()),
        "name": ["Bananas", "Apples", "Kiwi"], "category": ["Produce"] * 3,
        "supplier_id": ["SUP-1"] * 3,
        "unit_cost": pa.array([Decimal("0.31"), Decimal("0.80"), Decimal("1.00")],
                              pa.decimal128(10, 4)),
        "list_price": pa.array([0.59, 1.49, 0.1 + 0.2], pa.float64()),
        "pack_size": pa.array([40, 0, 6], pa.int32()),
    }), path)
    checked = check_files({"products": path}, {"suppliers": ["SUP-1"]})
    assert [(p.unit, p.line, p.field, p.reason) for p in checked.problems] == [
        ("row", 2, "pack_size", "below the minimum 1"),
        ("row", 3, "list_price", "not a number with at most 2 decimal places")]


def test_parquet_good_file_loads_like_its_csv(tmp_path):
    csv_rows = check_files({"stores": EXAMPLES / "stores.csv"}).tables["stores"]
    path = tmp_path / "stores.parquet"
    pq.write_table(csv_rows, path)
    assert check_files({"stores": path}).tables["stores"].equals(csv_rows)


def test_a_parquet_column_of_another_type_or_a_file_that_is_not_parquet_is_refused(tmp_path):
    path = tmp_path / "suppliers.parquet"
    pq.write_table(pa.table({"supplier_id": ["SUP-1"], "name": ["Orchard"],
                             "lead_time_mean_days": pa.array([[1.0]])}), path)
    [(line, field, reason)] = problems({"suppliers": path})
    assert (line, field) == (None, "lead_time_mean_days")
    assert reason.startswith("Parquet type list<") and reason.endswith(
        "is not accepted: use string, integer, float or decimal")
    fake = tmp_path / "fake.parquet"
    fake.write_text("supplier_id\nSUP-1\n")
    [(line, field, reason)] = problems({"suppliers": fake})
    assert (line, field) == (None, "-") and reason.startswith("not a Parquet file")


# --- docs -----------------------------------------------------------------------------------
def test_docs_masterdata_md_shows_the_schema_as_the_code_defines_it():
    doc = (ROOT / "docs" / "masterdata.md").read_text()
    assert doc == with_schema(doc), \
        "run `retail masterdata schema --write docs/masterdata.md`"


def test_the_schema_lists_every_column_of_every_file():
    md = schema_markdown()
    for spec in (STORES, PRODUCTS, SUPPLIERS):
        assert f"`--{spec.name}` → `{spec.table}`" in md
        assert all(f"| `{f.name}` |" in md for f in spec.fields)


# --- CLI arguments (the warehouse URL answers nothing: bad flags fail before it) --------------
@pytest.mark.parametrize(("args", "said"), [
    ([], "give at least one of --stores, --products, --suppliers"),
    (["--stores", "nope.csv"], "--stores nope.csv: no such file"),
    (["--products", "products.xlsx"], "--products products.xlsx: unknown extension '.xlsx'"),
    (["--suppliers", "suppliers"], "--suppliers suppliers: unknown extension '(none)'"),
])
def test_load_refuses_bad_arguments_naming_the_flag(monkeypatch, args, said):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["masterdata", "load", *args])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "cannot reach the warehouse" not in result.output


def test_schema_prints_the_markdown():
    result = runner.invoke(app, ["masterdata", "schema"])
    assert result.exit_code == 0
    assert result.output == schema_markdown() + "\n"
