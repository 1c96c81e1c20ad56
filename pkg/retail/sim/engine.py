"""The POS simulator: a chain's days, store group by store group, as columnar event batches.

Per group of stores and local day: draw baskets, take deliveries that are due, returns,
shrinkage and count adjustments; apply every stock movement in time order without ever
going below zero (unmet demand becomes lost sales); place replenishment orders under a
(reorder point, order-up-to) policy whose deliveries arrive after the supplier's lead time.
Everything is drawn from generators seeded by (seed, day, first store), so the same seed
and configuration give the same events. Event ids pack the run's fingerprint (a hash of
what decides the events: :meth:`Simulator.identity`) with the event's type, local day,
store and position in that day (docs/simulator.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retail.sim import calendar, weather
from retail.sim.catalog import Catalog
from retail.sim.day import DayContext, simulate_day
from retail.sim.demand import (BASKET_LINES, HOURLY, LOYAL_SHARE, MEAN_QTY,
                               transactions_per_hour)
from retail.sim.expiry import PERISHABLE_MAX_DAYS, ShelfLots
from retail.sim.ids import run_hash
from retail.sim.local_events import LocalEvents
from retail.sim.planted import Planted
from retail.sim.pricing import PROMO_SHARE, PriceBook, week_plan
from retail.sim.shoppers import Shoppers
from retail.sim.tables import EventBatch

# The simulation model's version, part of every event id: bump it with any change that
# makes the same options produce other events, so ids never cross model versions.
# 3: the holidays package's calendar, paydays, weather, local events; 4: a week's price plan
# drawn from (seed, its Monday), so the promotion calendar is known ahead; 5: planted
# anomalies and fades, loyal customers with home stores and favourites, basket affinities
MODEL_VERSION = 5

# (simulator, the day's context, first pair, end pair) -> units to order per pair
OrderPolicy = Callable[["Simulator", DayContext, int, int], np.ndarray]


def policy_name(policy: OrderPolicy) -> str:
    return str(getattr(policy, "name", getattr(policy, "__name__", type(policy).__name__)))


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``rate`` is events per minute per store, averaged over open hours."""

    seed: int = 42
    rate: float = 200.0
    start: date = date(2026, 1, 5)
    days: int = 1
    batch_events: int = 250_000  # target events per batch; fixes the store grouping
    promo_share: float = PROMO_SHARE
    review_days: int = 7  # order-up-to covers this many days of demand
    safety_sd: float = 1.0  # reorder point covers lead time plus this many deviations
    # planted ground truth (retail.sim.planted): the chance per store x product and day that
    # an anomaly starts, and per product and 30 days that its demand starts to fade
    anomaly_rate: float = 0.0005
    fade_rate: float = 0.02
    # perishable units past their shelf life are written off (retail.sim.expiry); off by
    # default, so runs without it keep their events and ids
    expiry: bool = False

    def __post_init__(self) -> None:
        problems = [message for bad, message in (
            (self.days < 0, f"days must be >= 0 (days to simulate), got {self.days}"),
            (not self.rate > 0,
             f"rate must be > 0 (events per minute per store), got {self.rate}"),
            (self.batch_events < 1,
             f"batch_events must be >= 1 (target events per batch), got {self.batch_events}"),
            (not 0 <= self.promo_share <= 1, "promo_share must be in 0 .. 1 (share of SKUs "
             f"on promotion each week), got {self.promo_share}"),
            (not 0 <= self.anomaly_rate <= 0.1, "anomaly_rate must be in 0 .. 0.1 (chance per "
             f"store x product and day that a planted anomaly starts), got {self.anomaly_rate}"),
            (not 0 <= self.fade_rate <= 1, "fade_rate must be in 0 .. 1 (chance per product "
             f"and 30 days that its demand starts to fade), got {self.fade_rate}"),
        ) if bad]
        if problems:
            raise ValueError("; ".join(problems))


class Simulator:
    """Owns the chain's state (stock, open orders, prices) and emits events day by day."""

    def __init__(self, catalog: Catalog, config: SimConfig, *, record_expected: bool = False,
                 order_policy: OrderPolicy | None = None):
        """``record_expected``: keep each day's expected demand per pair, the oracle of the
        forecast's backtest (:meth:`expected_demand`); it changes no event.
        ``order_policy``: what the stores order each night instead of the chain's fixed
        policy (:func:`retail.sim.supply.fixed_policy`); its ``name`` joins the run's
        identity."""
        self.catalog = catalog
        self.order_policy = order_policy
        self.expected: list[tuple[date, int, np.ndarray]] | None = (
            [] if record_expected else None)
        self.config = config
        rng = np.random.default_rng([config.seed, 1])
        self.prices = PriceBook(catalog.product_price, catalog.product_category)
        self.tx_rate = transactions_per_hour(config.rate, catalog.store_type, catalog.store_traffic)
        daily = self._expected_daily_units()
        prod = catalog.pair_product
        sup = catalog.product_supplier[prod]
        cover = catalog.supplier_lead_mean[sup] + config.safety_sd * catalog.supplier_lead_sd[sup]
        pack = catalog.product_pack[prod]
        self.reorder_point = np.ceil(daily * (cover + 1.0)).astype(np.int64)
        self.order_up_to = self.reorder_point + np.maximum(
            np.ceil(daily * config.review_days), pack).astype(np.int64)
        # Stores start mid-cycle: some shelves are already low, so stock-outs (and lost
        # sales) can happen before the first deliveries arrive, as in a real chain.
        self.stock = rng.integers(self.reorder_point // 2, self.order_up_to + 1)
        self.shelf: ShelfLots | None = None
        if config.expiry:
            life = catalog.products["shelf_life_days"].to_numpy()[prod]
            perishable = np.flatnonzero(life <= PERISHABLE_MAX_DAYS)
            self.shelf = ShelfLots(perishable, life[perishable], PERISHABLE_MAX_DAYS + 1)
            self.shelf.fill(0, self.stock[perishable], np.random.default_rng([config.seed, 2]))
        self.on_order = np.zeros(catalog.n_pairs, dtype=np.int64)
        self.pending_deliveries: dict[tuple[int, int], list[dict[str, np.ndarray]]] = {}
        self.pending_returns: dict[tuple[int, int], list[dict[str, np.ndarray]]] = {}
        per_store_day = config.rate * 60.0 * float(np.mean(HOURLY.astype(bool).sum(axis=1)))
        self.stores_per_batch = max(1, int(config.batch_events // per_store_day))
        self.local_events = LocalEvents(catalog.seed, catalog.n_stores)
        loyal_day = (LOYAL_SHARE * self.tx_rate
                     * HOURLY[catalog.store_type].sum(axis=1))
        self.planted = Planted(catalog, seed=config.seed, start=config.start,
                               anomaly_rate=config.anomaly_rate, fade_rate=config.fade_rate,
                               shoppers=Shoppers(catalog, config.seed, loyal_day))
        self.fingerprint = run_hash(self.identity())

    def identity(self) -> dict[str, object]:
        """Everything that decides the events of a given date: the catalog, the seed and
        the options (the catalog's seed draws its weather and local events, its country
        names the holidays). Not ``days``: a run's first days are the same however long it goes on,
        and so are their event ids. ``batch_events`` counts through the store groups it
        makes (each group draws from its own random stream)."""
        c, cfg = self.catalog, self.config
        return {
            "model": MODEL_VERSION,
            "catalog": {"seed": int(c.seed), "stores": c.n_stores, "products": c.n_products,
                        "country": c.country},
            "seed": int(cfg.seed), "rate": float(cfg.rate), "start": cfg.start.isoformat(),
            "store_groups": self.store_groups(),
            "promo_share": float(cfg.promo_share), "review_days": int(cfg.review_days),
            "safety_sd": float(cfg.safety_sd), "anomaly_rate": float(cfg.anomaly_rate),
            "fade_rate": float(cfg.fade_rate),
            **({"expiry": True} if cfg.expiry else {}),
            **({"order_policy": policy_name(self.order_policy)} if self.order_policy else {}),
        }

    def _expected_daily_units(self) -> np.ndarray:
        """Mean units sold per pair per ordinary day, used to size stock and reorder points."""
        c = self.catalog
        tx_day = self.tx_rate * HOURLY[c.store_type].sum(axis=1)
        lines_day = tx_day * BASKET_LINES[c.store_type]
        w = c.popularity[c.pair_product]
        store_w = np.add.reduceat(w, c.store_pair_start[:-1])
        share = w / store_w[c.pair_store]
        return lines_day[c.pair_store] * share * MEAN_QTY[c.product_category[c.pair_product]]

    def store_groups(self) -> list[tuple[int, int]]:
        n, k = self.catalog.n_stores, self.stores_per_batch
        return [(s, min(s + k, n)) for s in range(0, n, k)]

    def days(self) -> Iterator[tuple[int, date]]:
        for d in range(self.config.days):
            yield d, self.config.start + timedelta(days=d)

    def run(self) -> Iterator[EventBatch]:
        """Every batch of the configured days, in day order, then store-group order."""
        for d, day in self.days():
            yield from self.run_day(d, day)

    def run_day(self, d: int, day: date) -> Iterator[EventBatch]:
        c = self.catalog
        plan = week_plan(self.config.seed, day, c.n_products, self.config.promo_share)
        changes = self.prices.advance(plan, day, d == 0)
        # Store traffic: the calendar's day times the store's local events; the weather
        # moves the category mix (and the baskets with it) per region.
        day_mult = calendar.day_multiplier(day, c.country) * self.local_events.traffic_lift(day)
        factors = weather.demand_factors(c.seed, day)
        for s0, s1 in self.store_groups():
            self.planted.draw(d, (s0, s1), self.stock)
            ctx = DayContext(
                run=self.fingerprint, day_index=d, day=day, stores=(s0, s1), price_changes=changes,
                day_mult=day_mult[s0:s1], weather=factors,
                rng=np.random.default_rng([self.config.seed, d, 3, s0]),
            )
            yield simulate_day(self, ctx)

    def schedule(self, book: dict, group: tuple[int, int],
                 rows: dict[str, np.ndarray]) -> None:
        """Queue rows (deliveries or returns) for a future day, split by arrival day."""
        due = rows.pop("due_day")
        for target in np.unique(due):
            mask = due == target
            book.setdefault((int(target), group[0]), []).append({k: v[mask] for k, v in rows.items()})

    @staticmethod
    def take_due(book: dict, day_index: int, group: tuple[int, int]) -> dict[str, np.ndarray] | None:
        parts = book.pop((day_index, group[0]), None)
        if not parts:
            return None
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def expected_demand(self) -> pa.Table:
        """The mean demand (sold + lost units) each pair's draw had on each day simulated so
        far: ``date``, ``store_id``, ``product_id``, ``expected_demand`` (units). The error no
        forecast can beat; the platform never reads it (docs/simulator.md).

        Raises:
            ValueError: the simulator was made without ``record_expected=True``.
        """
        if self.expected is None:
            raise ValueError("expected demand is recorded only by Simulator(..., "
                             "record_expected=True)")
        c = self.catalog
        pair = np.concatenate([np.arange(p0, p0 + len(v)) for _, p0, v in self.expected]
                              or [np.zeros(0, np.int64)])
        return pa.table({
            "date": pa.array([d for d, _, v in self.expected for _ in range(len(v))],
                             pa.date32()),
            "store_id": c.stores["store_id"].take(pa.array(c.pair_store[pair])),
            "product_id": c.products["product_id"].take(pa.array(c.pair_product[pair])),
            "expected_demand": pa.array(np.concatenate([v for *_, v in self.expected]
                                                       or [np.zeros(0)]), pa.float64()),
        })

    def ground_truth(self) -> dict[str, int]:
        """Current stock by ``store_id|product_id`` (what the stream must reproduce)."""
        c = self.catalog
        stores = c.stores["store_id"].to_numpy(zero_copy_only=False)
        prods = c.products["product_id"].to_numpy(zero_copy_only=False)
        return {f"{stores[s]}|{prods[p]}": int(q)
                for s, p, q in zip(c.pair_store, c.pair_product, self.stock)}
