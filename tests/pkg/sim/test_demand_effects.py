"""Demand effects a retail analyst would look for, visible in the simulated sales.

Deterministic seeds, no hypothesis: each test reads aggregates of a few runs shared by
module-scoped fixtures. Thresholds sit well inside the effect the model builds in (the
expected ratio is given next to each) so that noise and stock-outs cannot flip them,
while a missing effect (ratio about 1) fails them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.sim import Catalog, SimConfig, Simulator, generate_catalog
from retail.sim.profiles import CATEGORIES, STORE_TYPES

SEED = 1  # a chain with all four store types
STORES, PRODUCTS, RATE = 10, 300, 8.0
MS_PER_HOUR, MS_PER_DAY = 3_600_000, 86_400_000
EPOCH = date(1970, 1, 1)
CONVENIENCE = [t.name for t in STORE_TYPES].index("convenience")


@dataclass
class Sales:
    """Sold lines of one run as numpy columns (local time of the store)."""

    catalog: Catalog
    start: date
    days: int
    tables: dict[str, pa.Table]
    store: np.ndarray
    product: np.ndarray
    day: np.ndarray  # local day index from the start of the run
    hour: np.ndarray  # local hour
    qty: np.ndarray
    promoted: np.ndarray  # the line carries a promotion_id

    def units_per_day(self, mask=None) -> np.ndarray:
        sel = slice(None) if mask is None else mask
        return np.bincount(self.day[sel], weights=self.qty[sel], minlength=self.days)

    def day_of(self, d: date) -> int:
        return (d - self.start).days


def index_of(col: pa.ChunkedArray) -> np.ndarray:
    """S00001 -> 0, P000001 -> 0."""
    return pc.cast(pc.utf8_slice_codeunits(col, 1), pa.int64()).to_numpy() - 1


def simulate(start: date, days: int) -> Sales:
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=start, days=days))
    batches = list(sim.run())
    tables = {k: pa.concat_tables([b.tables[k] for b in batches]) for k in batches[0].tables}
    sales = tables["sales_transaction"]
    sold = sales.filter(pc.equal(sales["transaction_type"], "sale"))
    store = index_of(sold["store_id"])
    local = (pc.cast(sold["event_time"], pa.int64()).to_numpy()
             + catalog.store_offset[store].astype(np.int64) * MS_PER_HOUR)
    day = local // MS_PER_DAY - (start - EPOCH).days
    assert day.min() >= 0 and day.max() < days
    return Sales(
        catalog=catalog, start=start, days=days, tables=tables, store=store,
        product=index_of(sold["product_id"]), day=day,
        hour=(local % MS_PER_DAY) // MS_PER_HOUR, qty=sold["quantity"].to_numpy(),
        promoted=sold["promotion_id"].is_valid().to_numpy(zero_copy_only=False),
    )


@pytest.fixture(scope="module")
def november() -> Sales:
    """Three weeks, Monday 2026-11-09 to Sunday 2026-11-29: Thanksgiving and Black Friday."""
    return simulate(date(2026, 11, 9), 21)


@pytest.fixture(scope="module")
def christmas() -> Sales:
    return simulate(date(2026, 12, 23), 4)


def weekdays(run: Sales, names: set[str], skip: set[date] = frozenset()) -> list[int]:
    days = [run.start + timedelta(days=i) for i in range(run.days)]
    return [run.day_of(d) for d in days if d.strftime("%a") in names and d not in skip]


def test_saturdays_sell_more_units_per_store_than_ordinary_tuesdays_and_wednesdays(november):
    per_store = november.units_per_day() / STORES
    saturdays = weekdays(november, {"Sat"})
    midweek = weekdays(november, {"Tue", "Wed"}, skip={date(2026, 11, 25)})  # Thanksgiving Eve
    assert len(saturdays) == 3 and len(midweek) == 5
    # model: Saturday x1.35 against Tuesday x0.85 / Wednesday x0.90, about 1.5 times
    assert per_store[saturdays].mean() > 1.25 * per_store[midweek].mean()
    assert per_store[saturdays].min() > per_store[midweek].max()


def test_black_friday_sells_more_than_the_other_fridays(november):
    units = november.units_per_day()
    black_friday = november.day_of(date(2026, 11, 27))
    fridays = [d for d in weekdays(november, {"Fri"}) if d != black_friday]
    assert len(fridays) == 2
    # model: x1.9 on an ordinary Friday
    assert units[black_friday] > 1.5 * units[fridays].mean()
    # Thanksgiving Day itself is quiet
    thanksgiving = november.day_of(date(2026, 11, 26))
    assert units[thanksgiving] < 0.6 * units[weekdays(november, {"Thu"})].max()


def test_christmas_day_sells_much_less_than_christmas_eve(christmas):
    units = christmas.units_per_day()
    eve, day = christmas.day_of(date(2026, 12, 24)), christmas.day_of(date(2026, 12, 25))
    # model: Eve (Thursday) x0.95 x1.6, Christmas (Friday) x1.1 x0.2, about 1/7
    assert units[day] > 0
    assert units[day] < 0.3 * units[eve]


def test_lunch_and_evening_peak_hours_sell_more_than_the_first_open_hour(november):
    opens = np.array([t.opens for t in STORE_TYPES])[november.catalog.store_type]
    units = np.zeros((STORES, 24))
    np.add.at(units, (november.store, november.hour), november.qty)
    peak = units[:, [12, 13, 17, 18, 19]].mean(axis=1)  # per peak hour
    first = units[np.arange(STORES), opens]
    # chain-wide: about 2.5 times (hourly curves of the store types, weighted by traffic)
    assert peak.sum() > 1.5 * first.sum()
    # every store type but convenience has clearly quiet mornings (curve ratio 1.6 or more);
    # a convenience store's breakfast rush makes its first hour almost as busy (1.05)
    clear = november.catalog.store_type != CONVENIENCE
    assert clear.sum() >= 5
    assert (peak[clear] > 1.2 * first[clear]).all()


def test_promoted_skus_sell_more_than_the_same_skus_in_weeks_without_a_promotion(november):
    """Promotions run Monday to Sunday, so the run has three promotion weeks.

    Compare each SKU with itself: a SKU promoted in some weeks but not in others, its share
    of the chain's units in promoted weeks against its share in the other weeks. Using a
    share of the week's units removes the calendar (Black Friday week sells more of
    everything) and comparing a SKU with itself removes popularity, so only the promotion
    lift is left: (1 - discount) ** elasticity, between 1.15 and 3.8. Pooling the SKUs
    weighs them by sales, so the test does not hinge on rarely sold SKUs; the per-SKU
    majority guards against one large SKU carrying the pooled ratio.
    """
    run = november
    week = run.day // 7
    units = np.zeros((PRODUCTS, 3))
    np.add.at(units, (run.product, week), run.qty)
    share = units / units.sum(axis=0)

    # which SKU was promoted in which week, from the price change events
    changes = run.tables["price_change"]
    starts = changes.filter(pc.equal(changes["change_type"], "promotion_start"))
    start_day = [(date.fromisoformat(p[4:8] + "-" + p[8:10] + "-" + p[10:]) - run.start).days
                 for p in starts["promotion_id"].to_pylist()]
    promoted = np.zeros((PRODUCTS, 3), dtype=bool)
    promoted[index_of(starts["product_id"]), np.array(start_day) // 7] = True
    assert promoted.sum(axis=0).min() >= 5  # a few percent of 300 SKUs every week

    # a sale line carries a promotion id exactly when its SKU is on promotion that week
    assert np.array_equal(run.promoted, promoted[run.product, week])
    sold = run.tables["sales_transaction"]
    sold = sold.filter(pc.equal(sold["transaction_type"], "sale"))
    discount = sold["discount_amount"].to_numpy()
    assert (discount[run.promoted] > 0).all() and (discount[~run.promoted] == 0).all()

    both = np.flatnonzero(promoted.any(axis=1) & ~promoted.all(axis=1))
    assert len(both) >= 10
    on = np.array([share[s, promoted[s]].mean() for s in both])
    off = np.array([share[s, ~promoted[s]].mean() for s in both])
    assert on.sum() > 1.15 * off.sum()
    assert np.mean(on > off) >= 0.75


def test_returns_reference_an_earlier_sale_of_the_same_line(november):
    sales = november.tables["sales_transaction"]
    returns = sales.filter(pc.equal(sales["transaction_type"], "return"))
    assert returns.num_rows > 100
    assert returns["customer_id"].null_count == returns.num_rows
    originals = sales.filter(pc.and_(
        pc.equal(sales["transaction_type"], "sale"),
        pc.is_in(sales["transaction_id"], value_set=returns["original_transaction_id"])))
    sold = {}
    for tx, store, prod, qty, price, t in zip(*(originals[c].to_pylist() for c in (
            "transaction_id", "store_id", "product_id", "quantity", "unit_price",
            "event_time"))):
        sold.setdefault((tx, store, prod), []).append((qty, price, t))
    for orig, store, prod, qty, price, t, tx in zip(*(returns[c].to_pylist() for c in (
            "original_transaction_id", "store_id", "product_id", "quantity", "unit_price",
            "event_time", "transaction_id"))):
        assert orig is not None and orig.startswith("T-") and tx.startswith("R-")
        lines = sold.get((orig, store, prod))
        assert lines, f"return {tx} names no sale of {prod} in {store}: {orig}"
        # whole lines come back on a later day, at the price paid
        assert any(q == qty and p == price and (t - when).total_seconds() > 0
                   and orig[8:16] < tx[8:16] for q, p, when in lines), tx


def test_toys_sell_more_per_day_in_december_than_in_june():
    # the same chain and seed over two Monday-to-Sunday weeks without holidays
    june, december = simulate(date(2026, 6, 8), 7), simulate(date(2026, 12, 7), 7)
    toys = [c.name for c in CATEGORIES].index("Toys")
    per_day = []
    for run in (june, december):
        is_toy = run.catalog.product_category[run.product] == toys
        assert is_toy.any()
        per_day.append(run.qty[is_toy].sum() / run.days)
    # model: seasonal weight about 0.16 in June and 1.8 in December
    assert per_day[1] > 3 * per_day[0]
