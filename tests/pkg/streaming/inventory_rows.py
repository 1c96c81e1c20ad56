"""Rows and checks shared by the stream's inventory tests: the shapes the processor passes,
row builders, and a comparison like Spark's ``assertDataFrameEqual``."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
LN2 = math.log(2)
TS = pa.timestamp("ms", "UTC")
INVENTORY_SCHEMA = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()), ("partition", pa.int32()),
    ("offset", pa.int64()), ("inventory_id", pa.string()), ("quantity_change", pa.int64()),
    ("new_quantity", pa.int64()), ("reason", pa.string()), ("event_time", TS)])
SALES_SCHEMA = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()), ("transaction_id", pa.string()),
    ("transaction_type", pa.string()), ("quantity", pa.int32()),
    ("revenue", pa.decimal128(18, 2)), ("event_time", TS)])
DISCREPANCY_SCHEMA = pa.schema([
    ("alert_type", pa.string()), ("severity", pa.string()), ("store_id", pa.string()),
    ("product_id", pa.string()), ("metric_value", pa.float64()), ("threshold", pa.float64()),
    ("event_time", TS)])
DISCREPANCY_DDL_COLUMNS = tuple(DISCREPANCY_SCHEMA.names)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows],
                                schema)


def update(product: str, offset: int, change: int, new: int, at: datetime,
           reason: str = "sale", store: str = "S00001") -> tuple:
    return (store, product, 0, offset, f"I-{offset}", change, new, reason, at)


def state_row(product: str, on_hand: int | None, velocity: float = 0.0,
              at: datetime = T0, alert: str | None = "", store: str = "S00001") -> tuple:
    return (store, product, on_hand, at, velocity, at, alert)


def order(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):  # assertDataFrameEqual's tolerance
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-8)
    return a == b and type(a) is type(b)


def assert_rows(got: pa.Table, rows: list[tuple], schema: pa.Schema) -> None:
    """Like Spark's assertDataFrameEqual: the same column names and types, the same rows
    in any order, floats within a relative 1e-5."""
    assert [(f.name, f.type) for f in got.schema] == [(f.name, f.type) for f in schema]
    actual = sorted((tuple(r.values()) for r in got.to_pylist()), key=order)
    expected = sorted(rows, key=order)
    assert len(actual) == len(expected), (actual, expected)
    for a, e in zip(actual, expected, strict=True):
        assert all(same(x, y) for x, y in zip(a, e, strict=True)), (a, e)


LEAD_SCHEMA = pa.schema([("product_id", pa.string()), ("lead_time_days", pa.float64())])
