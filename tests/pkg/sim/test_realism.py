"""The realism targets of docs/simulator.md, measured on simulated runs.

Supplier lead times against the catalog, the revenue concentration of a 500-SKU chain and
the spread of store-SKU sales rates against the M5 (Walmart) data. Bounds are statistical
(a few standard errors) or the documented targets; small chains at low rates keep each
run to a second or two.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from statistics import NormalDist

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.sim import SimConfig, Simulator, generate_catalog

MS_PER_DAY = 86_400_000
START = date(2026, 3, 2)


@cache
def run(stores: int, products: int, seed: int, rate: float, days: int
        ) -> tuple[Simulator, dict[str, pa.Table]]:
    sim = Simulator(generate_catalog(stores, products, seed),
                    SimConfig(seed=seed, rate=rate, start=START, days=days))
    parts: dict[str, list[pa.Table]] = {}
    for batch in sim.run():
        for k, t in batch.tables.items():
            parts.setdefault(k, []).append(t)
    return sim, {k: pa.concat_tables(ts) for k, ts in parts.items()}


def index(col: pa.ChunkedArray) -> np.ndarray:
    """S00001 / P000001 / V0001 -> 0."""
    return pc.cast(pc.utf8_slice_codeunits(col, 1), pa.int64()).to_numpy() - 1


def ms(col: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(col, pa.int64()).to_numpy()


# --- supplier lead times ---------------------------------------------------------------
@pytest.fixture(scope="module")
def deliveries():
    """Five weeks of a 20-store, 500-SKU chain (12 suppliers): per delivered shipment its
    supplier and actual lead time (days), keeping only orders placed at least the
    supplier's mean + 5 sd before the run ended, so late arrivals are not cut off."""
    days = 35
    sim, tables = run(20, 500, 42, 2.0, days)
    ship = tables["supplier_shipment"]
    d = ship.filter(pc.equal(ship["status"], "delivered"))
    c = sim.catalog
    sup = index(d["supplier_id"])
    end_ms = ((START - date(1970, 1, 1)).days + days - 1) * MS_PER_DAY  # the last day, UTC
    horizon = (c.supplier_lead_mean[sup] + 5 * c.supplier_lead_sd[sup]) * MS_PER_DAY
    whole = ms(d["ordered_at"]) + horizon <= end_ms
    lead = (ms(d["event_time"]) - ms(d["ordered_at"])) / MS_PER_DAY
    promised = (ms(d["expected_arrival"]) - ms(d["ordered_at"])) / MS_PER_DAY
    return c, sup[whole], lead[whole], promised[whole]


def suppliers_with_enough_deliveries(catalog, sup) -> list[int]:
    """Suppliers with enough deliveries for tight statistical bounds."""
    counts = np.bincount(sup, minlength=catalog.suppliers.num_rows)
    tested = [int(k) for k in np.flatnonzero(counts >= 200)]
    assert len(tested) >= 8, f"only {len(tested)} suppliers with 200 deliveries: {counts}"
    return tested


def test_each_suppliers_lead_times_have_the_catalogs_mean_and_spread(deliveries):
    catalog, sup, lead, _ = deliveries
    for k in suppliers_with_enough_deliveries(catalog, sup):
        mine = lead[sup == k]
        n, mean, sd = len(mine), catalog.supplier_lead_mean[k], catalog.supplier_lead_sd[k]
        # 4 standard errors: of the mean, and of a sample sd (lognormal, cv <= 0.4)
        assert abs(mine.mean() - mean) <= 4 * sd / np.sqrt(n), (k, n, mine.mean(), mean)
        assert abs(mine.std(ddof=1) / sd - 1) <= 4.5 / np.sqrt(n), (k, n, mine.std(ddof=1), sd)
        assert mine.min() > 0


def test_the_promise_is_the_quoted_mean_so_the_late_share_is_what_the_spread_implies(
        deliveries):
    catalog, sup, lead, promised = deliveries
    assert np.allclose(promised, catalog.supplier_lead_mean[sup], atol=1e-6)
    for k in suppliers_with_enough_deliveries(catalog, sup):
        mine = lead[sup == k]
        cv = catalog.supplier_lead_sd[k] / catalog.supplier_lead_mean[k]
        # lognormal: P(lead > its mean) = 1 - Phi(sigma / 2), sigma^2 = ln(1 + cv^2)
        p = 1 - NormalDist().cdf(np.sqrt(np.log1p(cv**2)) / 2)
        late = np.mean(mine > catalog.supplier_lead_mean[k])
        assert abs(late - p) <= 4 * np.sqrt(p * (1 - p) / len(mine)), (k, late, p)
        assert 0.40 < p < 0.48


# --- popularity ------------------------------------------------------------------------
@pytest.mark.parametrize("stores", [20, 5])  # the default chain size and the demo's
def test_revenue_is_concentrated_like_a_retailers_without_one_dominant_sku(stores):
    _, tables = run(stores, 500, 42, 8.0, 7)
    sales = tables["sales_transaction"]
    sign = np.where(pc.equal(sales["transaction_type"], "return").to_numpy(
        zero_copy_only=False), -1.0, 1.0)
    revenue = np.bincount(index(sales["product_id"]), weights=sales["line_total"].to_numpy()
                          * sign, minlength=500)
    ranked = np.sort(revenue)[::-1] / revenue.sum()
    assert ranked[0] <= 0.06, f"top SKU makes {ranked[0]:.1%} of revenue"
    assert 0.55 <= ranked[:100].sum() <= 0.80, f"top 20 % make {ranked[:100].sum():.1%}"
    assert ranked[0] > 3 * ranked[99]  # a curve, not a flat assortment


def test_store_sku_sales_rates_spread_like_the_m5_data():
    """M5 guide: 12.3 % of item-store series sell under 1 unit a week, 40.5 % under 3. The
    ratio of those quantiles (3) does not depend on the chain's volume, so it is compared
    on any run with enough sales for the slow pairs to be measured."""
    sim, tables = run(20, 500, 42, 8.0, 7)
    c = sim.catalog
    sales = tables["sales_transaction"]
    sales = sales.filter(pc.equal(sales["transaction_type"], "sale"))
    pair = np.searchsorted(c.pair_store.astype(np.int64) * c.n_products + c.pair_product,
                           index(sales["store_id"]) * c.n_products + index(sales["product_id"]))
    units = np.bincount(pair, weights=sales["quantity"].to_numpy(), minlength=c.n_pairs)
    q12, q40 = np.percentile(units, [12.3, 40.5])
    assert q12 >= 10, "too few sales to measure the slow pairs"
    assert 2.3 <= q40 / q12 <= 4.0, (q12, q40)
