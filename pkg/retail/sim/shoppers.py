"""Structure in the baskets: product affinities, loyal customers, their segments and habits.

Affinities (docs/simulator.md, "Baskets"): about 8 % of the products anchor a group, either a
complement pair (the anchor and one product of a complementary category: pasta and sauce,
chips and soft drinks) or a small family of three (two more from the anchor's own or a
complementary category). Whenever a basket line picks a group member, each other member the
store stocks joins the basket with the group's attach probability (0.25 .. 0.5), once per
line, as a line of its own.

Loyal customers (55 % of transactions carry a loyalty number) belong to one home store,
where they shop about twice a week: the store's pool holds 3.5 x its loyal transactions of an
ordinary day. Each has one of five segments, which weighs the categories, and eight
favourite products drawn from the home store's assortment by popularity x the segment's
weights. A loyal basket line is a favourite with probability 0.6, kept with probability
min(1, pull / 2), where pull is the product's planted multiplier (drops, spikes, fades) times
the weather's factor for its category: on an ordinary day 0.3 of loyal lines are favourites,
and they follow the weather and the planted events up to twice that rate. A line whose
favourite is not kept stays an ordinary pick.

Favourites are a pure function of (seed, customer, slot): nothing per customer is stored.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from retail.sim.demand import LOYAL_SHARE, MEAN_QTY, Baskets
from retail.sim.profiles import CATEGORIES

ANCHOR_SHARE = 0.08
FAMILY_SHARE = 0.3  # of the groups; the rest are pairs
FAVOURITES = 8
FAVOURITE_SHARE = 0.6  # of a loyal customer's lines, before the hold (below)
# A favourite is kept with probability min(1, demand pull / FAVOURITE_HEADROOM): on an
# ordinary day half of them, so a day that doubles the product's pull doubles them too.
FAVOURITE_HEADROOM = 2.0
VISITS_PER_DAY = 2 / 7
SEGMENTS = ("family", "fresh_and_healthy", "party", "convenience", "home_and_leisure")
_NAMES = [c.name for c in CATEGORIES]
# Category -> categories whose products complement it.
COMPLEMENTS = {
    "Produce": ("Meat & Seafood", "Dairy"), "Dairy": ("Bakery", "Produce"),
    "Bakery": ("Dairy", "Beverages"), "Meat & Seafood": ("Produce", "Beverages"),
    "Beverages": ("Snacks",), "Snacks": ("Beverages",), "Frozen": ("Beverages", "Snacks"),
    "Household": ("Household", "Personal Care"), "Personal Care": ("Household",),
    "Electronics": ("Electronics",), "Toys": ("Electronics", "Snacks"), "Garden": ("Household",),
}
# Segment -> category weight (1 unless named).
_PREFS = {
    "family": {"Dairy": 2.0, "Snacks": 1.8, "Toys": 2.5, "Household": 1.5},
    "fresh_and_healthy": {"Produce": 3.0, "Meat & Seafood": 2.0, "Snacks": 0.3, "Frozen": 0.5},
    "party": {"Beverages": 3.0, "Snacks": 3.0, "Frozen": 1.5, "Produce": 0.5},
    "convenience": {"Frozen": 2.5, "Bakery": 2.0, "Beverages": 1.5, "Produce": 0.4},
    "home_and_leisure": {"Garden": 4.0, "Household": 2.0, "Electronics": 2.5,
                         "Personal Care": 1.5},
}
SEGMENT_WEIGHTS = np.array([[_PREFS[s].get(n, 1.0) for n in _NAMES] for s in SEGMENTS])
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _uniform(*keys: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) per element, a pure function of the integer keys (splitmix64)."""
    with np.errstate(over="ignore"):
        z = np.zeros(np.broadcast(*keys).shape, np.uint64)
        for k in keys:
            z = (z ^ np.asarray(k).astype(np.uint64)) * _MIX
            z ^= z >> np.uint64(31)
            z *= np.uint64(0xBF58476D1CE4E5B9)
            z ^= z >> np.uint64(29)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class Shoppers:
    """The chain's affinity groups and loyal customers (fixed by the catalog and the seed)."""

    def __init__(self, catalog, seed: int, loyal_tx_per_day: np.ndarray) -> None:
        self.catalog, self.seed = catalog, seed
        self.pool = np.clip(np.round(loyal_tx_per_day / VISITS_PER_DAY), 30, 99_999).astype(
            np.int64)
        self._groups(np.random.default_rng([catalog.seed, seed, 13]))
        c = catalog
        self.pair_key = c.pair_store.astype(np.int64) * c.n_products + c.pair_product
        # cumulative favourite weights per (store, segment), each store's segment in [k, k+1)
        w = c.popularity[c.pair_product][None, :] * SEGMENT_WEIGHTS[:, c.product_category[
            c.pair_product]]
        self.fav_weight = w  # (segments, pairs)
        starts = c.store_pair_start
        seg_tot = np.add.reduceat(w, starts[:-1], axis=1)  # (segments, stores)
        owner = c.pair_store
        cum = np.cumsum(w, axis=1)
        lo = np.concatenate([np.zeros((len(SEGMENTS), 1)), cum], axis=1)[:, starts[:-1]]
        self.fav_cum = (cum - lo[:, owner]) / seg_tot[:, owner] + owner[None, :]
        # share of the store's favourite draws each pair gets, segments mixed evenly
        self.fav_share = (w / seg_tot[:, owner]).mean(axis=0)

    def _groups(self, rng: np.random.Generator) -> None:
        c = self.catalog
        n = c.n_products
        by_cat = {k: np.flatnonzero(c.product_category == k) for k in range(len(CATEGORIES))}
        anchors = np.flatnonzero(rng.random(n) < ANCHOR_SHARE)
        used = np.zeros(n, bool)
        members: list[list[int]] = []
        for a in anchors:
            if used[a]:
                continue
            size = 3 if rng.random() < FAMILY_SHARE else 2
            pool = np.concatenate([by_cat[_NAMES.index(name)]
                                   for name in COMPLEMENTS[_NAMES[c.product_category[a]]]])
            pool = pool[~used[pool] & (pool != a)]
            if len(pool) < size - 1:
                continue
            # popular partners are likelier, as with real complements
            w = c.popularity[pool] / c.popularity[pool].sum()
            group = [int(a), *rng.choice(pool, size=size - 1, replace=False, p=w).tolist()]
            used[group] = True
            members.append(group)
        self.group_members = members
        self.group_attach = rng.uniform(0.25, 0.5, size=len(members))
        self.product_group = np.full(n, -1, np.int64)
        self.product_slot = np.zeros(n, np.int64)  # the product's place in its group
        self.group_table = np.full((len(members), 3), -1, np.int64)
        self.group_size = np.array([len(m) for m in members], np.int64)
        for g, group in enumerate(members):
            self.product_group[group] = g
            self.product_slot[group] = np.arange(len(group))
            self.group_table[g, :len(group)] = group

    # --- the day's baskets ------------------------------------------------------------------
    def customers_for(self, rng: np.random.Generator, tx_store: np.ndarray,
                      loyal: np.ndarray) -> np.ndarray:
        """Loyalty numbers for the transactions (-1: anonymous): store s's customers are
        ``(s + 1) * 100000 + k`` for k in 1 .. its pool (``C`` and nine digits)."""
        k = 1 + (rng.random(len(tx_store)) * self.pool[tx_store]).astype(np.int64)
        return np.where(loyal, (tx_store + 1) * 100_000 + k, -1)

    def segment_of(self, customer: np.ndarray) -> np.ndarray:
        return (_uniform(np.full(len(customer), self.seed), customer, 1) * len(SEGMENTS)).astype(
            np.int64)

    def favourite_pair(self, customer: np.ndarray, store: np.ndarray,
                       slot: np.ndarray) -> np.ndarray:
        """The global pair of each customer's favourite ``slot`` at ``store``."""
        seg = self.segment_of(customer)
        u = _uniform(np.full(len(customer), self.seed), customer, slot + 2) + store
        c = self.catalog
        out = np.empty(len(customer), np.int64)
        for s in range(len(SEGMENTS)):
            sel = seg == s
            out[sel] = np.searchsorted(self.fav_cum[s], u[sel], side="right")
        lo, hi = c.store_pair_start[store], c.store_pair_start[store + 1] - 1
        return np.clip(out, lo, hi)

    def attachments(self, rng: np.random.Generator, line_pair: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The lines the affinities add: (index of the triggering line, the added pair)."""
        c = self.catalog
        product = c.pair_product[line_pair]
        group = self.product_group[product]
        src, pairs = [], []
        for offset in (1, 2):  # the other members of a pair or family, in group order
            has = np.flatnonzero(group >= 0)
            g = group[has]
            size = self.group_size[g]
            ok = offset < size
            has, g, size = has[ok], g[ok], size[ok]
            other = self.group_table[g, (self.product_slot[product[has]] + offset) % size]
            take = rng.random(len(has)) < self.group_attach[g]
            has, other = has[take], other[take]
            key = c.pair_store[line_pair[has]].astype(np.int64) * c.n_products + other
            at = np.clip(np.searchsorted(self.pair_key, key), 0, len(self.pair_key) - 1)
            stocked = self.pair_key[at] == key
            src.append(has[stocked])
            pairs.append(at[stocked])
        return np.concatenate(src), np.concatenate(pairs).astype(np.int64)

    def shape(self, b: Baskets, rng: np.random.Generator, hold: np.ndarray,
              p0: int) -> Baskets:
        """The day's drawn baskets with loyalty numbers, favourites and affinities.

        ``hold``: per pair from ``p0``, the share of its usual demand it keeps today (planted
        drops and fades, at most 1): a favourite that is held back stays an ordinary pick.
        """
        c = self.catalog
        customer = self.customers_for(rng, b.tx_store, b.tx_customer >= 0)
        line_customer = customer[b.line_tx]
        loyal_line = np.flatnonzero(line_customer > 0)
        fav = loyal_line[rng.random(len(loyal_line)) < FAVOURITE_SHARE]
        pick = self.favourite_pair(line_customer[fav], b.tx_store[b.line_tx[fav]],
                                   rng.integers(0, FAVOURITES, len(fav)))
        keep = rng.random(len(fav)) < hold[pick - p0]
        fav, pick = fav[keep], pick[keep]
        line_pair, qty = b.line_pair.copy(), b.line_qty.copy()
        line_pair[fav] = pick
        qty[fav] = 1 + rng.poisson(MEAN_QTY[c.product_category[c.pair_product[pick]]] - 1.0)
        src, added = self.attachments(rng, line_pair)
        added_qty = 1 + rng.poisson(MEAN_QTY[c.product_category[c.pair_product[added]]] - 1.0)
        # the added lines follow their transaction's lines, in the triggering lines' order
        line_tx = np.concatenate([b.line_tx, b.line_tx[src]])
        order = np.argsort(line_tx, kind="stable")
        line_tx = line_tx[order]
        first = np.searchsorted(line_tx, line_tx, side="left")
        return Baskets(
            tx_store=b.tx_store, tx_seq=b.tx_seq, tx_time=b.tx_time, tx_payment=b.tx_payment,
            tx_customer=customer, line_tx=line_tx,
            line_number=np.arange(len(line_tx)) - first + 1,
            line_pair=np.concatenate([line_pair, added])[order],
            line_qty=np.concatenate([qty, added_qty])[order])

    def expected_lines(self, lines: np.ndarray, share: np.ndarray, hold: np.ndarray,
                       p0: int, stores: np.ndarray) -> np.ndarray:
        """Expected lines per pair of ``[p0, p0 + len(share))``, as :meth:`shape` draws them:
        ``lines`` the stores' expected drawn lines, ``share`` each pair's share of its store's
        ordinary picks, ``hold`` as in :meth:`shape`."""
        c = self.catalog
        p1 = p0 + len(share)
        owner = c.pair_store[p0:p1] - stores[0]
        fav = LOYAL_SHARE * FAVOURITE_SHARE * self.fav_share[p0:p1] * hold
        regular = 1.0 - np.bincount(owner, weights=fav, minlength=len(stores))
        picked = lines[owner] * (regular[owner] * share + fav)
        out = picked.copy()
        product = c.pair_product[p0:p1]
        group = self.product_group[product]
        for offset in (1, 2):
            has = np.flatnonzero(group >= 0)
            g, size = group[has], self.group_size[group[has]]
            ok = offset < size
            has, g, size = has[ok], g[ok], size[ok]
            other = self.group_table[g, (self.product_slot[product[has]] + offset) % size]
            key = c.pair_store[has + p0].astype(np.int64) * c.n_products + other
            at = np.clip(np.searchsorted(self.pair_key, key), 0, len(self.pair_key) - 1)
            stocked = self.pair_key[at] == key
            np.add.at(out, at[stocked] - p0, picked[has[stocked]] * self.group_attach[g[stocked]])
        return out

    # --- the labels -------------------------------------------------------------------------
    def affinities(self) -> pa.Table:
        """Every planted group, both directions: ``group_id``, ``kind``, ``product_id``,
        ``other_product_id``, ``attach_probability``."""
        rows = [(g, "family" if len(m) == 3 else "pair", a, b, float(self.group_attach[g]))
                for g, m in enumerate(self.group_members) for a in m for b in m if a != b]
        ids = self.catalog.products["product_id"]
        g, kind, a, b, p = zip(*rows) if rows else ((),) * 5
        return pa.table({
            "group_id": pa.array(g, pa.int64()), "kind": pa.array(kind, pa.string()),
            "product_id": ids.take(pa.array(a, pa.int64())),
            "other_product_id": ids.take(pa.array(b, pa.int64())),
            "attach_probability": pa.array(p, pa.float64()),
        })

    def customers(self) -> pa.Table:
        """Every loyal customer: ``customer_id``, ``home_store_id``, ``segment``."""
        store = np.repeat(np.arange(len(self.pool)), self.pool)
        k = np.arange(len(store)) - np.repeat(np.cumsum(self.pool) - self.pool, self.pool) + 1
        number = (store + 1) * 100_000 + k
        return pa.table({
            "customer_id": pa.array([f"C{n:09d}" for n in number], pa.string()),
            "home_store_id": self.catalog.stores["store_id"].take(pa.array(store, pa.int64())),
            "segment": pa.array([SEGMENTS[s] for s in self.segment_of(number)], pa.string()),
        })
