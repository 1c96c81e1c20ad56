"""Kafka records -> typed events, checked against the contracts.

Records are parsed inside Spark's Python workers over Arrow batches (``mapInArrow``). The
ordinary records of a topic go through a columnar path (:mod:`.parse_fast`: Arrow's JSON
reader and the contracts' columnar validator, about 9 µs per record); anything it cannot
vouch for goes through the contracts' own row validator (the reference: the same compiled
JSON Schema the producers use, about 17 µs per record), which names the reason and the
field. Compiling every rule into one Spark expression was tried first: nine contracts'
checks outgrow Java's method size limit, Spark falls back to interpreting them and manages
about 5k records/s.

Every row survives: a rejected record keeps its payload and gets ``reject_reason``
(``serialization_error`` | ``unknown_event_type`` | ``contract_violation`` | ``invalid``),
``reject_error`` (what was wrong, naming the field) and ``reject_field``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

import orjson
import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from retail.contracts.columnar import UnsupportedSchema, resolve_property
from retail.contracts.registry import ENVELOPE_FIELDS, ContractViolation, registry
from retail.transforms.parse_fast import split_fast, struct_of
from retail.transforms.record_bytes import as_text, json_depth, originals

_SPARK_TYPES = {"string": T.StringType(), "integer": T.LongType(), "number": T.DoubleType()}
_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64()}
REJECT_COLUMNS = ("reject_reason", "reject_error", "reject_field")
# Contracts are flat objects. Deeper records are refused before anything walks them (a
# message naming a value, or jsonschema, would recurse through it).
MAX_DEPTH = 32
_TOO_DEEP = ("serialization_error", f"nested deeper than {MAX_DEPTH} levels", None)


def _json_type(prop: dict[str, Any]) -> str:
    types = prop.get("type")
    types = [types] if isinstance(types, str) else [t for t in (types or []) if t != "null"]
    if not types:  # enum / const without a type
        sample = (prop.get("enum") or [prop.get("const")])[0]
        types = ["string" if isinstance(sample, str) else "integer"]
    if len(types) != 1 or types[0] not in _SPARK_TYPES:
        raise UnsupportedSchema(f"type {prop.get('type')!r}")
    return types[0]


@cache
def field_types() -> dict[str, str]:
    """JSON type of every field across all contracts (a name means one type everywhere)."""
    out: dict[str, str] = {}
    for c in registry().values():
        for name, raw in c.schema["properties"].items():
            kind = _json_type(resolve_property(c.schema, raw))
            if out.setdefault(name, kind) != kind:
                raise UnsupportedSchema(f"field {name} is {out[name]} in one contract and "
                                        f"{kind} in {c.event_type}")
    return out


@cache
def timestamp_fields() -> frozenset[str]:
    """Contract fields holding UTC timestamps (ISO-8601 text in JSON)."""
    out = set()
    for c in registry().values():
        for name, raw in c.schema["properties"].items():
            if "utc_timestamp" in raw.get("$ref", "") or \
                    resolve_property(c.schema, raw).get("pattern", "").startswith("^[0-9]{4}-"):
                out.add(name)
    return frozenset(out)


def data_schema() -> T.StructType:
    """Every contract field, typed: the ``data`` column of parsed events."""
    return T.StructType([T.StructField(n, _SPARK_TYPES[k]) for n, k in field_types().items()])


_PARSED = T.StructType([
    T.StructField("topic", T.StringType()), T.StructField("partition", T.IntegerType()),
    T.StructField("offset", T.LongType()), T.StructField("kafka_time", T.TimestampType()),
    T.StructField("key", T.StringType()), T.StructField("payload", T.StringType()),
    T.StructField("payload_base64", T.StringType()), T.StructField("data", data_schema()),
    *[T.StructField(n, T.StringType()) for n in REJECT_COLUMNS],
])


def _envelope_of(event: Any) -> dict[str, Any]:
    """What a rejected record says about itself (string envelope fields), for quarantine."""
    if not isinstance(event, dict):
        return {}
    return {k: event[k] for k in ("event_id", "event_type", "event_time")
            if isinstance(event.get(k), str)}


def _verdict(value: bytes | None, topic: str, max_bytes: int
             ) -> tuple[Any, tuple[str, str, str | None] | None]:
    """(the parsed record, None if it is a good event else (reason, error, field))."""
    if value is None:
        return None, ("serialization_error", "record has no value (tombstone)", None)
    if len(value) > max_bytes:
        return None, ("invalid", f"payload of {len(value)} bytes exceeds the {max_bytes}-byte "
                      "limit", None)
    try:
        value.decode("utf-8")  # orjson would say "str is not valid UTF-8: surrogates ..."
    except UnicodeDecodeError as exc:
        return None, ("serialization_error", f"not valid UTF-8 at byte {exc.start}", None)
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # orjson's own bound: 1024 levels
            return None, _TOO_DEEP
        return None, ("serialization_error", f"not valid JSON: {exc}", None)
    if not isinstance(event, dict):
        return None, ("serialization_error",
                      f"not a JSON object but a {type(event).__name__}", None)
    if value.count(b"{") + value.count(b"[") > MAX_DEPTH and \
            json_depth(event, MAX_DEPTH) > MAX_DEPTH:
        return None, _TOO_DEEP
    kind, version = event.get("event_type"), event.get("schema_version")
    found = registry().get((kind, version)) if isinstance(kind, str) and \
        isinstance(version, int) and not isinstance(version, bool) else None
    if found is None:
        return event, ("unknown_event_type",
                      f"no contract for event_type {kind!r} version {version!r}", "event_type")
    try:
        found.validate_keys(value, event)  # first: the parsed event holds only one value
        found.validate(event)
    except ContractViolation as exc:
        return event, ("contract_violation", str(exc), exc.field)
    if found.topic != topic:
        return event, ("contract_violation", f"{kind} events belong on {found.topic}, not "
                      f"{topic}", "event_type")
    for name in timestamp_fields().intersection(event):
        try:  # the pattern lets through days that do not exist (2024-02-30)
            if event[name] is not None:
                datetime.fromisoformat(event[name])
        except ValueError as exc:
            return event, ("contract_violation", f"{kind} v{version}: {name} is not a real "
                          f"date and time ({exc})", name)
    return event, None


@cache
def settle_worker_heap() -> None:
    """Once per Python worker, after its imports (and here the contracts' compilation):
    move every object alive now out of the garbage collector's reach. Spark runs
    ``gc.collect()`` in a reused worker after each task, which otherwise walks the imported
    modules and compiled contracts every time (tens of milliseconds per task, a fixed cost
    of every micro-batch). Outside a Spark task (a test calling the parser directly) it
    does nothing."""
    if TaskContext.get() is not None:
        gc.freeze()


def _parse_batches(batches: Iterator[pa.RecordBatch], max_bytes: int,
                   fast_path: bool = True) -> Iterator[pa.RecordBatch]:
    """Parse and judge Kafka batches: the columnar path first (unless ``fast_path`` is
    False), the row path for whatever it leaves."""
    data_type = pa.struct([(n, _ARROW_TYPES[k]) for n, k in field_types().items()])
    types = {n: _ARROW_TYPES[k] for n, k in field_types().items()}
    timestamp_fields()
    settle_worker_heap()
    for batch in batches:
        fast, slow = split_fast(batch, max_bytes, types, timestamp_fields()) if fast_path \
            else ([], range(batch.num_rows))
        for rows, fields in fast:
            part = batch.take(pa.array(rows))
            none = pa.nulls(len(rows), pa.string())  # valid UTF-8: payload is exact
            yield pa.RecordBatch.from_arrays([
                part["topic"], part["partition"], part["offset"], part["timestamp"],
                as_text(part["key"]), as_text(part["value"]), none, struct_of(fields, data_type),
                none, none, none], names=_PARSED.fieldNames())
        if len(slow):
            yield _row_path(batch if len(slow) == batch.num_rows else
                            batch.take(pa.array(slow)), max_bytes, data_type)


def _row_path(batch: pa.RecordBatch, max_bytes: int, data_type: pa.StructType
              ) -> pa.RecordBatch:
    """Each record on its own, through the contracts' row validator (the reference)."""
    cols = batch.to_pydict()
    events, verdicts = [], []
    for value, topic in zip(cols["value"], cols["topic"], strict=True):
        event, bad = _verdict(value, topic, max_bytes)
        events.append(event if bad is None else _envelope_of(event))
        verdicts.append(bad or (None, None, None))
    try:
        data = pa.array(events, data_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        data = _typed_one_by_one(events, verdicts, data_type)
    reasons, errors, fields = zip(*verdicts, strict=True) if verdicts else ((), (), ())
    return pa.RecordBatch.from_arrays([
        batch["topic"], batch["partition"], batch["offset"], batch["timestamp"],
        as_text(batch["key"]), as_text(batch["value"]), originals(batch["value"]), data,
        pa.array(reasons, pa.string()),
        pa.array(errors, pa.string()), pa.array(fields, pa.string()),
    ], names=_PARSED.fieldNames())


def _typed_one_by_one(events: list[dict[str, Any]], verdicts: list[tuple],
                      data_type: pa.StructType) -> pa.Array:
    """Type each event alone: 2.0 in an integer field becomes 2; a value that fits no
    column type (an integer beyond 64 bits) rejects its event, not the whole batch."""
    out = []
    for i, event in enumerate(events):
        fixed = {k: int(v) if isinstance(v, float) and v.is_integer() and
                 pa.types.is_integer(data_type.field(k).type) else v
                 for k, v in event.items() if data_type.get_field_index(k) >= 0}
        try:
            out.append(pa.array([fixed], data_type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            bad = next((k for k, v in fixed.items() if not _fits(v, data_type.field(k).type)),
                       None)
            verdicts[i] = ("contract_violation", f"{event.get('event_type')}: {bad} = "
                           f"{str(event.get(bad))[:40]} does not fit a {data_type.field(bad).type}"
                           if bad else f"a value does not fit its column: {exc}", bad)
            out.append(pa.array([_envelope_of(event)], data_type))
    return pa.concat_arrays(out) if out else pa.array([], data_type)


def _fits(value: Any, arrow_type: pa.DataType) -> bool:
    try:
        pa.array([value], arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return False
    return True


def parsed_record_type(*, content_hash: bool = False) -> T.StructType:
    """The rows :func:`parse_events` gives (with ``content_hash`` last, if asked)."""
    fields = [*_PARSED.fields[:8], *[T.StructField(n, t) for n, t in (
        ("event_id", T.StringType()), ("event_type", T.StringType()),
        ("schema_version", T.IntegerType()), ("event_time", T.TimestampType()),
        ("store_id", T.StringType()), ("product_id", T.StringType()))], *_PARSED.fields[8:]]
    if content_hash:
        fields.append(T.StructField("content_hash", T.LongType()))
    return T.StructType(fields)


def parse_events(raw: DataFrame, *, max_bytes: int, max_future_minutes: float,
                 fast_path: bool = True, content_hash: bool = False) -> DataFrame:
    """Kafka's columns -> one row per record with typed event fields and the verdict.

    Output: ``topic, partition, offset, kafka_time, key, payload, payload_base64, data,
    event_id, event_type, schema_version, event_time, store_id, product_id`` and the
    reject columns (null for a good event), then ``content_hash`` if asked (see
    :func:`retail.transforms.parsed.content_hash`). ``data`` holds every contract field,
    typed. ``payload`` is the record as text; ``payload_base64`` is null unless the record
    is not valid UTF-8 (always rejected), when it holds the exact bytes. Events more than
    ``max_future_minutes`` ahead of the clock are ``invalid``. The work is
    :func:`retail.transforms.parsed.parsed_batches`, in Spark's Python workers.

    Args:
        raw: Kafka's columns (``key``, ``value``, ``topic``, ``partition``, ``offset``,
            ``timestamp``).
        max_bytes: records longer than this are ``invalid``.
        max_future_minutes: how far ahead of the clock an ``event_time`` may be.
        fast_path: False judges every record with the row path alone (orjson and the
            compiled contracts, no Arrow JSON reader): slower, for re-running a batch
            after a Python worker crashed.
        content_hash: also give each row's ``content_hash``.
    """
    from retail.transforms.parsed import parsed_batches

    return raw.mapInArrow(lambda it: parsed_batches(
        it, max_bytes=max_bytes, max_future_minutes=max_future_minutes, fast_path=fast_path,
        content_hash=content_hash), parsed_record_type(content_hash=content_hash))


def event_columns(event_type: str) -> list[str]:
    """Contract fields of an event type, envelope first (for selecting ``data.*``)."""
    fields = registry()[max(k for k in registry() if k[0] == event_type)].fields
    return [*ENVELOPE_FIELDS, *(f for f in fields if f not in ENVELOPE_FIELDS)]
