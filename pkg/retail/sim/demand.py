"""Shopper demand for a group of stores over one local day, drawn in bulk with numpy.

Transactions arrive per store and local hour as a Poisson process whose rate combines the
store's traffic, its type's hour-of-day curve and the day's multiplier (weekday, holiday,
payday, the store's local events, the weather's pull on its assortment).
Each transaction has 1 + Poisson lines; each line picks a SKU from the store's assortment
with probability proportional to popularity x category seasonality x promotion lift x the
weather's factor for its category in the store's region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail.sim.profiles import CATEGORIES, PAYMENT_SHARES, STORE_TYPES

_SEASON_PEAK = np.array([c.peak_day_of_year for c in CATEGORIES], dtype=float)
_SEASON_AMP = np.array([c.seasonality for c in CATEGORIES])
ELASTICITY = np.array([c.elasticity for c in CATEGORIES])
MEAN_QTY = np.array([c.mean_quantity for c in CATEGORIES])
_OPEN = np.array([[t.opens <= h < t.closes for h in range(24)] for t in STORE_TYPES])
_HOURLY = np.array([t.hourly for t in STORE_TYPES]) * _OPEN
# Normalise each curve to mean 1 over open hours so `rate` is the open-hours average.
HOURLY = _HOURLY / (_HOURLY.sum(axis=1, keepdims=True) / _OPEN.sum(axis=1, keepdims=True))
BASKET_LINES = np.array([t.basket_lines for t in STORE_TYPES])
OPEN_HOURS = _OPEN.sum(axis=1)
OPENS = np.array([t.opens for t in STORE_TYPES])
LOYAL_SHARE = 0.55  # of transactions carry a loyalty number


def seasonality(day_of_year: int) -> np.ndarray:
    """Demand multiplier per category on ``day_of_year`` (yearly cosine around its peak)."""
    phase = 2.0 * np.pi * (day_of_year - _SEASON_PEAK) / 365.25
    return 1.0 + _SEASON_AMP * np.cos(phase)


def transactions_per_hour(rate: float, store_type: np.ndarray, traffic: np.ndarray) -> np.ndarray:
    """Mean transactions per open hour per store for ``rate`` events/minute/store.

    Each sold line yields about two events (the sale and its inventory update), so a store
    doing ``rate`` events a minute checks out ``rate / (2 * lines per basket)`` baskets.
    """
    lines = BASKET_LINES[store_type]
    return 60.0 * rate / (2.0 * lines) * traffic / traffic.mean()


@dataclass(frozen=True)
class Baskets:
    """Transactions and their lines for a group of stores on one day (local seconds)."""

    tx_store: np.ndarray  # store index (global) per transaction
    tx_seq: np.ndarray  # sequence per store-day
    tx_time: np.ndarray  # local seconds since midnight
    tx_payment: np.ndarray  # index into PAYMENT_METHODS
    tx_customer: np.ndarray  # loyalty number, -1 for anonymous (0: loyal, number not drawn)
    line_tx: np.ndarray  # transaction index per line
    line_number: np.ndarray
    line_pair: np.ndarray  # global pair index
    line_qty: np.ndarray  # requested units


def draw_baskets(rng: np.random.Generator, *, stores: np.ndarray, store_type: np.ndarray,
                 tx_rate: np.ndarray, day_mult: np.ndarray, pair_start: np.ndarray,
                 pair_weight: np.ndarray, pair_category: np.ndarray) -> Baskets:
    """Draw one day of baskets.

    Args:
        stores: global indices of the stores (contiguous).
        store_type, tx_rate, day_mult: per store in ``stores`` (day_mult: the day's traffic
            multiplier: calendar, local events, weather).
        pair_start: pair offsets of ``stores`` (len(stores) + 1), global pair indices.
        pair_weight, pair_category: per pair in ``[pair_start[0], pair_start[-1])``.
    """
    lam = tx_rate[:, None] * HOURLY[store_type] * day_mult[:, None]  # (stores, 24)
    counts = rng.poisson(lam)
    per_store = counts.sum(axis=1)
    n_tx = int(per_store.sum())
    tx_local_store = np.repeat(np.arange(len(stores)), per_store)
    hours = np.repeat(np.tile(np.arange(24), len(stores)), counts.ravel())
    tx_time = hours * 3600 + rng.integers(0, 3600, size=n_tx)
    store_first_tx = np.concatenate(([0], np.cumsum(per_store)[:-1]))
    tx_seq = np.arange(n_tx) - np.repeat(store_first_tx, per_store) + 1
    payment = rng.choice(len(PAYMENT_SHARES), size=n_tx, p=PAYMENT_SHARES)
    loyal = rng.random(n_tx) < LOYAL_SHARE
    # the loyalty numbers come from the store's customer pool (retail.sim.shoppers)
    customer = np.where(loyal, 0, -1)

    n_lines_per_tx = 1 + rng.poisson(BASKET_LINES[store_type][tx_local_store] - 1.0)
    n_lines = int(n_lines_per_tx.sum())
    line_tx = np.repeat(np.arange(n_tx), n_lines_per_tx)
    tx_first_line = np.concatenate(([0], np.cumsum(n_lines_per_tx)[:-1]))
    line_number = np.arange(n_lines) - np.repeat(tx_first_line, n_lines_per_tx) + 1

    # Pick SKUs: normalise each store's cumulative weights to [k, k + 1) for store k, draw
    # u + k and search once for all lines.
    p0 = pair_start[0]
    local_start = pair_start - p0
    cum = np.cumsum(pair_weight)
    seg_lo = np.concatenate(([0.0], cum))[local_start[:-1]]
    seg_total = cum[local_start[1:] - 1] - seg_lo
    owner = np.repeat(np.arange(len(stores)), np.diff(local_start))
    norm = (cum - seg_lo[owner]) / seg_total[owner] + owner
    line_store_local = tx_local_store[line_tx]
    u = rng.random(n_lines) + line_store_local
    picked = np.searchsorted(norm, u, side="right")
    picked = np.clip(picked, local_start[line_store_local], local_start[line_store_local + 1] - 1)
    qty = 1 + rng.poisson(MEAN_QTY[pair_category[picked]] - 1.0)

    return Baskets(
        tx_store=stores[tx_local_store], tx_seq=tx_seq, tx_time=tx_time, tx_payment=payment,
        tx_customer=customer, line_tx=line_tx, line_number=line_number,
        line_pair=picked + p0, line_qty=qty,
    )
