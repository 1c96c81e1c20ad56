"""The chain's master data: sizes, id formats, assortments and prices."""

from __future__ import annotations

import time

import numpy as np
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.sim import generate_catalog
from retail.sim.profiles import CATEGORIES, REGIONS, STORE_TYPES


@pytest.fixture(scope="module")
def chain():
    return generate_catalog(200, 1000, 11)


def all_match(col, pattern: str) -> bool:
    return bool(pc.all(pc.match_substring_regex(col, pattern)).as_py())


def stocked_per_store(catalog) -> np.ndarray:
    return np.diff(catalog.store_pair_start)


@settings(max_examples=25, deadline=None)
@given(stores=st.integers(1, 40), products=st.integers(10, 400), seed=st.integers(0, 2**31 - 1))
def test_the_catalog_has_the_sizes_asked_for(stores, products, seed):
    c = generate_catalog(stores, products, seed)
    assert c.stores.num_rows == c.n_stores == stores
    assert c.products.num_rows == c.n_products == products
    assert c.suppliers.num_rows == max(len(CATEGORIES), products // 100)
    for name in ("store_type", "store_offset", "store_traffic"):
        assert len(getattr(c, name)) == stores, name
    for name in ("product_category", "product_price", "product_cost", "product_supplier",
                 "product_pack", "popularity"):
        assert len(getattr(c, name)) == products, name
    assert len(c.supplier_lead_mean) == len(c.supplier_lead_sd) == c.suppliers.num_rows
    assert len(c.pair_store) == len(c.pair_product) == c.n_pairs
    assert len(c.store_pair_start) == stores + 1
    assert c.store_pair_start[0] == 0 and c.store_pair_start[-1] == c.n_pairs


@settings(max_examples=25, deadline=None)
@given(stores=st.integers(1, 40), products=st.integers(10, 400), seed=st.integers(0, 2**31 - 1))
def test_every_store_stocks_a_non_empty_subset_of_the_catalog(stores, products, seed):
    c = generate_catalog(stores, products, seed)
    counts = stocked_per_store(c)
    assert (counts >= 1).all() and (counts <= products).all()
    # pairs are sorted by store, then product, with no product twice in one store
    assert (np.diff(c.pair_store) >= 0).all()
    for s in range(stores):
        lo, hi = c.store_pair_start[s], c.store_pair_start[s + 1]
        assert (c.pair_store[lo:hi] == s).all()
        prods = c.pair_product[lo:hi]
        assert (np.diff(prods) > 0).all()
        assert prods.min() >= 0 and prods.max() < products
        # the share of the catalog the store's type stocks (at least 5 SKUs)
        share = STORE_TYPES[c.store_type[s]].assortment
        assert len(prods) == max(5, int(round(products * share)))


def test_ids_have_their_formats_and_are_numbered_from_one(chain):
    assert chain.stores["store_id"].to_pylist() == [f"S{i:05d}" for i in range(1, 201)]
    assert chain.products["product_id"].to_pylist() == [f"P{i:06d}" for i in range(1, 1001)]
    assert chain.products["sku"].to_pylist() == [f"SKU-{i:06d}" for i in range(1, 1001)]
    n_sup = chain.suppliers.num_rows
    assert chain.suppliers["supplier_id"].to_pylist() == [f"V{i:04d}" for i in range(1, n_sup + 1)]
    assert all_match(chain.stores["store_id"], r"^S\d{5}$")
    assert all_match(chain.products["product_id"], r"^P\d{6}$")
    assert all_match(chain.products["supplier_id"], r"^V\d{4}$")


def test_products_are_supplied_by_a_supplier_of_their_category(chain):
    sup_cat = dict(zip(chain.suppliers["supplier_id"].to_pylist(),
                       chain.suppliers["category"].to_pylist()))
    for sup, cat in zip(chain.products["supplier_id"].to_pylist(),
                        chain.products["category"].to_pylist()):
        assert sup_cat[sup] == cat
    names = [c.name for c in CATEGORIES]
    assert [names[i] for i in chain.product_category] == chain.products["category"].to_pylist()
    assert (chain.supplier_lead_mean > 0).all() and (chain.supplier_lead_sd > 0).all()


def test_larger_store_types_stock_more_skus_on_average(chain):
    counts = stocked_per_store(chain)
    by_type = {t.name: counts[chain.store_type == i] for i, t in enumerate(STORE_TYPES)}
    assert all(len(v) for v in by_type.values()), "200 stores include every type"
    means = [by_type[name].mean() for name in
             ("hypermarket", "supermarket", "neighborhood", "convenience")]
    assert means == sorted(means, reverse=True) and len(set(means)) == 4
    # square footage follows the type too
    sqft = chain.stores["square_footage"].to_numpy()
    for i, t in enumerate(STORE_TYPES):
        sel = sqft[chain.store_type == i]
        assert ((sel >= t.sqft[0]) & (sel < t.sqft[1])).all(), t.name


def test_popular_skus_are_stocked_by_more_stores(chain):
    stocked_by = np.bincount(chain.pair_product, minlength=chain.n_products)
    by_popularity = np.argsort(-chain.popularity)
    assert stocked_by[by_popularity[:100]].mean() > 1.5 * stocked_by[by_popularity[-100:]].mean()


def test_prices_exceed_costs_which_exceed_zero(chain):
    price = chain.products["price"].to_numpy()
    cost = chain.products["unit_cost"].to_numpy()
    assert (cost > 0).all()
    assert (price > cost).all()
    assert np.array_equal(price, chain.product_price)
    assert np.array_equal(cost, chain.product_cost)
    # shelf prices end in 9 cents
    assert (np.round(price * 100).astype(int) % 10 == 9).all()
    assert (chain.products["pack_size"].to_numpy() >= 1).all()
    assert (chain.popularity > 0).all() and (chain.store_traffic > 0).all()


def test_stores_carry_the_opening_hours_and_time_zone_of_their_type_and_region(chain):
    offsets = {r.timezone: r.utc_offset for r in REGIONS}
    rows = chain.stores.to_pylist()
    for row, stype, offset in zip(rows, chain.store_type, chain.store_offset):
        t = STORE_TYPES[stype]
        assert row["store_type"] == t.name
        assert row["opens_at"] == f"{t.opens:02d}:00"
        assert row["closes_at"] == f"{t.closes % 24:02d}:00"
        assert offsets[row["timezone"]] == offset
        assert row["country"] == "US"
        assert row["state"] in next(r.states for r in REGIONS if r.name == row["region"])


def test_the_same_seed_gives_the_same_chain_and_another_seed_another():
    a, b, other = (generate_catalog(30, 200, s) for s in (5, 5, 6))
    for name in ("stores", "products", "suppliers"):
        assert getattr(a, name).equals(getattr(b, name))
    assert np.array_equal(a.pair_product, b.pair_product)
    assert np.array_equal(a.popularity, b.popularity)
    assert not a.products.equals(other.products)
    assert not a.stores.equals(other.stores)


@pytest.mark.parametrize("stores,products", [(0, 100), (1, 9), (-1, 100)])
def test_a_catalog_too_small_to_simulate_is_rejected(stores, products):
    with pytest.raises(ValueError):
        generate_catalog(stores, products, 1)


def test_a_thousand_stores_and_fifty_thousand_skus_generate_in_seconds():
    t0 = time.perf_counter()
    c = generate_catalog(1000, 50_000, 1)
    elapsed = time.perf_counter() - t0
    assert c.n_stores == 1000 and c.n_products == 50_000
    counts = stocked_per_store(c)
    assert (counts >= 5).all() and (counts < 50_000).all()
    assert 1000 < c.n_pairs < 1000 * 50_000
    expected = sum(max(5, round(50_000 * STORE_TYPES[t].assortment)) for t in c.store_type)
    assert c.n_pairs == expected
    assert elapsed < 20, f"generate_catalog(1000, 50000) took {elapsed:.1f} s"
