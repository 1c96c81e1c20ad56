"""Chain-wide prices: weekly promotions and occasional regular price changes.

Promotions run Monday to Sunday on a random few percent of SKUs with 10-40 % off; demand
for a promoted SKU rises by ``(1 - discount) ** elasticity`` (elasticity < 0 per category).

A week's plan (which SKUs go on promotion at what discount, which regular prices move) is
drawn from (seed, the week's Monday) alone, so it is known before the week starts: the
chain publishes its promotion calendar ahead (:func:`promotion_calendar`), and a forecast
may use the promotions planned for the day it forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retail.sim.demand import ELASTICITY
from retail.sim.ids import compose_ids

DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40])
REGULAR_CHANGE_SHARE = 0.005
PROMO_SHARE = 0.03  # share of the SKUs on promotion each week, unless configured otherwise
CHANGE_TYPES = ("promotion_end", "regular", "promotion_start")


@dataclass(frozen=True)
class PriceChanges:
    """Product-level price changes of one day, in the order they take effect."""

    product: np.ndarray
    change_type: np.ndarray  # index into CHANGE_TYPES
    old_price: np.ndarray
    new_price: np.ndarray
    promo_id: np.ndarray  # promotion id number (yyyymmdd of its start), 0 for none

    def __len__(self) -> int:
        return len(self.product)


@dataclass(frozen=True)
class WeekPlan:
    """A week's planned price changes, drawn before the week from (seed, its Monday)."""

    monday: date
    changed: np.ndarray  # products whose regular price moves
    factor: np.ndarray  # their price factor (before rounding)
    promo: np.ndarray  # products on promotion Monday to Sunday, sorted
    discount: np.ndarray  # their discount


def week_plan(seed: int, monday: date, n_products: int, promo_share: float) -> WeekPlan:
    """The plan of the week starting ``monday`` (any day: its week's Monday is used)."""
    monday = monday - timedelta(days=monday.weekday())
    rng = np.random.default_rng([seed, monday.toordinal(), 2])
    changed = np.flatnonzero(rng.random(n_products) < REGULAR_CHANGE_SHARE)
    factor = 1.0 + rng.choice([-1.0, 1.0], size=len(changed)) * rng.uniform(0.03, 0.10,
                                                                           len(changed))
    promo = np.sort(rng.choice(n_products, size=max(1, int(n_products * promo_share)),
                               replace=False))
    return WeekPlan(monday, changed, factor, promo, rng.choice(DISCOUNTS, size=len(promo)))


def promotion_calendar(seed: int, product_ids: pa.Array | pa.ChunkedArray, promo_share: float, start: date,
                       days: int) -> pa.Table:
    """The promotions planned for the weeks that overlap ``days`` days from ``start``: one
    row per product and week (``product_id``, ``promotion_id``, ``start_date`` Monday,
    ``end_date`` Sunday, ``discount``). A run that starts mid-week starts its first week's
    promotions on its first day, with that day as their id."""
    first = start - timedelta(days=start.weekday())
    weeks = [first + timedelta(weeks=k) for k in range((start.weekday() + days + 6) // 7)]
    plans = [week_plan(seed, m, len(product_ids), promo_share) for m in weeks]
    ymd = [int(f"{max(p.monday, start):%Y%m%d}") for p in plans for _ in p.promo]
    return pa.table({
        "product_id": pa.chunked_array([product_ids.take(pa.array(p.promo)) for p in plans],
                                       pa.string()).combine_chunks(),
        "promotion_id": compose_ids("PRM", [(np.array(ymd, np.int64), 8)]),
        "start_date": pa.array([p.monday for p in plans for _ in p.promo], pa.date32()),
        "end_date": pa.array([p.monday + timedelta(days=6) for p in plans for _ in p.promo],
                             pa.date32()),
        "discount": pa.array(np.concatenate([p.discount for p in plans]), pa.float64()),
    })


def discounted(price: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """The shelf price of a regular ``price`` at ``discount`` off, to the cent (the price a
    promotion's events carry, and the one a forecast plans with)."""
    return np.round(price * (1.0 - discount), 2)


class PriceBook:
    """Current regular price, promotion discount and promotion id of every product."""

    def __init__(self, base_price: np.ndarray, category: np.ndarray):
        self.price = base_price.astype(float).copy()
        self.discount = np.zeros(len(base_price))
        self.promo_id = np.zeros(len(base_price), dtype=np.int64)
        self.category = category

    def shelf_price(self, product: np.ndarray) -> np.ndarray:
        """What a shopper pays per unit today."""
        return discounted(self.price[product], self.discount[product])

    def demand_lift(self, product: np.ndarray) -> np.ndarray:
        return (1.0 - self.discount[product]) ** ELASTICITY[self.category[product]]

    def advance(self, plan: WeekPlan, day: date, first_day: bool) -> PriceChanges:
        """Apply the day's changes (the week's plan on Mondays) and return them."""
        if not (first_day or day.weekday() == 0):
            return PriceChanges(*(np.zeros(0, dtype=t) for t in (int, int, float, float, int)))
        parts: list[tuple] = []
        ended = np.flatnonzero(self.discount > 0)
        parts.append((ended, 0, self.shelf_price(ended), self.price[ended], self.promo_id[ended]))
        self.discount[ended] = 0.0
        self.promo_id[ended] = 0

        changed = plan.changed
        old = self.price[changed].copy()
        new = np.maximum(np.round(old * plan.factor, 1) - 0.01, 0.29)
        moved = new != old  # rounding can cancel a small change: that is no change at all
        changed, old = changed[moved], old[moved]
        self.price[changed] = new[moved]
        parts.append((changed, 1, old, self.price[changed], np.zeros(len(changed), np.int64)))

        promo = plan.promo
        self.discount[promo] = plan.discount
        self.promo_id[promo] = day.year * 10_000 + day.month * 100 + day.day
        parts.append((promo, 2, self.price[promo], self.shelf_price(promo), self.promo_id[promo]))

        return PriceChanges(
            product=np.concatenate([p[0] for p in parts]),
            change_type=np.concatenate([np.full(len(p[0]), p[1]) for p in parts]),
            old_price=np.concatenate([p[2] for p in parts]),
            new_price=np.concatenate([p[3] for p in parts]),
            promo_id=np.concatenate([p[4] for p in parts]),
        )
