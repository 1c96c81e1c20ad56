"""Perishable stock by expiry day: what a shelf holds, first in first out, and what it
writes off.

Each perishable store x SKU pair (a category whose shelf life is at most
:data:`PERISHABLE_MAX_DAYS`) keeps its units by the day they expire, in a ring of
``horizon`` days indexed by ``expiry day % horizon``. A unit that arrives on day ``d``
expires at the start of day ``d + shelf life``; every unit of a SKU has the same shelf
life, so a pair's lots expire in the order they arrived, and selling, shrinkage or a count
that finds units missing takes the oldest units first (first in, first out). Returns and
counts that find extra units are shelved as if they arrived that day.

Because every outflow takes the oldest units and every inflow is the youngest, the day's
totals are enough: removing a day's outflow from the front of (yesterday's lots, today's
arrivals) is what taking each unit in its own time order would do. The invariant, checked
by the tests: a pair's lots sum to its stock at the end of every day.
"""

from __future__ import annotations

import numpy as np

# Categories with a shelf life up to this many days expire in the simulation (produce,
# dairy, bakery, meat and seafood, garden); the rest keep for months or years, longer than
# any order cycle, and never do.
PERISHABLE_MAX_DAYS = 60


class ShelfLots:
    """The perishable pairs' units by expiry day (``pairs``: their indices among all pairs;
    ``shelf_life``: days, per perishable pair)."""

    def __init__(self, pairs: np.ndarray, shelf_life: np.ndarray, horizon: int):
        if len(shelf_life) and (shelf_life.min() < 1 or shelf_life.max() >= horizon):
            raise ValueError(f"shelf lives must be in 1 .. {horizon - 1} days, got "
                             f"{int(shelf_life.min())} .. {int(shelf_life.max())}")
        self.pairs = np.asarray(pairs, dtype=np.int64)
        self.shelf_life = np.asarray(shelf_life, dtype=np.int64)
        self.horizon = horizon
        self.lots = np.zeros((len(self.pairs), horizon), dtype=np.int64)

    def stock(self) -> np.ndarray:
        """Units on the shelf per perishable pair."""
        return self.lots.sum(axis=1)

    def fill(self, day: int, units: np.ndarray, rng: np.random.Generator) -> None:
        """Opening stock on ``day``: a shelf stocked by earlier deliveries, its oldest units
        expiring after a random number of days and the rest spread evenly over the days up
        to a whole shelf life."""
        self.lots[:] = 0
        units = np.asarray(units, dtype=np.int64)
        first = rng.integers(1, self.shelf_life + 1)  # days until the oldest units expire
        n = self.shelf_life - first + 1  # expiry days the units spread over
        rows = np.arange(len(self.pairs))
        for k in range(int(n.max(initial=0))):
            on = k < n
            share = units[on] // n[on] + (k < units[on] % n[on])
            self.lots[rows[on], (day + first[on] + k) % self.horizon] += share

    def rows(self, p0: int, p1: int) -> slice:
        """The perishable pairs among pairs ``[p0, p1)`` (a store group), as rows."""
        return slice(int(np.searchsorted(self.pairs, p0)), int(np.searchsorted(self.pairs, p1)))

    def expiring(self, day: int, rows: slice = slice(None)) -> np.ndarray:
        """Units per perishable pair (of ``rows``) that expire at the start of ``day``."""
        return self.lots[rows, day % self.horizon].copy()

    def book(self, day: int, rows: slice, pair: np.ndarray, is_expiry: np.ndarray,
             applied: np.ndarray) -> None:
        """Book a store group's day (its perishable ``rows``) from the group's movements:
        each one's ``pair``, ``is_expiry`` for the write-offs, and ``applied``, the change
        each made to the stock."""
        pairs = self.pairs[rows]
        if not len(pairs):
            return
        lo, n = int(pairs[0]), int(pairs[-1] - pairs[0] + 1)
        mine = (pair >= lo) & (pair < lo + n)
        local, is_expiry, applied = pair[mine] - lo, is_expiry[mine], applied[mine]
        written_off, shelved, taken = (np.zeros(n, np.int64) for _ in range(3))
        np.add.at(written_off, local[is_expiry], -applied[is_expiry])
        np.add.at(shelved, local, np.maximum(applied, 0))
        np.add.at(taken, local[~is_expiry], np.maximum(-applied[~is_expiry], 0))
        at = pairs - lo
        self.close_day(day, written_off[at], shelved[at], taken[at], rows)

    def close_day(self, day: int, expired: np.ndarray, arrived: np.ndarray,
                  taken: np.ndarray, rows: slice = slice(None)) -> None:
        """Book ``day`` for the pairs of ``rows``: ``expired`` units written off at its
        start, ``arrived`` units shelved (deliveries, returns, found units) and ``taken``
        units gone (sold, shrunk, missing)."""
        lots = self.lots[rows]  # a view: written in place
        today = day % self.horizon
        if np.any(lots[:, today] != expired):
            raise ValueError("the write-off differs from the units that expired today")
        lots[:, today] = 0
        lots[np.arange(len(lots)), (day + self.shelf_life[rows]) % self.horizon] += arrived
        # oldest first: the ring from tomorrow's slot on
        order = (day + 1 + np.arange(self.horizon)) % self.horizon
        cum = np.cumsum(lots[:, order], axis=1)
        if np.any(cum[:, -1] < taken):
            raise ValueError("more units taken than the shelf held")
        lots[:, order] = np.diff(np.maximum(cum - taken[:, None], 0), axis=1, prepend=0)
