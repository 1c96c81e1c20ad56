"""Stock arithmetic for many SKU-store pairs at once.

A stock level can never go below zero: a sale takes ``min(demand, on hand)`` and the rest
is a lost sale. For one pair that is Lindley's recursion ``s[i] = max(0, s[i-1] + d[i])``;
its closed form ``s[i] = S[i] - min(0, min_{k<=i} S[k])`` (``S`` the unclamped running sum,
``S[0]`` the opening stock) needs only a cumulative sum and a running minimum, so every
pair's day is computed in a handful of numpy passes instead of a Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Movements:
    """Result of :func:`apply_movements`, in the input order."""

    new_level: np.ndarray  # stock after each movement
    applied: np.ndarray  # signed change actually applied (clamped for withdrawals)
    closing: np.ndarray  # closing stock per pair


def apply_movements(opening: np.ndarray, pair: np.ndarray, order_key: np.ndarray,
                    delta: np.ndarray) -> Movements:
    """Apply signed stock movements to pairs, in ``order_key`` order within each pair.

    Args:
        opening: opening stock per pair (>= 0), indexed by ``pair``.
        pair: pair index of each movement.
        order_key: sort key of each movement within its pair (e.g. time then sequence);
            ties keep input order.
        delta: requested change; negative withdrawals are clamped at zero stock.
    """
    opening = np.asarray(opening, dtype=np.int64)
    if opening.size and opening.min() < 0:
        raise ValueError("opening stock must be non-negative")
    n = len(pair)
    closing = opening.copy()
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Movements(empty, empty, closing)
    order = np.lexsort((np.arange(n), order_key, pair))
    g = pair[order]
    d = np.asarray(delta, dtype=np.int64)[order]
    first = np.ones(n, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    group = np.cumsum(first) - 1  # 0, 1, 2 ... per distinct pair, increasing
    csum = np.cumsum(d)
    base = (csum - d)[first]  # cumulative sum before each group's first movement
    running = opening[g] + csum - base[group]  # unclamped level S[i]
    # Segmented running minimum: shift each group far below the previous one so the
    # minimum never crosses a group boundary, then shift back.
    span = int(np.abs(running).max()) * 2 + int(opening.max(initial=0)) + 1
    shift = group.astype(np.int64) * span
    run_min = np.minimum.accumulate(running - shift) + shift
    level = running - np.minimum(run_min, 0)
    prev = np.empty(n, dtype=np.int64)
    prev[1:] = level[:-1]
    prev[first] = opening[g[first]]
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    closing[g[last]] = level[last]

    new_level = np.empty(n, dtype=np.int64)
    applied = np.empty(n, dtype=np.int64)
    new_level[order] = level
    applied[order] = level - prev
    return Movements(new_level, applied, closing)
