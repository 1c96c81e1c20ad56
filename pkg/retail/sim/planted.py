"""Ground truth the simulator plants for the insight models: anomalies and fading products.

Anomalies (docs/simulator.md, "Planted ground truth"): each day, each store x product pair
starts one with probability ``anomaly_rate`` (none while another is under way), of one of
four kinds drawn evenly:

- ``sales_drop``: a supply problem; the product stops selling though it is in stock
  (demand x 0.02 for 3 to 10 days);
- ``demand_spike``: a viral product (demand x 5 to 20 for 2 to 7 days);
- ``inventory_discrepancy``: theft or damage found at the count at midnight, local (30 % to
  70 % of the stock, at least 4 units, leaves as a count adjustment; one day, no sale);
- ``pricing_error``: the shelf price is off by x10 or /10 for 2 to 5 days (sales carry the
  wrong price; demand follows it by the category's elasticity, held to x0.05 .. x15).

Fading products (end of season, a replaced product): each product's fade starts a
geometric number of days after the run's 14th day, with a ``fade_rate`` chance per 30 days;
from then its demand halves every 5 to 15 days (floor 3 %) in every store, while the stores
keep ordering it as before.

Everything is drawn from (seed, day, store group) or (catalog seed), never from the event
draw's generator, so the labels are a pure function of the run's options. The platform never
reads them: tests and benchmarks do (``Simulator.planted``, ``retail simulate --truth``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retail.sim.demand import ELASTICITY
from retail.sim.shoppers import Shoppers

ANOMALY_KINDS = ("sales_drop", "demand_spike", "inventory_discrepancy", "pricing_error")
DROP, SPIKE, DISCREPANCY, PRICING = range(4)
FADE_GRACE_DAYS = 14
FADE_FLOOR = 0.03


@dataclass
class _Active:
    """Running anomalies: one entry per pair at most (global pair index)."""

    pair: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    first: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # day index
    last: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # inclusive
    magnitude: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Planted:
    """The planted anomalies and fades of one simulator run."""

    def __init__(self, catalog, *, seed: int, start: date, anomaly_rate: float,
                 fade_rate: float, shoppers: Shoppers) -> None:
        self.catalog, self.seed, self.start = catalog, seed, start
        self.shoppers = shoppers
        self.anomaly_rate = anomaly_rate
        self.active = _Active()
        self.log: list[tuple[int, int, int, int, float]] = []  # kind, pair, first, last, mag
        rng = np.random.default_rng([catalog.seed, seed, 11])
        n = catalog.n_products
        p = min(1.0, fade_rate / 30.0)
        offset = rng.geometric(p, size=n) - 1 if p > 0 else np.full(n, 10**9)
        self.fade_start = FADE_GRACE_DAYS + np.minimum(offset, 10**9)  # day index
        self.fade_half_life = rng.uniform(5.0, 15.0, size=n)

    # --- drawing ----------------------------------------------------------------------------
    def draw(self, day_index: int, group: tuple[int, int], stock: np.ndarray) -> None:
        """Start the day's new anomalies in the store group's pairs (``stock``: the whole
        chain's stock at the start of the day) and retire the finished ones."""
        if self.anomaly_rate <= 0:
            return
        c = self.catalog
        p0, p1 = int(c.store_pair_start[group[0]]), int(c.store_pair_start[group[1]])
        rng = np.random.default_rng([self.seed, day_index, 7, group[0]])
        a = self.active
        done = a.last < day_index
        if done.any():
            keep = ~done
            self.active = a = _Active(a.pair[keep], a.kind[keep], a.first[keep], a.last[keep],
                                      a.magnitude[keep])
        hit = np.flatnonzero(rng.random(p1 - p0) < self.anomaly_rate) + p0
        hit = hit[~np.isin(hit, a.pair)]
        kind = rng.integers(0, 4, size=len(hit))
        days = np.select([kind == DROP, kind == SPIKE, kind == PRICING],
                         [rng.integers(3, 11, len(hit)), rng.integers(2, 8, len(hit)),
                          rng.integers(2, 6, len(hit))], 1)
        mag = np.select([kind == DROP, kind == SPIKE, kind == PRICING],
                        [np.full(len(hit), 0.02), rng.uniform(5.0, 20.0, len(hit)),
                         np.where(rng.random(len(hit)) < 0.5, 10.0, 0.1)],
                        np.floor(rng.uniform(0.3, 0.7, len(hit)) * stock[hit]))
        # a count can only find missing stock where there is some
        ok = (kind != DISCREPANCY) | (mag >= 4)
        hit, kind, days, mag = hit[ok], kind[ok], days[ok], mag[ok]
        last = day_index + days - 1
        self.active = _Active(np.concatenate([a.pair, hit]), np.concatenate([a.kind, kind]),
                              np.concatenate([a.first, np.full(len(hit), day_index)]),
                              np.concatenate([a.last, last]), np.concatenate([a.magnitude, mag]))
        self.log.extend(zip(kind.tolist(), hit.tolist(), [day_index] * len(hit),
                            last.tolist(), mag.tolist()))

    def _today(self, day_index: int, p0: int, p1: int, kind: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.active
        sel = ((a.kind == kind) & (a.first <= day_index) & (a.last >= day_index)
               & (a.pair >= p0) & (a.pair < p1))
        return a.pair[sel], a.magnitude[sel]

    # --- effects on the day -----------------------------------------------------------------
    def demand_multiplier(self, day_index: int, p0: int, p1: int) -> np.ndarray:
        """Per pair in ``[p0, p1)``: the planted multiplier of its demand today (drops,
        spikes, a wrong price's pull, the product's fade)."""
        c = self.catalog
        prod = c.pair_product[p0:p1]
        since = day_index - self.fade_start[prod]
        mult = np.where(since >= 0, np.maximum(
            0.5 ** (np.maximum(since, 0) / self.fade_half_life[prod]), FADE_FLOOR), 1.0)
        for kind in (DROP, SPIKE):
            pair, mag = self._today(day_index, p0, p1, kind)
            mult[pair - p0] *= mag
        pair, factor = self.price_factor_pairs(day_index, p0, p1)
        elasticity = ELASTICITY[c.product_category[c.pair_product[pair]]]
        mult[pair - p0] *= np.clip(factor ** elasticity, 0.05, 15.0)
        return mult

    def price_factor_pairs(self, day_index: int, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray]:
        """The pairs of ``[p0, p1)`` selling at a wrong price today, and the factor."""
        return self._today(day_index, p0, p1, PRICING)

    def discrepancies(self, day_index: int, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray]:
        """The pairs of ``[p0, p1)`` whose evening count finds stock missing, and the units."""
        pair, units = self._today(day_index, p0, p1, DISCREPANCY)
        return pair, units.astype(np.int64)

    # --- the labels -------------------------------------------------------------------------
    def _day(self, index: np.ndarray) -> pa.Array:
        return pa.array([self.start + timedelta(days=int(i)) for i in index], pa.date32())

    def anomalies(self) -> pa.Table:
        """Every anomaly started so far: ``kind``, ``store_id``, ``product_id``, ``start``,
        ``end`` (inclusive; it may lie past the last simulated day), ``magnitude`` (the
        demand multiplier, the price factor, or the units removed)."""
        c = self.catalog
        rows = sorted(self.log, key=lambda r: (r[2], r[1]))
        kind, pair, first, last, mag = (np.array(v) for v in zip(*rows)) if rows else (
            np.zeros(0, np.int64),) * 4 + (np.zeros(0),)
        return pa.table({
            "kind": pa.array([ANOMALY_KINDS[k] for k in kind], pa.string()),
            "store_id": c.stores["store_id"].take(pa.array(c.pair_store[pair], pa.int64())),
            "product_id": c.products["product_id"].take(
                pa.array(c.pair_product[pair], pa.int64())),
            "start": self._day(first), "end": self._day(last),
            "magnitude": pa.array(mag, pa.float64()),
        })

    def fades(self, through: int | None = None) -> pa.Table:
        """The products whose fade starts by day index ``through`` (None: every product with
        a fade in the next ten years): ``product_id``, ``fade_start``, ``half_life_days``."""
        limit = 3650 if through is None else through
        prod = np.flatnonzero(self.fade_start <= limit)
        return pa.table({
            "product_id": self.catalog.products["product_id"].take(pa.array(prod, pa.int64())),
            "fade_start": self._day(self.fade_start[prod]),
            "half_life_days": pa.array(self.fade_half_life[prod], pa.float64()),
        })

    def affinities(self) -> pa.Table:
        """The planted basket affinities (:meth:`Shoppers.affinities`)."""
        return self.shoppers.affinities()

    def customers(self) -> pa.Table:
        """The loyal customers, their home stores and segments (:meth:`Shoppers.customers`)."""
        return self.shoppers.customers()
