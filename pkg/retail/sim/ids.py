"""Vectorised identifiers: fixed-width ASCII ids and UUIDs built in numpy, handed to Arrow
without a Python loop (string formatting per event would cost more than the simulation)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)
# Event UUIDs (event_uuids): the 122 bits an RFC 9562 version-8 UUID leaves free.
RUN_BITS, TYPE_BITS = 57, 3  # 60 bits, all before the variant bits
DAY_BITS, STORE_BITS, POSITION_BITS = 18, 17, 27  # 62 bits: to 2687, 131k stores, 134M


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


def run_hash(params: dict[str, object]) -> int:
    """A RUN_BITS-bit hash of a run's parameters (canonical JSON, so key order and float
    formatting cannot change it)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(text.encode(), digest_size=8, person=b"retail-sim-run").digest()
    return int.from_bytes(digest, "big") >> (64 - RUN_BITS)


def event_uuids(run: int, type_code: int, day: int, store: np.ndarray,
                position: np.ndarray) -> pa.StringArray:
    """RFC 9562 version-8 UUID strings that pack where an event comes from, by construction.

    The 122 free bits hold, from the left: the run hash (RUN_BITS), the event type code
    (TYPE_BITS) -- together the 60 bits before and after the version nibble -- then, after
    the variant bits, the day (DAY_BITS), the store (STORE_BITS) and the event's position
    within its store, type and day (POSITION_BITS). Two events of one run can only share
    an id if they share all of those; events of two runs only if their run hashes collide.

    Args:
        run: the run's hash (:func:`run_hash`).
        type_code: the event type's index, below 2**TYPE_BITS.
        day: days since 1970-01-01 of the local day the events belong to.
        store: store index per event.
        position: the event's 0-based position within its store, type and day.

    Raises:
        ValueError: a part does not fit its bits (names the part and its limit).
    """
    _check("run hash", np.array([run]), RUN_BITS)
    _check("event type code", np.array([type_code]), TYPE_BITS)
    _check("day (days since 1970-01-01)", np.array([day]), DAY_BITS)
    _check("store index", store, STORE_BITS)
    _check("position within the store's day", position, POSITION_BITS)
    head = (run << TYPE_BITS) | type_code  # 60 bits around the version nibble
    hi = f"{((head >> 12) << 16) | (0x8 << 12) | (head & 0xFFF):016x}"
    prefix = f"{hi[:8]}-{hi[8:12]}-{hi[12:]}-".encode()
    lo = (np.uint64(0b10 << 62) | np.uint64(day << (STORE_BITS + POSITION_BITS))
          | (np.asarray(store, dtype=np.uint64) << np.uint64(POSITION_BITS))
          | np.asarray(position, dtype=np.uint64))
    hexed = _HEX[(lo[:, None] >> _NIBBLE_SHIFTS) & np.uint64(0xF)]
    n = len(lo)
    return _string_array(np.concatenate([
        np.broadcast_to(np.frombuffer(prefix, dtype=np.uint8), (n, len(prefix))),
        hexed[:, :4], np.full((n, 1), ord("-"), dtype=np.uint8), hexed[:, 4:]], axis=1))


def _check(name: str, values: np.ndarray, bits: int) -> None:
    values = np.asarray(values)
    if values.size and (int(values.min()) < 0 or int(values.max()) >= 1 << bits):
        raise ValueError(f"event id: {name} must be in 0 .. {(1 << bits) - 1} "
                         f"({bits} bits), got {int(values.min())} .. {int(values.max())}")
