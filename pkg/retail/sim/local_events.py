"""Local events per store: a street fair, a game day, a festival, a concert nearby.

Each store gets a Poisson number of events a year (mean EVENTS_PER_STORE_YEAR) on distinct
days, each of a kind drawn by its share, from a generator seeded by (seed, store, year): a
day's events are known without simulating the days before it, and adding stores to a chain
leaves the others' events alone. An event multiplies the store's traffic by its kind's
``lift`` on the day and by ``lift_day_before`` the day before (shoppers stock up for a game
or a festival).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class EventKind:
    name: str
    share: float  # of all events
    lift: float  # traffic multiplier on the day
    lift_day_before: float


EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind("street_fair", 0.30, 1.35, 1.00),
    EventKind("game_day", 0.35, 1.30, 1.10),
    EventKind("festival", 0.15, 1.50, 1.15),
    EventKind("concert", 0.20, 1.20, 1.00),
)
EVENTS_PER_STORE_YEAR = 4.0
_SHARES = np.array([k.share for k in EVENT_KINDS])
LIFT = np.array([k.lift for k in EVENT_KINDS])
LIFT_DAY_BEFORE = np.array([k.lift_day_before for k in EVENT_KINDS])
_TAG = 0x10CA1


@dataclass(frozen=True)
class YearEvents:
    """Every store's events of one year, sorted by store then day."""

    store: np.ndarray  # store index
    day: np.ndarray  # days since 1970-01-01
    kind: np.ndarray  # index into EVENT_KINDS


def _ordinal(day: date) -> int:
    return (day - date(1970, 1, 1)).days


class LocalEvents:
    """The events of a chain's ``n_stores`` stores, drawn per year when first asked for."""

    def __init__(self, seed: int, n_stores: int):
        self.seed, self.n_stores = seed, n_stores
        self._years: dict[int, YearEvents] = {}

    def year(self, year: int) -> YearEvents:
        if year not in self._years:
            first = _ordinal(date(year, 1, 1))
            length = _ordinal(date(year + 1, 1, 1)) - first
            stores, days, kinds = [], [], []
            for s in range(self.n_stores):
                rng = np.random.default_rng([self.seed, _TAG, s, year])
                n = min(int(rng.poisson(EVENTS_PER_STORE_YEAR)), length)
                days.append(first + np.sort(rng.choice(length, size=n, replace=False)))
                kinds.append(rng.choice(len(EVENT_KINDS), size=n, p=_SHARES))
                stores.append(np.full(n, s))
            self._years[year] = YearEvents(
                store=np.concatenate(stores).astype(np.int64),
                day=np.concatenate(days).astype(np.int64),
                kind=np.concatenate(kinds).astype(np.int64))
        return self._years[year]

    def traffic_lift(self, day: date) -> np.ndarray:
        """Per store: the product of ``lift`` of its events on ``day`` and
        ``lift_day_before`` of its events the day after."""
        out = np.ones(self.n_stores)
        for when, lifts in ((day, LIFT), (day + timedelta(days=1), LIFT_DAY_BEFORE)):
            ev = self.year(when.year)
            hit = ev.day == _ordinal(when)
            np.multiply.at(out, ev.store[hit], lifts[ev.kind[hit]])
        return out

    def table(self, store_ids: pa.Array, start: date, days: int) -> pa.Table:
        """``store_events``: one row per store and event day within ``days`` from ``start``."""
        lo, hi = _ordinal(start), _ordinal(start) + days
        parts = [self.year(y) for y in range(start.year, (start + timedelta(days=max(days, 1)
                                                                              - 1)).year + 1)]
        store = np.concatenate([p.store for p in parts])
        day = np.concatenate([p.day for p in parts])
        kind = np.concatenate([p.kind for p in parts])
        keep = np.flatnonzero((day >= lo) & (day < hi))
        keep = keep[np.lexsort((day[keep], store[keep]))]
        return pa.table({
            "store_id": pa.array(store_ids).take(pa.array(store[keep])),
            "date": pa.array(day[keep].astype("datetime64[D]"), pa.date32()),
            "kind": pa.array([EVENT_KINDS[k].name for k in kind[keep]], pa.string()),
            "lift": pa.array(LIFT[kind[keep]], pa.float64()),
            "lift_day_before": pa.array(LIFT_DAY_BEFORE[kind[keep]], pa.float64()),
        })
