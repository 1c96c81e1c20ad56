"""Spark's arithmetic on whole columns, in numpy: the stream's Arrow computations give
what the Spark transforms they replaced gave (decimal <-> double rounding, NaN ordering,
exact medians, null handling)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MONEY = pa.decimal128(18, 2)


def greater(a: np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """``a > b`` as Spark compares doubles: NaN is above every other value."""
    with np.errstate(invalid="ignore"):
        return (a > b) | (np.isnan(a) & ~np.isnan(b))


def pick(mask: np.ndarray, yes: str, no: str) -> pa.Array:
    return pa.array(np.where(mask, yes, no).tolist(), pa.string())


def valid_of(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.is_valid(values).to_numpy(zero_copy_only=False)


def filled(values: pa.ChunkedArray | pa.Array, null: int) -> np.ndarray:
    return pc.fill_null(values, null).to_numpy(zero_copy_only=False)


def doubles(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The values as float64 (0 where null) and where they are not null. Decimals are
    rounded to the nearest double like Spark (Arrow's cast can be an ulp off: 19021.85 ->
    19021.850000000002)."""
    if pa.types.is_decimal(values.type) and values.type.scale == 2:
        cents, valid = cents_of(values)
        return cents_to_double(cents), valid
    doubles = pc.cast(values, pa.float64())
    return filled(doubles, 0.0).astype(np.float64), valid_of(doubles)


def group_median(groups: np.ndarray, values: np.ndarray, use: np.ndarray, k: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per group 0..k-1, the exact median of ``values[use]`` (Spark's ``median``: the two
    middle values interpolated, NaN above all) and whether the group has any value."""
    g, v = groups[use], values[use]
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    count = np.bincount(g, minlength=k)
    first = np.cumsum(count) - count
    has = count > 0
    low = v[(first + (count - 1) // 2)[has]]
    high = v[(first + count // 2)[has]]
    median = np.zeros(k)
    median[has] = np.where(low == high, low, 0.5 * low + 0.5 * high)
    return median, has


def codes_of(strings: pa.ChunkedArray | pa.Array, rows: np.ndarray
           ) -> tuple[pa.Array, np.ndarray]:
    """The distinct values (null one of them) and the code of each of ``rows``."""
    values = pc.cast(strings, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values.take(pa.array(rows, pa.int64())),
                                   null_encoding="encode")
    return encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False) \
        .astype(np.int64)


def cents_of(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A decimal(18,2) column as int64 hundredths (0 where null), and where not null."""
    values = pc.cast(values, MONEY)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    words = np.frombuffer(values.buffers()[1], np.int64, 2 * n, 16 * values.offset)
    valid = valid_of(values)
    cents = np.where(valid, words[0::2], 0)
    if np.abs(cents).sum(dtype=np.float64) >= 2 ** 62:
        raise OverflowError("revenue too large to add up in int64 hundredths")
    return cents, valid


def cents_to_double(cents: np.ndarray) -> np.ndarray:
    """Hundredths as the nearest double (as Spark's decimal to double)."""
    out = cents / 100.0
    for i in np.flatnonzero(np.abs(cents) > 2 ** 53):
        out[i] = float(Decimal(int(cents[i])).scaleb(-2))
    return out


def decimal_of(cents: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Hundredths as decimal(18,2)."""
    words = np.stack([cents, cents >> 63], axis=1)
    bitmap = None if valid.all() else pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(MONEY, len(cents), [bitmap, pa.py_buffer(words.tobytes())])


def money_of(x: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Doubles cast to decimal(18,2) like Spark: the shortest decimal that reads back as
    the double, rounded half away from zero (0.075 -> 0.08, where Arrow's cast gives 0.07)."""
    scaled = np.abs(x) * 100
    with np.errstate(invalid="ignore"):
        cents = np.floor(scaled + 0.5)
        tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
        slow = valid & (tie | ~(scaled < 1e9))
    cents = np.where(valid & ~slow, np.copysign(cents, x), 0).astype(np.int64)
    for i in np.flatnonzero(slow):
        exact = Decimal(repr(float(x[i]))) if np.isfinite(x[i]) else Decimal(10 ** 16)
        hundredths = int(exact.quantize(Decimal("0.01"), ROUND_HALF_UP).scaleb(2))
        if abs(hundredths) >= 10 ** 18:
            raise OverflowError(f"{x[i]} cannot be represented as Decimal(18, 2)")
        cents[i] = hundredths
    return decimal_of(cents, valid)
