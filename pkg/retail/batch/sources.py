"""What the daily batch reads for a business day: the lake's events and the late ones.

Both come back as Kafka-shaped records (``key``, ``value``, ``topic``, ``partition``,
``offset``, ``timestamp``), so the batch checks them with the stream's own parse
(:func:`retail.transforms.validate.parse_events`): the same contracts, the same verdicts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.contracts import topic_for_event_type
from retail.io.lake import filesystem
from retail.io.warehouse import Warehouse
from retail.settings import LakeSettings

RECORDS = pa.schema([("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()),
                     ("partition", pa.int32()), ("offset", pa.int64()),
                     ("timestamp", pa.timestamp("us", "UTC"))])
# Partitions the lake's files may carry as columns; not event fields.
_PARTITION_COLUMNS = ("year", "month", "day")
# As a producer writes them (retail.contracts.columnar.json_ready): ISO 8601 UTC with Z,
# and null fields present.
_JSON = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "ignoreNullFields": "false"}
_S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"


class LakeDayMissing(FileNotFoundError):
    """The lake holds nothing for a day: a closed day needs its raw events."""


@dataclass
class DayFiles:
    """The lake's files of one day, per event type and file schema (writers differ in
    integer widths: the stream and the simulator), and the folders looked in."""

    files: dict[str, list[list[str]]]
    rows: dict[str, int]  # per event type, from the files' footers
    folders: list[str]


def utc_days(day: date) -> list[date]:
    """The UTC dates a store-local day overlaps, for any UTC offset of -12..+14 hours."""
    return [day - timedelta(days=1), day, day + timedelta(days=1)]


def lake_day_files(settings: LakeSettings, day: date, event_types: list[str]) -> DayFiles:
    """The files the lake holds in the UTC partitions that cover store-local ``day``.

    Raises:
        LakeDayMissing: not one file for the day in any topic (names the folders).
    """
    fs, base = filesystem(settings)
    files: dict[str, dict[str, list[str]]] = {}
    rows: dict[str, int] = {}
    folders = []
    for event_type in event_types:
        topic = topic_for_event_type(event_type)
        for utc in utc_days(day):
            folder = f"{base}/{topic}/year={utc:%Y}/month={utc:%m}/day={utc:%d}"
            folders.append(folder)
            for info in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
                name = info.path.rsplit("/", 1)[-1]
                if info.type == pafs.FileType.File and name.startswith(f"{event_type}-"):
                    footer = pq.ParquetFile(fs.open_input_file(info.path))
                    files.setdefault(event_type, {}).setdefault(
                        str(footer.schema_arrow), []).append(info.path)
                    rows[event_type] = rows.get(event_type, 0) + footer.metadata.num_rows
    if not files:
        raise LakeDayMissing(f"the lake holds no events for {day} (store-local): looked in "
                             f"{base}/<topic>/year=/month=/day= for UTC days "
                             f"{', '.join(str(d) for d in utc_days(day))}")
    return DayFiles({k: [sorted(p) for _, p in sorted(v.items())] for k, v in files.items()},
                    rows, sorted(set(folders)))


def _events(spark: SparkSession, settings: LakeSettings, paths: list[str]) -> DataFrame:
    """The events in ``paths``: read by Spark where it can reach the lake (a directory, or
    S3 through S3A), else through pyarrow.fs (S3 without the S3A jars: local runs, CI)."""
    if not settings.is_s3:
        return spark.read.parquet(*paths)
    if _has_s3a(spark):
        return spark.read.parquet(*(f"s3a://{p}" for p in paths))
    fs, _ = filesystem(settings)
    return spark.createDataFrame(pa.concat_tables(
        [pq.read_table(p, filesystem=fs) for p in paths], promote_options="default"))


def _has_s3a(spark: SparkSession) -> bool:
    try:
        spark._jvm.java.lang.Class.forName(_S3A)  # noqa: SLF001
    except Exception:  # noqa: BLE001  (py4j wraps ClassNotFoundException)
        return False
    return True


def day_window(day: date, offsets_hours: list[float]) -> tuple[datetime, datetime]:
    """The UTC instants store-local ``day`` spans in any of the chain's stores: from its
    midnight in the easternmost store to the next midnight in the westernmost."""
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    return (midnight - timedelta(hours=max(offsets_hours, default=14)),
            midnight + timedelta(days=1) - timedelta(hours=min(offsets_hours, default=-12)))


def lake_records(spark: SparkSession, settings: LakeSettings, day: DayFiles,
                 window: tuple[datetime, datetime] | None = None) -> DataFrame:
    """The day's lake events as the JSON records a producer would have sent (partition -1
    tells them from the quarantine's late records). With ``window`` (:func:`day_window`),
    only the events whose time falls in it, or has none (the contracts refuse those)."""
    frames = []
    for event_type, groups in sorted(day.files.items()):
        for paths in groups:  # one read per file schema; JSON makes their types agree
            events = _events(spark, settings, paths)
            if window is not None:  # the parse is the job's dearest step: skip what's not D
                when = F.col("event_time")
                events = events.filter(when.isNull() | ((when >= F.lit(window[0]))
                                                        & (when < F.lit(window[1]))))
            fields = [c for c in events.columns if c not in _PARTITION_COLUMNS]
            frames.append(events.select(
                F.lit(None).cast("binary").alias("key"),
                F.to_json(F.struct(*fields), _JSON).cast("binary").alias("value"),
                F.lit(topic_for_event_type(event_type)).alias("topic"),
                F.lit(-1).cast("int").alias("partition"),
                F.monotonically_increasing_id().alias("offset"),
                F.lit(None).cast("timestamp").alias("timestamp")))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


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
