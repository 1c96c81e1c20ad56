"""The chain's master data: stores, products, suppliers and which store stocks what.

Tables (``stores``, ``products``, ``suppliers``) hold what a retailer's master data holds;
the numpy arrays beside them hold the simulator's hidden parameters (popularity, traffic).
Everything is drawn from one seed, so the same seed gives the same chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pyarrow as pa
from faker import Faker

from retail.sim.calendar import check_country
from retail.sim.ids import compose_ids
from retail.sim.profiles import CATEGORIES, REGIONS, STORE_TYPES

# Log-scale spread of SKU popularity within a category: with the category weights and the
# price tiers, store-SKU sales rates spread like the M5 (Walmart) data's; docs/simulator.md.
POPULARITY_SIGMA = 0.9
_ADJECTIVES = ("Classic", "Organic", "Premium", "Fresh", "Family", "Lite", "Original", "Select",
               "Everyday", "Deluxe", "Natural", "Golden")


@dataclass(frozen=True)
class Catalog:
    seed: int  # what generate_catalog drew it from (part of the simulator's run fingerprint)
    country: str  # the chain's country: its public holidays (holidays package, ISO 3166-1)
    stores: pa.Table
    products: pa.Table
    suppliers: pa.Table
    # hidden store parameters, one per store
    store_type: np.ndarray  # index into STORE_TYPES
    store_offset: np.ndarray  # UTC offset, hours
    store_region: np.ndarray  # index into REGIONS (the store's weather)
    store_traffic: np.ndarray  # relative transactions per open hour
    # hidden product parameters, one per product
    product_category: np.ndarray  # index into CATEGORIES
    product_price: np.ndarray  # regular price at the start
    product_cost: np.ndarray
    product_supplier: np.ndarray  # index into suppliers
    product_pack: np.ndarray
    popularity: np.ndarray  # long-tail weight
    supplier_lead_mean: np.ndarray  # days
    supplier_lead_sd: np.ndarray
    # assortment: (store, product) pairs sorted by store, then product
    pair_store: np.ndarray
    pair_product: np.ndarray
    store_pair_start: np.ndarray  # pairs of store s are [start[s], start[s + 1])

    @property
    def n_stores(self) -> int:
        return len(self.store_type)

    @property
    def n_products(self) -> int:
        return len(self.product_category)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_store)


def _popularity(rank: np.ndarray, relative_price: np.ndarray) -> np.ndarray:
    """Lognormal demand weights: SKU ``rank`` (0 = best) gets the normal quantile of its
    rank scaled by POPULARITY_SIGMA, so the curve's shape is the same for every seed (no
    lucky draw makes one SKU a fifth of the chain). Dearer SKUs of a category sell
    proportionally fewer units (``relative_price`` = price / category median), so a SKU's
    revenue weight does not depend on its price tier."""
    n = len(rank)
    normal = NormalDist()
    z = np.array([normal.inv_cdf(1.0 - (r + 0.5) / n) for r in rank])
    return np.exp(POPULARITY_SIGMA * z) / relative_price


def generate_catalog(stores: int, products: int, seed: int, country: str = "US") -> Catalog:
    """Draw a chain of ``stores`` stores selling from ``products`` SKUs.

    ``country`` (an ISO 3166-1 code the ``holidays`` package knows) picks the chain's public
    holidays; the stores keep the simulator's US regions, time zones and climates.
    """
    if stores < 1 or products < 10:
        raise ValueError("a catalog needs at least 1 store and 10 products")
    check_country(country)
    rng = np.random.default_rng([seed, 0xCA7A])
    fake = Faker("en_US")
    fake.seed_instance(seed)

    # --- stores
    stype = rng.choice(len(STORE_TYPES), size=stores, p=[t.share for t in STORE_TYPES])
    region = rng.integers(0, len(REGIONS), size=stores)
    sqft = np.array([rng.integers(*STORE_TYPES[t].sqft) for t in stype], dtype=np.int64)
    size_factor = sqft / np.array([np.mean(STORE_TYPES[t].sqft) for t in stype])
    traffic = np.array([STORE_TYPES[t].traffic for t in stype]) * size_factor ** 0.5
    traffic *= rng.lognormal(0.0, 0.25, size=stores)  # some stores are simply busier
    cities = [fake.city() for _ in range(stores)]
    store_ids = compose_ids("S", [(np.arange(1, stores + 1), 5)], sep="")
    store_tbl = pa.table({
        "store_id": store_ids,
        "name": [f"{c} {STORE_TYPES[t].name.title()} #{i + 1}" for i, (c, t) in
                 enumerate(zip(cities, stype))],
        "city": cities,
        "state": [REGIONS[r].states[rng.integers(len(REGIONS[r].states))] for r in region],
        "region": [REGIONS[r].name for r in region],
        "country": [country] * stores,
        "timezone": [REGIONS[r].timezone for r in region],
        "store_type": [STORE_TYPES[t].name for t in stype],
        "square_footage": sqft,
        "opens_at": [f"{STORE_TYPES[t].opens:02d}:00" for t in stype],
        "closes_at": [f"{STORE_TYPES[t].closes % 24:02d}:00" for t in stype],
    })

    # --- suppliers: roughly one per 100 SKUs, each serving one category
    n_sup = max(len(CATEGORIES), products // 100)
    sup_cat = np.arange(n_sup) % len(CATEGORIES)
    lead_lo, lead_hi = np.array([CATEGORIES[c].lead_days for c in sup_cat]).T
    lead_mean = np.round(rng.uniform(lead_lo, lead_hi), 1)
    lead_sd = np.round(lead_mean * rng.uniform(0.15, 0.4, size=n_sup), 2)
    sup_tbl = pa.table({
        "supplier_id": compose_ids("V", [(np.arange(1, n_sup + 1), 4)], sep=""),
        "name": [fake.company() for _ in range(n_sup)],
        "category": [CATEGORIES[c].name for c in sup_cat],
        "lead_time_mean_days": lead_mean,
        "lead_time_sd_days": lead_sd,
    })

    # --- products
    weights = np.array([c.weight for c in CATEGORIES])
    cat = rng.choice(len(CATEGORIES), size=products, p=weights / weights.sum())
    median = np.array([CATEGORIES[c].median_price for c in cat])
    # Shelf prices end in 9 cents, like real price tags.
    price = np.round(np.maximum(np.round(median * rng.lognormal(0.0, 0.45, products), 1), 0.3)
                     - 0.01, 2)
    margin = np.array([CATEGORIES[c].margin for c in cat]) * rng.uniform(0.7, 1.3, size=products)
    cost = np.round(price * (1.0 - margin.clip(0.05, 0.8)), 2)
    sup_by_cat = [np.flatnonzero(sup_cat == c) for c in range(len(CATEGORIES))]
    supplier = np.array([rng.choice(sup_by_cat[c]) for c in cat])
    pack = np.array([rng.choice(CATEGORIES[c].pack_sizes) for c in cat])
    brands = [fake.last_name() for _ in range(max(20, products // 40))]
    sub = [CATEGORIES[c].sub_categories[rng.integers(len(CATEGORIES[c].sub_categories))]
           for c in cat]
    brand = [brands[i] for i in rng.integers(0, len(brands), size=products)]
    adj = [_ADJECTIVES[i] for i in rng.integers(0, len(_ADJECTIVES), size=products)]
    popularity = _popularity(rng.permutation(products), price / median) \
        * np.array([CATEGORIES[c].weight for c in cat])
    prod_tbl = pa.table({
        "product_id": compose_ids("P", [(np.arange(1, products + 1), 6)], sep=""),
        "sku": compose_ids("SKU", [(np.arange(1, products + 1), 6)], sep="-"),
        "name": [f"{b} {a} {s}" for b, a, s in zip(brand, adj, sub)],
        "category": [CATEGORIES[c].name for c in cat],
        "sub_category": sub,
        "brand": brand,
        "supplier_id": sup_tbl["supplier_id"].take(pa.array(supplier)),
        "unit_cost": cost,
        "price": price,
        "shelf_life_days": [CATEGORIES[c].shelf_life_days for c in cat],
        "pack_size": pack,
    })

    # --- assortment: each store stocks a subset, popular SKUs more likely (Gumbel top-k)
    log_w = np.log(popularity) * 0.5
    pair_store, pair_product = [], []
    for s in range(stores):
        k = max(5, int(round(products * STORE_TYPES[stype[s]].assortment)))
        keys = log_w + rng.gumbel(size=products)
        chosen = np.sort(np.argpartition(-keys, k - 1)[:k]) if k < products else np.arange(products)
        pair_store.append(np.full(len(chosen), s, dtype=np.int32))
        pair_product.append(chosen.astype(np.int32))
    ps = np.concatenate(pair_store)
    start = np.searchsorted(ps, np.arange(stores + 1)).astype(np.int64)

    return Catalog(
        seed=seed, country=country, stores=store_tbl, products=prod_tbl, suppliers=sup_tbl,
        store_type=stype, store_offset=np.array([REGIONS[r].utc_offset for r in region]),
        store_region=region,
        store_traffic=traffic, product_category=cat, product_price=price, product_cost=cost,
        product_supplier=supplier, product_pack=pack, popularity=popularity,
        supplier_lead_mean=lead_mean, supplier_lead_sd=lead_sd,
        pair_store=ps, pair_product=np.concatenate(pair_product), store_pair_start=start,
    )
