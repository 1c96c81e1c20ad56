"""The feature definitions are the one place: the docs are generated from them, the
warehouse table has their columns in their types, and the store reads back into a training
set through them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from retail.features.definitions import (COLUMNS, FEATURES, KNOWN_AHEAD, Feature,
                                         features_markdown, with_features)

ROOT = Path(__file__).resolve().parents[3]
_ARROW = {"date": pa.date32(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(),
          "boolean": pa.bool_(), "string": pa.string()}


def test_docs_features_md_lists_the_features_as_the_code_defines_them():
    doc = (ROOT / "docs" / "features.md").read_text()
    assert doc == with_features(doc), "run `retail features list --write docs/features.md`"


def test_every_column_is_named_once_and_documented():
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    md = features_markdown()
    assert all(f"| `{c.name}` |" in md and c.meaning for c in COLUMNS)
    assert {f.group for f in FEATURES if f.known_ahead} == {"calendar"}
    assert "demand" not in KNOWN_AHEAD


def test_a_document_without_the_generated_section_is_refused():
    with pytest.raises(ValueError, match="no <!-- features"):
        with_features("# Features\n")


@pytest.mark.parametrize("feature,clickhouse", [
    (Feature("a", "x", "string", "m"), "LowCardinality(String)"),
    (Feature("a", "x", "string", "m", nullable=True), "LowCardinality(Nullable(String))"),
    (Feature("a", "x", "double", "m", nullable=True), "Nullable(Float64)"),
    (Feature("a", "x", "int", "m", clickhouse="UInt32"), "UInt32"),
])
def test_the_warehouse_type_follows_from_the_spark_type(feature, clickhouse):
    assert feature.clickhouse_type == clickhouse


@pytest.mark.clickhouse_server
def test_migration_0014_has_the_declared_columns_sorted_by_day_store_product(migrated):
    columns = migrated.query_rows(
        "SELECT name, type FROM system.columns WHERE database = {db:String} "
        "AND table = 'feature_store_daily' ORDER BY position", {"db": migrated.database})
    assert columns == [(c.name, c.clickhouse_type) for c in COLUMNS] + \
        [("updated_at", "DateTime64(3, 'UTC')")]
    engine, sorting, partition = migrated.query_rows(
        "SELECT engine_full, sorting_key, partition_key FROM system.tables "
        "WHERE database = {db:String} AND name = 'feature_store_daily'",
        {"db": migrated.database})[0]
    assert engine.startswith("ReplacingMergeTree(updated_at)")
    assert (sorting, partition) == ("date_key, store_key, product_key", "intDiv(date_key, 100)")
    assert "deduplication_window" not in engine  # a row changed back must be written again


def store_rows(first: date, demand: list[int]) -> pa.Table:
    """One pair's rows of consecutive days, every column typed as declared."""
    n = len(demand)
    days = [first + timedelta(days=i) for i in range(n)]
    values = {"date": days, "date_key": [int(d.strftime("%Y%m%d")) for d in days],
              "store_key": [1] * n, "product_key": [2] * n, "demand": demand,
              "day_of_week": [d.isoweekday() for d in days]}
    fill = {"date": first, "int": 0, "long": 0, "double": 0.0, "boolean": False,
            "string": "x"}
    return pa.table({c.name: pa.array(values.get(c.name, [fill[c.type]] * n), _ARROW[c.type])
                     for c in COLUMNS})


@pytest.mark.clickhouse_server
def test_a_training_set_reads_the_latest_version_of_each_row(spark, migrated):
    from retail.features.training import load_training_set

    first = date(2024, 5, 1)
    migrated.insert_arrow("feature_store_daily", store_rows(first, [5, 6, 7, 8]))
    migrated.insert_arrow("feature_store_daily",  # a re-run replaced day 3's row
                          store_rows(first + timedelta(days=2), [70]))
    got = load_training_set(spark, migrated, first, first + timedelta(days=2), horizon=2)
    rows = sorted((r["date"], r["demand"], r["label"], r["target_day_of_week"])
                  for r in got.collect())
    assert rows == [(first, 5, 70, (first + timedelta(days=2)).isoweekday()),
                    (first + timedelta(days=1), 6, 8, (first + timedelta(days=3)).isoweekday())]
    assert got.columns == [*(c.name for c in COLUMNS), "target_date", "horizon", "label",
                           *(f"target_{c}" for c in KNOWN_AHEAD)]
