"""Vectorised identifiers: fixed-width ASCII ids and UUIDs built in numpy, handed to Arrow
without a Python loop (string formatting per event would cost more than the simulation)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _string_array(chars: np.ndarray) -> pa.StringArray:
    """An (n, w) uint8 matrix of ASCII codes as an Arrow string array (zero-copy data)."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars).reshape(-1)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers as an (n, width) ASCII matrix."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() >= 10**width):
        raise ValueError(f"id part out of range for width {width}")
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + 48).astype(np.uint8)


def compose_ids(prefix: str, parts: list[tuple[np.ndarray, int]], sep: str = "-") -> pa.StringArray:
    """``prefix + sep + part1 + sep + part2 ...`` with each numeric part zero-padded.

    Args:
        prefix: literal text, e.g. ``"T"``.
        parts: ``(values, width)`` pairs; ``values`` are non-negative integers, one per id.
        sep: separator between prefix and parts (may be empty).
    """
    n = len(parts[0][0])
    blocks: list[np.ndarray] = []
    if prefix:
        blocks.append(np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, len(prefix))))
    sep_b = np.frombuffer(sep.encode(), dtype=np.uint8)
    for i, (values, width) in enumerate(parts):
        if sep and (prefix or i):
            blocks.append(np.broadcast_to(sep_b, (n, len(sep_b))))
        blocks.append(_digits(values, width))
    return _string_array(np.concatenate(blocks, axis=1) if blocks else np.empty((n, 0), np.uint8))


def uuid4_array(rng: np.random.Generator, n: int) -> pa.StringArray:
    """``n`` RFC 4122 version-4 UUID strings drawn from ``rng`` (deterministic per seed)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    pieces, start = [], 0
    for stop in (8, 12, 16, 20):
        pieces += [hexed[:, start:stop], dash]
        start = stop
    pieces.append(hexed[:, start:])
    return _string_array(np.concatenate(pieces, axis=1))
