"""Joins and groups on whole columns, in numpy, as Spark's SQL has them: keys become
integer codes (a key with a null part matches nothing in a join, but groups with itself),
then joins, group maxima and look-ups are array arithmetic."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Column = pa.Array | pa.ChunkedArray
_MIN = np.iinfo(np.int64).min


def as_text(col: Column) -> pa.Array:
    return pc.cast(col, pa.string()).combine_chunks()


def key_codes(tables: list[pa.Table], columns: list[str]) -> list[np.ndarray]:
    """Per table, an int64 code per row (``0 .. distinct keys - 1``): equal codes, equal
    ``columns``. Keys with a null part are equal within a table (as in a grouping) but to
    none of another table (as in a join)."""
    lengths = [t.num_rows for t in tables]
    codes, nulls, top = np.zeros(sum(lengths), np.int64), np.zeros(sum(lengths), bool), 1
    for name in columns:
        whole = pa.concat_arrays([as_text(t[name]) for t in tables])
        encoded = pc.dictionary_encode(whole, null_encoding="encode")
        size = max(len(encoded.dictionary), 1)
        top, codes = top * size, codes * size + encoded.indices.to_numpy()
        nulls |= pc.is_null(whole).to_numpy(zero_copy_only=False)
    side = np.repeat(np.arange(1, len(tables) + 1), lengths)
    codes = np.where(nulls, codes + side * top, codes)
    compact = pc.dictionary_encode(pa.array(codes)).indices.to_numpy().astype(np.int64)
    return np.split(compact, np.cumsum(lengths)[:-1])


def code_count(*codes: np.ndarray) -> int:
    return 1 + max((int(c.max()) for c in codes if len(c)), default=-1)


def left_join(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs of a left outer join on codes: the left row of each pair, in left order,
    and its right row (-1: none)."""
    order = np.argsort(right, kind="stable")
    per_code = np.bincount(right, minlength=code_count(left, right))
    lo, count = (np.cumsum(per_code) - per_code)[left], per_code[left]
    reps = np.maximum(count, 1)
    rows = np.repeat(np.arange(len(left)), reps)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
    matched = np.repeat(count, reps) > 0
    other = np.full(len(rows), -1, np.int64)
    other[matched] = order[np.repeat(lo, reps)[matched] + within[matched]]
    return rows, other


def groups_of(codes: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted by ``order`` on ``codes``: the distinct codes, each group's first
    and last position in that order."""
    ranked = codes[order]
    first = np.flatnonzero(np.diff(ranked, prepend=ranked[:1] - 1))
    return ranked[first], first, np.r_[first[1:] - 1, len(ranked) - 1][:len(first)]


def group_max(values: np.ndarray, ok: np.ndarray, order: np.ndarray, first: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """SQL ``max`` per group (see :func:`groups_of`): nulls skipped, null if all are."""
    if not len(first):
        return values[:0], ok[:0]
    return (np.maximum.reduceat(np.where(ok, values, _MIN)[order], first),
            np.logical_or.reduceat(ok[order], first))


def lookup(keys: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Position of each code in the distinct ``keys``, -1 if absent."""
    where = np.full(code_count(keys, codes), -1, np.int64)
    where[keys] = np.arange(len(keys))
    return where[codes]


def take_at(values: np.ndarray, ok: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (and validity) at positions ``at``; -1 gives null (and 0)."""
    if not len(values):
        return np.zeros(len(at), values.dtype), np.zeros(len(at), bool)
    valid = (at >= 0) & ok[np.maximum(at, 0)]
    return np.where(valid, values[np.maximum(at, 0)], 0), valid
