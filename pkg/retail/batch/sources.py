"""What the daily batch reads for a business day: the lake's events and the late ones.

Both come back as Kafka-shaped records (``key``, ``value``, ``topic``, ``partition``,
``offset``, ``timestamp``), so the batch checks them with the stream's own parse
(:func:`retail.transforms.validate.parse_events`): the same contracts, the same verdicts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from retail.contracts import topic_for_event_type
from retail.contracts.columnar import encode_json, json_ready, needs_row_encoding
from retail.io.lake import filesystem
from retail.io.warehouse import Warehouse
from retail.settings import LakeSettings

RECORDS = pa.schema([("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()),
                     ("partition", pa.int32()), ("offset", pa.int64()),
                     ("timestamp", pa.timestamp("us", "UTC"))])
# Partitions the lake's files may carry as columns; not event fields.
_PARTITION_COLUMNS = ("year", "month", "day")


class LakeDayMissing(FileNotFoundError):
    """The lake holds nothing for a day: a closed day needs its raw events."""


@dataclass
class DayRecords:
    """The records of one day, and where they came from."""

    records: pa.Table  # RECORDS
    lake_rows: dict[str, int]  # per event type, before any check
    folders: list[str]  # the lake folders read


def utc_days(day: date) -> list[date]:
    """The UTC dates a store-local day overlaps, for any UTC offset of -12..+14 hours."""
    return [day - timedelta(days=1), day, day + timedelta(days=1)]


def records_of(table: pa.Table, topic: str) -> pa.Table:
    """Event rows (contract columns) as the JSON records a producer would have sent."""
    doc = json_ready(table.drop_columns([c for c in _PARTITION_COLUMNS
                                         if c in table.column_names]))
    if pc.any(needs_row_encoding(doc)).as_py():  # control characters: orjson escapes them
        values = [orjson.dumps(row) for row in doc.to_pylist()]
    else:
        values = encode_json(doc)
    n = len(values)
    return pa.table({
        "key": pa.nulls(n, pa.binary()), "value": pa.array(values, pa.binary()),
        "topic": pa.array([topic] * n, pa.string()), "partition": pa.array([-1] * n, pa.int32()),
        "offset": pa.array(range(n), pa.int64()),
        "timestamp": pa.nulls(n, pa.timestamp("us", "UTC"))}, schema=RECORDS)


def read_lake_day(settings: LakeSettings, day: date, event_types: list[str]) -> DayRecords:
    """Every event the lake holds in the UTC partitions that cover store-local ``day``.

    Raises:
        LakeDayMissing: not one file for the day in any topic (names the folders).
    """
    fs, base = filesystem(settings)
    parts, counts, folders = [], {}, []
    for event_type in event_types:
        topic = topic_for_event_type(event_type)
        for utc in utc_days(day):
            folder = f"{base}/{topic}/year={utc:%Y}/month={utc:%m}/day={utc:%d}"
            folders.append(folder)
            found = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
            for info in sorted(found, key=lambda i: i.path):
                name = info.path.rsplit("/", 1)[-1]
                if info.type != pafs.FileType.File or not name.startswith(f"{event_type}-"):
                    continue
                table = pq.read_table(info.path, filesystem=fs)
                counts[event_type] = counts.get(event_type, 0) + table.num_rows
                parts.append(records_of(table, topic))
    if not parts:
        raise LakeDayMissing(f"the lake holds no events for {day} (store-local): looked in "
                             f"{folders[0].rsplit('/', 4)[0]}/<topic>/year=/month=/day= for "
                             f"UTC days {', '.join(str(d) for d in utc_days(day))}")
    return DayRecords(pa.concat_tables(parts), counts, sorted(set(folders)))


def late_records(wh: Warehouse, day: date) -> pa.Table:
    """The records the stream quarantined as ``late`` whose event time falls in the UTC
    days around ``day`` (the day's own are picked later by store-local date)."""
    lo = datetime.combine(utc_days(day)[0], datetime.min.time(), UTC)
    hi = lo + timedelta(days=3)
    rows = wh.query_arrow(
        "SELECT topic, partition, offset, key, payload, payload_base64 FROM quarantine_events "
        "WHERE reason = 'late' AND event_time >= {lo:DateTime64(3, 'UTC')} "
        "AND event_time < {hi:DateTime64(3, 'UTC')} ORDER BY topic, partition, offset",
        {"lo": lo, "hi": hi})
    n = rows.num_rows
    values = [base64.b64decode(b64) if b64 else (text or "").encode()
              for b64, text in zip(rows["payload_base64"].to_pylist(),
                                   rows["payload"].to_pylist(), strict=True)]
    keys = [k.encode() if k is not None else None for k in rows["key"].to_pylist()]
    return pa.table({
        "key": pa.array(keys, pa.binary()), "value": pa.array(values, pa.binary()),
        "topic": pc.cast(rows["topic"], pa.string()),
        "partition": pc.cast(rows["partition"], pa.int32()),
        "offset": pc.cast(rows["offset"], pa.int64()),
        "timestamp": pa.nulls(n, pa.timestamp("us", "UTC"))}, schema=RECORDS)
