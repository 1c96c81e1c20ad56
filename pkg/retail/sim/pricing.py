"""Chain-wide prices: weekly promotions and occasional regular price changes.

Promotions run Monday to Sunday on a random few percent of SKUs with 10-40 % off; demand
for a promoted SKU rises by ``(1 - discount) ** elasticity`` (elasticity < 0 per category).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from retail.sim.demand import ELASTICITY

DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40])
REGULAR_CHANGE_SHARE = 0.005
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


class PriceBook:
    """Current regular price, promotion discount and promotion id of every product."""

    def __init__(self, base_price: np.ndarray, category: np.ndarray, promo_share: float):
        self.price = base_price.astype(float).copy()
        self.discount = np.zeros(len(base_price))
        self.promo_id = np.zeros(len(base_price), dtype=np.int64)
        self.category = category
        self.promo_share = promo_share

    def shelf_price(self, product: np.ndarray) -> np.ndarray:
        """What a shopper pays per unit today."""
        return np.round(self.price[product] * (1.0 - self.discount[product]), 2)

    def demand_lift(self, product: np.ndarray) -> np.ndarray:
        return (1.0 - self.discount[product]) ** ELASTICITY[self.category[product]]

    def advance(self, rng: np.random.Generator, day: date, first_day: bool) -> PriceChanges:
        """Apply the day's changes (new promotions on Mondays) and return them."""
        if not (first_day or day.weekday() == 0):
            return PriceChanges(*(np.zeros(0, dtype=t) for t in (int, int, float, float, int)))
        n = len(self.price)
        parts: list[tuple] = []
        ended = np.flatnonzero(self.discount > 0)
        parts.append((ended, 0, self.shelf_price(ended), self.price[ended], self.promo_id[ended]))
        self.discount[ended] = 0.0
        self.promo_id[ended] = 0

        changed = np.flatnonzero(rng.random(n) < REGULAR_CHANGE_SHARE)
        old = self.price[changed].copy()
        factor = 1.0 + rng.choice([-1.0, 1.0], size=len(changed)) * rng.uniform(0.03, 0.10,
                                                                               len(changed))
        new = np.maximum(np.round(old * factor, 1) - 0.01, 0.29)
        moved = new != old  # rounding can cancel a small change: that is no change at all
        changed, old = changed[moved], old[moved]
        self.price[changed] = new[moved]
        parts.append((changed, 1, old, self.price[changed], np.zeros(len(changed), np.int64)))

        promo = np.sort(rng.choice(n, size=max(1, int(n * self.promo_share)), replace=False))
        self.discount[promo] = rng.choice(DISCOUNTS, size=len(promo))
        self.promo_id[promo] = day.year * 10_000 + day.month * 100 + day.day
        parts.append((promo, 2, self.price[promo], self.shelf_price(promo), self.promo_id[promo]))

        return PriceChanges(
            product=np.concatenate([p[0] for p in parts]),
            change_type=np.concatenate([np.full(len(p[0]), p[1]) for p in parts]),
            old_price=np.concatenate([p[2] for p in parts]),
            new_price=np.concatenate([p[3] for p in parts]),
            promo_id=np.concatenate([p[4] for p in parts]),
        )
