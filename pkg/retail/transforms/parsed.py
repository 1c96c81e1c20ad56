"""Kafka records -> parsed events, as Arrow, where Spark runs Python (its workers).

:func:`parsed_batches` is the whole of the parse: the contracts' verdict per record
(:mod:`.validate`), the envelope columns, the event time, the future check and a hash of
each event's content, column by column. ``validate.parse_events`` hands its rows to Spark;
:func:`to_blobs` hands a micro-batch over as a few Arrow IPC blobs instead, so the JVM moves
a handful of byte strings rather than converting every event into a row of 60 fields and
back (the stream's path: :func:`from_blobs` opens them on the driver).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from retail.transforms.validate import _parse_batches

BLOB_SCHEMA = "parsed binary"
# Records parsed together (the columnar path pays a fixed cost per call).
CHUNK_ROWS = 16_384
_TS = pa.timestamp("us", "UTC")
_K = np.uint64(0x9E3779B97F4A7C15)
_BLOB_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def _envelope_time(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """ISO-8601 text -> timestamp (null where it is not one)."""
    try:
        return pc.cast(text, _TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for value in text.to_pylist():
            try:
                out.append(None if value is None else pc.cast(pa.scalar(value), _TS).as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.array(out, _TS)


def _content_hash(data: pa.StructArray) -> pa.Array:
    """Per row, a 64-bit hash of the parsed fields (their values, not the record's text,
    so a copy with other key order or spacing hashes alike; a null field adds nothing)."""
    h = np.zeros(len(data), np.uint64)
    with np.errstate(over="ignore"):
        for i, field in enumerate(data.type):
            values = data.field(i)
            if values.null_count == len(values):
                continue
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            raw = values.to_numpy(zero_copy_only=False) if pa.types.is_string(field.type) \
                else values.fill_null(0).to_numpy()
            hashed = pd.util.hash_array(raw, categorize=False) ^ np.uint64(i + 1) * _K
            h = np.where(valid, h * _K + hashed, h)
    return pa.array(h.view(np.int64))


def _finish(batch: pa.RecordBatch, max_future_minutes: float, now: datetime
            ) -> pa.RecordBatch:
    """The envelope columns, the event time, the future check and the content hash."""
    data = batch.column("data")
    event_time = _envelope_time(data.field("event_time"))
    horizon = pa.scalar(int(now.timestamp() * 1_000_000 + max_future_minutes * 60e6), pa.int64())
    good = pc.is_null(batch.column("reject_reason"))
    future = pc.fill_null(pc.and_(good, pc.greater(pc.cast(event_time, pa.int64()), horizon)),
                          False)
    message = pc.binary_join_element_wise(
        "event_time ", data.field("event_time"),
        f" is more than {max_future_minutes:g} minutes in the future", "")
    columns = {name: batch.column(name) for name in (
        "topic", "partition", "offset", "kafka_time", "key", "payload", "payload_base64",
        "data")}
    columns.update({
        "event_id": data.field("event_id"), "event_type": data.field("event_type"),
        "schema_version": pc.cast(data.field("schema_version"), pa.int32()),
        "event_time": event_time, "store_id": data.field("store_id"),
        "product_id": data.field("product_id"),
        "reject_reason": pc.if_else(future, "invalid", batch.column("reject_reason")),
        "reject_error": pc.if_else(future, message, batch.column("reject_error")),
        "reject_field": pc.if_else(future, "event_time", batch.column("reject_field")),
        "content_hash": _content_hash(data)})
    return pa.RecordBatch.from_pydict(columns)


def _chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The batches regrouped into batches of about ``rows`` (a source hands over one per
    poll and partition, often small)."""
    held, count = [], 0
    for b in batches:
        if b.num_rows:
            held.append(b)
            count += b.num_rows
        if count >= rows:
            yield pa.Table.from_batches(held).combine_chunks().to_batches()[0]
            held, count = [], 0
    if held:
        yield pa.Table.from_batches(held).combine_chunks().to_batches()[0]


def parsed_batches(raw: Iterator[pa.RecordBatch], *, max_bytes: int,
                   max_future_minutes: float, fast_path: bool = True,
                   content_hash: bool = True) -> Iterator[pa.RecordBatch]:
    """Kafka's columns (``key, value, topic, partition, offset, timestamp``) -> one row per
    record, as :func:`retail.transforms.validate.parse_events` describes them (with
    ``content_hash`` last unless told not to).
    """
    now = datetime.now(UTC)
    for batch in _parse_batches(_chunks(raw, CHUNK_ROWS), max_bytes, fast_path):
        done = _finish(batch, max_future_minutes, now)
        yield done if content_hash else done.drop_columns(["content_hash"])


def to_blobs(parsed: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each parsed batch as one row of :data:`BLOB_SCHEMA`: its Arrow IPC stream, its buffers
    compressed with LZ4. A parsed event takes about 200 bytes instead of 1,100 (mostly
    the null fields of the ``data`` struct); the JVM, which only moves the blobs, moves a
    fifth of the bytes. Over a backlog that cut the JVM's task CPU from about 10 to 4 µs an
    event and the whole stream's CPU by about 8 % (zstd packs tighter but costs more to
    write)."""
    for batch in parsed:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema, options=_BLOB_OPTIONS) as writer:
            writer.write_batch(batch)
        blob = sink.getvalue()
        offsets = pa.py_buffer(np.array([0, blob.size], np.int32).tobytes())
        yield pa.RecordBatch.from_arrays(
            [pa.Array.from_buffers(pa.binary(), 1, [None, offsets, blob])], names=["parsed"])


def from_blobs(blobs: pa.Table) -> pa.Table | None:
    """The parsed rows of a collected :data:`BLOB_SCHEMA` table (None if it has none)."""
    tables = [pa.ipc.open_stream(v.as_buffer()).read_all() for v in blobs.column("parsed")
              if v.is_valid]
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else None


def parse_to_blobs(raw: DataFrame, *, max_bytes: int, max_future_minutes: float,
                   fast_path: bool = True) -> DataFrame:
    """Kafka's columns (Spark's JVM source, or ours unparsed) -> the parsed rows as Arrow IPC
    blobs (:data:`BLOB_SCHEMA`), as the Python source gives them with ``parse``."""
    return raw.mapInArrow(lambda it: to_blobs(parsed_batches(
        it, max_bytes=max_bytes, max_future_minutes=max_future_minutes, fast_path=fast_path)),
        BLOB_SCHEMA)
