"""Column-at-a-time parsing and validation of the ordinary records of a Kafka batch.

The row path in :mod:`retail.transforms.validate` (orjson, then the contracts' compiled
JSON Schema, one record at a time) is the reference and costs tens of microseconds per
record. Here the records of one topic are parsed together by Arrow's JSON reader and
checked with the contracts' columnar validator (:func:`retail.contracts.columnar.
valid_rows`). A record is taken here only when nothing about it needs the row path's
judgement; everything else goes back to the row path, which names the reason and the
field. So this never accepts a record the row path would reject:

- the reader sees only the records :func:`retail.transforms.record_bytes.reader_can_take`
  passes (valid UTF-8, one flat-looking object on one line: other shapes can crash the
  process); the others go back whole;
- every record of a topic whose read fails (invalid JSON, a value that does not fit its
  column type, two objects on one line) or that has a field no contract of the topic
  knows goes back whole;
- a field JSON gives as ``null`` counts as present only if its key is in the record text
  (``"name":`` cannot occur inside a JSON string, where quotes are escaped), since the
  reader cannot tell a missing key from a null one; a field of another event type of the
  same topic must be absent;
- a timestamp must be a real date and time (the contract's pattern allows 2024-02-30).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from retail.contracts.columnar import resolve_property, valid_rows
from retail.contracts.registry import Contract, registry
from retail.transforms.record_bytes import reader_can_take

_SECONDS = "%Y-%m-%dT%H:%M:%S"
_MAX_BLOCK = 1 << 30


@cache
def _topic_contracts(topic: str) -> tuple[Contract, ...]:
    """The newest contract of each event type that belongs on ``topic``."""
    newest: dict[str, Contract] = {}
    for (kind, version), c in sorted(registry().items()):
        if c.topic == topic:
            newest[kind] = c
    return tuple(newest.values())


def _nullable(contract: Contract, name: str) -> bool:
    prop = resolve_property(contract.schema, contract.schema["properties"][name])
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    return "null" in types or None in prop.get("enum", [])


def split_fast(batch: pa.RecordBatch, max_bytes: int, types: dict[str, pa.DataType],
               timestamps: frozenset[str]) -> tuple[list[tuple[np.ndarray, pa.Table]],
                                                   np.ndarray]:
    """Rows of ``batch`` this path accepts, as (row indices, their fields) per event type,
    and the indices of the rows left for the row path."""
    n = batch.num_rows
    values = batch.column("value")
    eligible = reader_can_take(values, max_bytes)
    accepted = np.zeros(n, dtype=bool)
    out = []
    topics = batch.column("topic")
    for topic in pc.unique(topics).to_pylist():
        contracts = _topic_contracts(topic) if topic is not None else ()
        rows = np.flatnonzero(eligible & pc.equal(topics, topic).to_numpy(
            zero_copy_only=False))
        if not contracts or not len(rows):
            continue
        for idx, table in _parse_topic(values.take(pa.array(rows)), rows, contracts, types,
                                       timestamps):
            accepted[idx] = True
            out.append((idx, table))
    return out, np.flatnonzero(~accepted)


def _parse_topic(values: pa.Array, rows: np.ndarray, contracts: tuple[Contract, ...],
                 types: dict[str, pa.DataType], timestamps: frozenset[str]
                 ) -> list[tuple[np.ndarray, pa.Table]]:
    """Read ``values`` (records :func:`reader_can_take` passed: others can crash the
    process) with Arrow's JSON reader; the rows the contracts accept, per event type."""
    names = sorted({f for c in contracts for f in c.schema["properties"]})
    schema = pa.schema([(f, types[f]) for f in names])
    text = _lines(values)
    if text.size >= _MAX_BLOCK:  # one block per read; Arrow's block size is 32-bit
        return []
    try:
        table = pj.read_json(pa.BufferReader(text), read_options=pj.ReadOptions(
            use_threads=False, block_size=text.size + 1), parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return []
    if table.num_rows != len(rows) or set(table.column_names) != set(names):
        return []
    table = table.select(names)
    out = []
    kinds = table.column("event_type")
    for c in contracts:
        mine = pc.fill_null(pc.equal(kinds, c.event_type), False)
        if not pc.any(mine).as_py():
            continue
        part = table.filter(mine)
        texts = values.filter(mine)
        ok = _accepts(c, part, texts, names, timestamps)
        keep = np.flatnonzero(ok.to_numpy(zero_copy_only=False))
        if len(keep):
            picked = pa.array(keep)
            out.append((rows[np.flatnonzero(mine.to_numpy(zero_copy_only=False))][keep],
                        part.select(list(c.schema["properties"])).take(picked)))
    return out


def _lines(values: pa.Array) -> pa.Buffer:
    """The records, each followed by a line break, as one buffer (built by Arrow: no
    Python object per record)."""
    lines = pc.binary_join_element_wise(values, pa.scalar(b"", pa.binary()),
                                        pa.scalar(b"\n", pa.binary()))
    bounds = np.frombuffer(lines.buffers()[1], np.int32)[[lines.offset, lines.offset + len(lines)]]
    return lines.buffers()[2].slice(int(bounds[0]), int(bounds[1] - bounds[0]))


def _has_key(texts: pa.Array, names: list[str], where: pa.Array) -> pa.Array:
    """Whether each record's text holds a key ``"name":`` of one of ``names``, looked up
    only ``where`` true (False elsewhere), in one pass over the texts."""
    mask = where.to_numpy(zero_copy_only=False)
    found = np.zeros(len(mask), dtype=bool)
    if names and mask.any():
        keys = "|".join(re.escape(n) for n in sorted(names))
        hits = pc.match_substring_regex(texts.filter(where), f'"(?:{keys})":')
        found[mask] = pc.fill_null(hits, False).to_numpy(zero_copy_only=False)
    return pa.array(found)


def _accepts(c: Contract, part: pa.Table, texts: pa.Array, names: list[str],
             timestamps: frozenset[str]) -> pa.Array:
    own = list(c.schema["properties"])
    ok = pc.fill_null(valid_rows(c, part.select(own)), False)
    ok = ok.combine_chunks() if isinstance(ok, pa.ChunkedArray) else ok
    foreign = [name for name in names if name not in own]
    for name in names:
        col = pc.is_null(part.column(name)).combine_chunks()
        if name not in own:  # another event type's field: must be absent
            ok = pc.and_(ok, col)
        elif name in c.schema["required"] and _nullable(c, name):  # null or missing?
            unsure = pc.and_(ok, col)
            ok = pc.and_(ok, pc.or_(pc.invert(col), _has_key(texts, [name], unsure)))
        if name in own and name in timestamps:
            ok = pc.and_(ok, _real_times(part.column(name)).combine_chunks())
    return pc.and_(ok, pc.invert(_has_key(texts, foreign, ok)))


def _real_times(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """False where a timestamp string names a day or time that does not exist. Arrow's
    ISO-8601 cast refuses those (2024-02-30, 24:00:00) but fails the whole column, so a
    column it refuses is checked value by value: parse with ``strptime`` (which rolls
    2024-02-30 over to March 1), format back and compare."""
    head = pc.utf8_slice_codeunits(col, 0, 19)
    try:
        pc.cast(head, pa.timestamp("s"))
        return pc.is_valid(col)  # (a null one goes to the row path, as below)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    back = pc.strftime(pc.strptime(head, format=_SECONDS, unit="s", error_is_null=True),
                       format=_SECONDS)
    return pc.fill_null(pc.or_(pc.is_null(col), pc.equal(back, head)), False)


def struct_of(table: pa.Table, data_type: pa.StructType) -> pa.Array:
    """``table``'s fields as the ``data`` struct (every contract field; absent ones null)."""
    n = table.num_rows
    arrays: list[Any] = []
    for f in data_type:
        if f.name in table.column_names:
            arrays.append(pc.cast(table.column(f.name), f.type).combine_chunks())
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.StructArray.from_arrays(arrays, fields=list(data_type))
