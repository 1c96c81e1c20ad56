"""The shape every stream alert takes (the ``stream_alerts`` table, the alert topics), built
from Arrow columns.

An alert's id is stable: the md5 of its parts joined with ``|`` (null parts left out;
timestamps written ``yyyy-MM-dd HH:mm:ss[.ffffff]`` in UTC), shaped like a UUID. So a
replayed micro-batch produces the same alerts, and a consumer can deduplicate them.
``details`` is a JSON object of the alert's evidence, null fields left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pyarrow as pa
import pyarrow.compute as pc

ALERT_COLUMNS = ("alert_id", "alert_type", "severity", "status", "store_id", "product_id",
                 "metric_value", "threshold", "details", "event_time")
TS = pa.timestamp("ms", "UTC")
ALERT_SCHEMA = pa.schema([
    ("alert_id", pa.string()), ("alert_type", pa.string()), ("severity", pa.string()),
    ("status", pa.string()), ("store_id", pa.string()), ("product_id", pa.string()),
    ("metric_value", pa.float64()), ("threshold", pa.float64()), ("details", pa.string()),
    ("event_time", TS)])
assert tuple(ALERT_SCHEMA.names) == ALERT_COLUMNS

Column = pa.Array | pa.ChunkedArray


def _id_text(value: object) -> str:
    if isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{value.microsecond:06d}".rstrip("0") if value.microsecond else text
    return str(value)


def stable_uuid(*parts: Column | str) -> pa.Array:
    """Per row, the md5 of ``parts`` (columns, or one text for every row) joined with
    ``|``, UUID-shaped."""
    n = next((len(p) for p in parts if not isinstance(p, str)), 1)
    columns = [[p] * n if isinstance(p, str) else p.to_pylist() for p in parts]
    out = []
    for row in zip(*columns, strict=True):
        x = hashlib.md5("|".join(_id_text(v) for v in row if v is not None).encode(),
                        usedforsecurity=False).hexdigest()
        out.append(f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}")
    return pa.array(out, pa.string())


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):  # as written, like Spark's JSON (7.10, not 7.1)
        return orjson.Fragment(format(value, "f").encode())
    return value


def json_objects(fields: dict[str, Column]) -> pa.Array:
    """Per row, a JSON object of ``fields`` in their order, null values left out."""
    names = list(fields)
    columns = [fields[k].to_pylist() for k in names]
    return pa.array([
        orjson.dumps({k: _json_value(v) for k, v in zip(names, row, strict=True)
                      if v is not None}).decode()
        for row in zip(*columns, strict=True)], pa.string())


def _full(value: Column | float | str, n: int, type_: pa.DataType) -> Column:
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return pc.cast(value, type_)
    return pa.array([value] * n, type_)


def alert_table(*, alert_type: str, severity: Column | str, metric: Column,
                threshold: Column | float, details: dict[str, Column], store_id: Column,
                product_id: Column | str, event_time: Column, status: str = "open"
                ) -> pa.Table:
    """Alerts, one per row of the given columns (``ALERT_SCHEMA``)."""
    n = len(store_id)
    product = _full(product_id, n, pa.string())
    when = pc.cast(event_time, TS)
    body = json_objects(details)
    return pa.table({
        "alert_id": stable_uuid(alert_type, store_id, product, when, body),
        "alert_type": _full(alert_type, n, pa.string()),
        "severity": _full(severity, n, pa.string()), "status": _full(status, n, pa.string()),
        "store_id": pc.cast(store_id, pa.string()), "product_id": product,
        "metric_value": pc.cast(metric, pa.float64()),
        "threshold": _full(threshold, n, pa.float64()), "details": body, "event_time": when,
    }, schema=ALERT_SCHEMA)


def no_alerts() -> pa.Table:
    return ALERT_SCHEMA.empty_table()


def concat_alerts(parts: Sequence[pa.Table]) -> pa.Table:
    """One table of ``parts`` (each cast to ``ALERT_SCHEMA``)."""
    tables = [p.select(list(ALERT_COLUMNS)).cast(ALERT_SCHEMA) for p in parts if p.num_rows]
    return pa.concat_tables(tables) if tables else no_alerts()
