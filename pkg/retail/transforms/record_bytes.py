"""What a Kafka record's bytes allow: which parser may be given them, and how they are kept.

A record is only bytes, and any bytes can arrive. Two guards stand before the parsers:

- Arrow's JSON reader (the columnar path, :mod:`.parse_fast`) is given a record only if
  :func:`reader_can_take` it. Arrow 26's reader crashes the whole process (a segmentation
  fault, which kills Spark's Python worker and fails the batch on every retry) on a first
  line ``null`` when it has a schema, and on nesting some 20,000 deep; 10,000 levels take
  it 11 s (the cost grows with the square of the depth). It also takes invalid UTF-8
  inside strings as it is, and a leading byte order mark. So it sees only records that
  are valid UTF-8, start with ``{``, end with ``}``, hold no line break (that would break
  the newline-delimited read) and at most ``READER_MAX_BRACKETS`` bytes ``{`` or ``[``
  (contracts are flat objects; a bracket inside a string counts too, which only sends
  that record to the row path). Everything else goes to the row path.
- The row path (orjson) refuses invalid UTF-8 and nesting past 1024 levels by itself;
  :func:`json_depth` lets it refuse anything deeper than a contract can be before a
  message or a validator walks it.

Text: ``payload`` shows a record as text, bytes that are not UTF-8 as U+FFFD; for those
records :func:`originals` gives the exact bytes in base64, which quarantine and dead
letters keep beside the text.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

READER_MAX_BRACKETS = 8
# ``{`` first and ``}`` last, no line break, at most READER_MAX_BRACKETS of ``{`` and ``[``
# (Arrow matches a binary column byte by byte, so invalid UTF-8 cannot upset the pattern).
_READER_SHAPE = (r"^\{[^\[{\r\n]*(?:[\[{][^\[{\r\n]*){0,%d}\}$" % (READER_MAX_BRACKETS - 1))


def reader_can_take(values: pa.Array, max_bytes: int) -> np.ndarray:
    """Which records Arrow's JSON reader may be given (see the module's notes).

    One regular-expression pass over the bytes and one UTF-8 check of the whole column
    (record by record only when that fails).

    Args:
        values: the records' bytes (Kafka's ``value``; null for a tombstone).
        max_bytes: the size limit of a record.

    Returns:
        A boolean mask, True for each record the reader may take.
    """
    shaped = pc.and_kleene(pc.match_substring_regex(values, _READER_SHAPE),
                           pc.less_equal(pc.binary_length(values), max_bytes))
    return pc.fill_null(shaped, False).to_numpy(zero_copy_only=False) & utf8_mask(values)


def utf8_mask(values: pa.Array) -> np.ndarray:
    """Whether each value is valid UTF-8 (a null one: False)."""
    try:
        pc.cast(values, pa.string())  # Arrow validates the whole column at once
    except pa.ArrowInvalid:
        return np.array([v is not None and is_utf8(v) for v in values.to_pylist()], bool)
    return pc.is_valid(values).to_numpy(zero_copy_only=False)


def is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def as_text(values: pa.Array) -> pa.Array:
    """Bytes as text; bytes that are not UTF-8 read as U+FFFD (see :func:`originals`)."""
    try:
        return pc.cast(values, pa.string())
    except pa.ArrowInvalid:
        return pa.array([v.decode("utf-8", "replace") if v is not None else None
                         for v in values.to_pylist()], pa.string())


def originals(values: pa.Array) -> pa.Array:
    """Base64 of each value that is not valid UTF-8 (its text is then not exact); null for
    the others, whose text is."""
    if utf8_mask(pc.fill_null(values, b"")).all():
        return pa.nulls(len(values), pa.string())
    return pa.array([None if v is None or is_utf8(v) else base64.b64encode(v).decode("ascii")
                     for v in values.to_pylist()], pa.string())


def json_depth(value: Any, limit: int) -> int:
    """How deep parsed JSON nests (a scalar: 0, a flat object: 1), counted without
    recursion and only up to just past ``limit``."""
    deepest, todo = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while todo and deepest <= limit:
        node, level = todo.pop()
        deepest = max(deepest, level)
        todo += [(child, level + 1) for child in (node.values() if isinstance(node, dict)
                                                  else node) if isinstance(child, (dict, list))]
    return deepest
