"""Shapes of one micro-batch as Arrow tables: what the batch's computations take, and what
the sinks write (columns named like the warehouse's)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_schema

from retail.streaming.alerts import ALERT_SCHEMA, TS
from retail.transforms.parsed import from_blobs
from retail.transforms.validate import event_columns, parsed_record_type, timestamp_fields

COLLECTED_COLUMNS = ("topic", "partition", "offset", "key", "payload", "payload_base64",
                     "event_type", "schema_version", "event_id", "event_time", "store_id",
                     "product_id", "data", "content_hash", "reject_reason", "reject_error",
                     "reject_field")
_TS = TS


def collected(batch: DataFrame) -> pa.Table:
    """A micro-batch on the driver, ``COLLECTED_COLUMNS``, from its one Spark job: opened
    from the parse's Arrow IPC blobs (a ``parsed`` column), or collected from its rows."""
    if "parsed" in batch.columns:
        table = from_blobs(batch.toArrow())
        if table is None:
            table = to_arrow_schema(parsed_record_type(content_hash=True),
                                    timezone="UTC").empty_table()
        return table.select(list(COLLECTED_COLUMNS))
    return batch.select(*COLLECTED_COLUMNS).toArrow()


def _ms(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_string(col.type):
        return pc.cast(col, _TS)
    return pc.cast(col, _TS) if col.type != _TS else col


def event_tables(good: pa.Table) -> dict[str, pa.Table]:
    """Good events by type, with their contract's columns (timestamps typed)."""
    out = {}
    if good.num_rows == 0:
        return out
    for event_type in pc.unique(good["event_type"]).to_pylist():
        part = good.filter(pc.equal(good["event_type"], event_type))
        data = pa.Table.from_struct_array(part["data"].combine_chunks())
        cols = {}
        for name in event_columns(event_type):
            col = part["event_time"] if name == "event_time" else data[name]
            cols[name] = _ms(col) if name in timestamp_fields() else col
        out[event_type] = pa.table(cols)
    return out


def quarantine_rows(rejected: pa.Table) -> pa.Table:
    """Rejected records as ``quarantine_events`` rows. ``payload`` shows each as text;
    ``payload_base64`` always holds its exact bytes (the parse's base64 where the text is
    not exact, else the text's UTF-8, which is; empty for a tombstone)."""
    n = rejected.num_rows
    return pa.table({
        "source": pa.array(["stream"] * n), "topic": rejected["topic"],
        "partition": pc.cast(rejected["partition"], pa.int32()),
        "offset": pc.cast(rejected["offset"], pa.int64()), "key": rejected["key"],
        "payload": pc.fill_null(rejected["payload"], ""),
        "payload_base64": pa.array([
            kept if kept is not None else base64.b64encode((text or "").encode()).decode()
            for kept, text in zip(rejected["payload_base64"].to_pylist(),
                                  rejected["payload"].to_pylist(), strict=True)], pa.string()),
        "reason": rejected["reject_reason"], "error": pc.fill_null(rejected["reject_error"], ""),
        "error_field": rejected["reject_field"], "event_time": _ms(rejected["event_time"]),
    })


def raw_event_rows(good: pa.Table) -> pa.Table:
    return pa.table({
        "event_id": good["event_id"], "event_type": good["event_type"],
        "schema_version": pc.cast(good["schema_version"], pa.uint8()),
        "topic": good["topic"], "partition": pc.cast(good["partition"], pa.uint16()),
        "offset": pc.cast(good["offset"], pa.uint64()), "key": pc.fill_null(good["key"], ""),
        "payload": good["payload"], "event_time": _ms(good["event_time"]),
    })


SALES_SCHEMA = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()), ("transaction_id", pa.string()),
    ("transaction_type", pa.string()), ("quantity", pa.int32()),
    ("revenue", pa.decimal128(18, 2)), ("event_time", TS)])


def sales_rows(fact_sales: pa.Table) -> pa.Table:
    """What the sales transforms read, from the ``fact_sales`` rows (signed like them)."""
    return fact_sales.select(["store_id", "product_id", "transaction_id", "transaction_type",
                              "quantity", "revenue", "event_time"])


def inventory_rows(good: pa.Table) -> pa.Table:
    """Inventory updates with their Kafka position (their order per store x product)."""
    part = good.filter(pc.equal(good["event_type"], "inventory_update"))
    data = pa.Table.from_struct_array(part["data"].combine_chunks())
    return pa.table({
        "store_id": part["store_id"], "product_id": part["product_id"],
        "partition": part["partition"], "offset": part["offset"],
        "inventory_id": data["inventory_id"], "quantity_change": data["quantity_change"],
        "new_quantity": data["new_quantity"], "reason": data["reason"],
        "event_time": _ms(part["event_time"]),
    })


def touched_keys(good: pa.Table) -> pa.Table:
    """Distinct (store_id, product_id) of this batch's sales and inventory updates."""
    mask = pc.is_in(good["event_type"], pa.array(["sales_transaction", "inventory_update"]))
    keys = good.filter(mask).select(["store_id", "product_id"])
    return keys.group_by(["store_id", "product_id"]).aggregate([])


def alert_rows(alerts: pa.Table | None) -> pa.Table:
    """Alerts as ``stream_alerts`` rows (an empty table for None)."""
    if alerts is None:
        return ALERT_SCHEMA.empty_table()
    return pa.table({f.name: pc.cast(alerts[f.name], f.type) for f in ALERT_SCHEMA})


def reason_counts(rejected: pa.Table) -> dict[str, int]:
    if rejected.num_rows == 0:
        return {}
    counts = pc.value_counts(rejected["reject_reason"])
    return {str(k): int(v) for k, v in zip(counts.field("values").to_pylist(),
                                           counts.field("counts").to_pylist(), strict=True)}


def restock_alerts(decided: pa.Table | None, *, open_at: float = 0.0,
                   resolve_below: float = 0.0) -> pa.Table:
    """The restock openings and resolutions in ``decided`` (from ``decide_restock``) as
    alerts, with the restock topic's extra fields (None: no rows)."""
    if decided is None:
        return alert_rows(None).append_column("current_quantity", pa.array([], pa.int64()))
    rows = decided.filter(pc.is_valid(decided["restock_status"]))
    opening = pc.equal(rows["restock_status"], "open")
    n = rows.num_rows
    return pa.table({
        "alert_id": rows["alert_id"], "alert_type": pa.array(["restock"] * n),
        "severity": rows["severity"], "status": rows["restock_status"],
        "store_id": rows["store_id"], "product_id": rows["product_id"],
        "metric_value": pc.cast(rows["stock_out_risk"], pa.float64()),
        "threshold": pc.if_else(opening, open_at, resolve_below),
        "details": rows["details"], "event_time": _ms(rows["last_event_time"]),
        "current_quantity": rows["quantity_on_hand"], "reorder_point": rows["reorder_point"],
        "days_of_cover": rows["days_of_cover"], "stock_out_risk": rows["stock_out_risk"],
        "recommended_order_qty": rows["recommended_order_qty"],
    })


def level_rows(after: pa.Table) -> pa.Table:
    """The new state as ``inventory_levels_current`` rows."""
    i32 = pa.int32()
    return pa.table({
        "store_id": after["store_id"], "product_id": after["product_id"],
        "quantity_on_hand": pc.cast(after["quantity_on_hand"], i32),
        "reorder_point": pc.cast(pc.fill_null(after["reorder_point"], 0), i32),
        "velocity_per_day": after["velocity_per_day"], "days_of_cover": after["days_of_cover"],
        "stock_out_risk": pc.cast(after["stock_out_risk"], pa.float32()),
        "last_event_time": _ms(after["last_event_time"]),
        "velocity_at": _ms(after["velocity_at"]), "lead_time_days": after["lead_time_days"],
        "recommended_order_qty": pc.cast(pc.fill_null(after["recommended_order_qty"], 0), i32),
        "restock_alert_id": pc.fill_null(after["restock_alert_id"], ""),
    })


def floor_to(t: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((t - epoch) // step) * step


def ceil_to(t: datetime, step: timedelta) -> datetime:
    down = floor_to(t, step)
    return down if down == t else down + step


def window_grid(totals: pa.Table, judged_starts: list[datetime]) -> tuple[pa.Table, pa.Table]:
    """Split store window totals into the windows to judge and the baseline before them."""
    if totals.num_rows == 0:
        return totals, totals
    starts = pc.cast(totals["window_start"], _TS)
    first = pa.scalar(min(judged_starts), _TS)
    judged = pc.is_in(starts, pa.array(judged_starts, _TS))
    before = pc.less(starts, first)
    shaped = pa.table({"store_id": totals["store_id"], "window_start": starts,
                       "revenue": pc.cast(totals["revenue"], pa.float64())})
    return shaped.filter(judged), shaped.filter(before)
