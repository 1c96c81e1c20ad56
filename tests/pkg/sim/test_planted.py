"""The planted ground truth (retail.sim.planted, retail.sim.shoppers): each label is visible
in the events it claims to have shaped, the baskets and loyal histories carry the planted
structure, and the labels are a pure function of the run's options."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.planted import ANOMALY_KINDS
from retail.sim.truth import TRUTH_TABLES, write_truth

START, DAYS = date(2026, 3, 2), 35
CONFIG = SimConfig(seed=5, rate=6.0, start=START, days=DAYS, anomaly_rate=0.02,
                   fade_rate=0.3)


def local_days(table: pa.Table, catalog) -> list[date]:
    """Each event's local day (its store's UTC offset)."""
    offset = dict(zip(catalog.stores["store_id"].to_pylist(), catalog.store_offset.tolist()))
    epoch = date(1970, 1, 1)
    ms = pc.cast(table["event_time"], pa.int64()).to_pylist()
    return [epoch + timedelta(days=(t + offset[s] * 3_600_000) // 86_400_000)
            for t, s in zip(ms, table["store_id"].to_pylist())]


@pytest.fixture(scope="module")
def run():
    catalog = generate_catalog(3, 100, 5)
    sim = Simulator(catalog, CONFIG)
    batches = list(sim.run())
    tables = {k: pa.concat_tables([b.tables[k] for b in batches]) for k in batches[0].tables}
    sales = tables["sales_transaction"]
    sold = sales.filter(pc.equal(sales["transaction_type"], "sale"))
    lost = tables["lost_sale"]
    demand = Counter()  # (store, product, local day) -> units sold + lost
    for t, qty in ((sold, "quantity"), (lost, "lost_quantity")):
        for s, p, ts, q in zip(t["store_id"].to_pylist(), t["product_id"].to_pylist(),
                               local_days(t, catalog), t[qty].to_pylist()):
            demand[s, p, ts] += q
    return sim, tables, sold, demand


def window(demand, store, product, first: date, last: date) -> float:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return sum(demand[store, product, d] for d in days)


def anomalies(sim, kind: str) -> list[dict]:
    table = sim.planted.anomalies()
    rows = table.filter(pc.equal(table["kind"], kind)).to_pylist()
    # whole windows inside the run, with a week of ordinary days before them
    return [r for r in rows if r["start"] >= START + timedelta(days=7)
            and r["end"] <= START + timedelta(days=DAYS - 1)]


def before(demand, r, days: int) -> float:
    """Mean daily demand over the ``days`` before the anomaly."""
    return window(demand, r["store_id"], r["product_id"], r["start"] - timedelta(days=days),
                  r["start"] - timedelta(days=1)) / days


def test_every_kind_is_planted_with_windows_that_fit_its_kind(run):
    sim = run[0]
    table = sim.planted.anomalies()
    kinds = Counter(table["kind"].to_pylist())
    assert set(kinds) == set(ANOMALY_KINDS) and min(kinds.values()) >= 5, kinds
    for r in table.to_pylist():
        length = (r["end"] - r["start"]).days + 1
        low, high = {"sales_drop": (3, 10), "demand_spike": (2, 7),
                     "inventory_discrepancy": (1, 1), "pricing_error": (2, 5)}[r["kind"]]
        assert low <= length <= high, r


def test_a_planted_drop_stops_sales_and_a_spike_multiplies_them(run):
    sim, _, _, demand = run
    drops, spikes = anomalies(sim, "sales_drop"), anomalies(sim, "demand_spike")
    during = sum(window(demand, r["store_id"], r["product_id"], r["start"], r["end"])
                 for r in drops)
    usual = sum(before(demand, r, 7) * ((r["end"] - r["start"]).days + 1) for r in drops)
    assert usual > 20 and during < 0.25 * usual, (during, usual)
    during = sum(window(demand, r["store_id"], r["product_id"], r["start"], r["end"])
                 for r in spikes)
    usual = sum(before(demand, r, 7) * ((r["end"] - r["start"]).days + 1) for r in spikes)
    assert during > 3 * usual, (during, usual)


def test_a_discrepancy_is_a_midnight_count_adjustment_without_a_sale(run):
    sim, tables, _, _ = run
    inv = tables["inventory_update"]
    adjust = inv.filter(pc.equal(inv["reason"], "adjustment"))
    by_key = defaultdict(list)
    for s, p, d, q in zip(adjust["store_id"].to_pylist(), adjust["product_id"].to_pylist(),
                          local_days(adjust, sim.catalog),
                          adjust["quantity_change"].to_pylist()):
        by_key[s, p, d].append(q)
    table = sim.planted.anomalies()
    rows = table.filter(pc.equal(table["kind"], "inventory_discrepancy")).to_pylist()
    assert rows
    for r in rows:  # the whole planted amount leaves: at most 70 % of the stock at midnight
        assert -int(r["magnitude"]) in by_key[r["store_id"], r["product_id"], r["start"]], r


def test_a_pricing_error_charges_ten_times_or_a_tenth_of_the_price(run):
    sim, _, sold, _ = run
    regular = dict(zip(sim.catalog.products["product_id"].to_pylist(),
                       sim.catalog.products["price"].to_pylist()))
    prices = defaultdict(list)
    for s, p, d, u in zip(sold["store_id"].to_pylist(), sold["product_id"].to_pylist(),
                          local_days(sold, sim.catalog), sold["unit_price"].to_pylist()):
        prices[s, p, d].append(u)
    checked = 0
    for r in anomalies(sim, "pricing_error"):
        for i in range((r["end"] - r["start"]).days + 1):
            for u in prices[r["store_id"], r["product_id"], r["start"] + timedelta(days=i)]:
                ratio = u / regular[r["product_id"]]
                # the regular price moves by a few % a month; the error is x10 or /10
                assert 0.5 * r["magnitude"] < ratio < 2 * r["magnitude"], (r, u)
                checked += 1
    assert checked >= 5


def test_fading_products_lose_their_demand_in_every_store_and_others_keep_it(run):
    sim, _, _, demand = run
    fades = sim.planted.fades(through=DAYS - 1).to_pylist()
    assert len(fades) >= 5
    faded = {r["product_id"] for r in fades
             if r["fade_start"] <= START + timedelta(days=DAYS - 15)}
    # pairs without a planted anomaly, products outside affinity groups (a spike of the
    # product, or of its partner that brings it into baskets, would hide a fade)
    struck = {(r["store_id"], r["product_id"]) for r in sim.planted.anomalies().to_pylist()}
    grouped = set(sim.planted.affinities()["product_id"].to_pylist())
    first, last = Counter(), Counter()
    for (s, p, d), q in demand.items():
        if (s, p) in struck or p in grouped:
            continue
        if d < START + timedelta(days=14):
            first[p in faded] += q
        elif d >= START + timedelta(days=DAYS - 7):
            last[p in faded] += q
    faded_ratio = last[True] / 0.5 / first[True]  # per day: a week against two
    other_ratio = last[False] / 0.5 / first[False]
    # against the others' (the season moves both): halving every 5 to 15 days from day
    # 14 to 20, the last week keeps about half
    assert faded_ratio < 0.7 * other_ratio and 0.75 < other_ratio < 1.3, (faded_ratio,
                                                                           other_ratio)


def test_planted_complements_share_baskets_far_more_than_chance(run):
    sim, _, sold, _ = run
    baskets = defaultdict(set)
    for t, p in zip(sold["transaction_id"].to_pylist(), sold["product_id"].to_pylist()):
        baskets[t].add(p)
    n = len(baskets)
    holding = Counter(p for items in baskets.values() for p in items)
    stocked = defaultdict(set)
    for store, product in zip(sim.catalog.pair_store, sim.catalog.pair_product):
        stocked[int(product)].add(int(store))
    lifts = []
    for r in sim.planted.affinities().to_pylist():
        a, b = r["product_id"], r["other_product_id"]
        if not stocked[int(a[1:]) - 1] & stocked[int(b[1:]) - 1]:
            continue  # no store carries both: the pair never meets
        both = sum(1 for items in baskets.values() if a in items and b in items)
        if holding[a] >= 20 and holding[b] >= 20:
            lifts.append(both * n / (holding[a] * holding[b]))
    # chance: a lift of 1 (the planted pairs' products are not otherwise related)
    assert len(lifts) >= 6 and min(lifts) > 1.5 and np.median(lifts) > 3, lifts


def test_loyal_customers_shop_at_their_home_store_and_come_back_for_their_favourites(run):
    sim, _, sold, _ = run
    customers = sim.planted.customers()
    home = dict(zip(customers["customer_id"].to_pylist(),
                    customers["home_store_id"].to_pylist()))
    assert set(customers["segment"].to_pylist()) >= {"family", "party"}
    lines = defaultdict(list)
    for c, s, p in zip(sold["customer_id"].to_pylist(), sold["store_id"].to_pylist(),
                       sold["product_id"].to_pylist()):
        if c is not None:
            assert home[c] == s, (c, s)
            lines[c].append(p)
    assert sum(1 for c in lines) > 0.5 * len(home)
    # a customer's own eight most bought products against eight products of another
    # customer of the same store: habits, not just popular products
    rng = np.random.default_rng(0)
    ids = [c for c, ls in lines.items() if len(ls) >= 15]
    own = other = 0.0
    for c in ids:
        top = {p for p, _ in Counter(lines[c]).most_common(8)}
        peer = rng.choice([d for d in ids if home[d] == home[c] and d != c])
        peer_top = {p for p, _ in Counter(lines[peer]).most_common(8)}
        own += sum(p in top for p in lines[c]) / len(lines[c])
        other += sum(p in peer_top for p in lines[c]) / len(lines[c])
    assert len(ids) >= 50 and own > 1.5 * other, (own / len(ids), other / len(ids))


def test_the_labels_are_a_function_of_the_options_and_shared_by_a_longer_run():
    catalog = generate_catalog(2, 40, 3)
    config = SimConfig(seed=3, rate=4.0, start=START, days=6, anomaly_rate=0.05)
    runs = []
    for days in (6, 9):
        sim = Simulator(catalog, SimConfig(**{**config.__dict__, "days": days}))
        for _ in sim.run():
            pass
        runs.append(sim.planted.anomalies())
    first_days = runs[1].filter(pc.less(runs[1]["start"], START + timedelta(days=6)))
    assert runs[0].num_rows > 0 and runs[0].equals(first_days)
    quiet = Simulator(catalog, SimConfig(seed=3, rate=4.0, start=START, days=6,
                                         anomaly_rate=0.0, fade_rate=0.0))
    for _ in quiet.run():
        pass
    assert quiet.planted.anomalies().num_rows == 0 and quiet.planted.fades().num_rows == 0


@pytest.mark.parametrize("field, value", [("anomaly_rate", 0.5), ("anomaly_rate", -0.1),
                                          ("fade_rate", 2.0)])
def test_a_bad_rate_is_refused_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        SimConfig(**{field: value})


def test_the_truth_files_hold_the_same_tables(run, tmp_path):
    sim = run[0]
    written = write_truth(sim, tmp_path / "truth")
    assert [p.name for p, _ in written] == [f"planted_{n}.parquet" for n in TRUTH_TABLES]
    assert pq.read_table(tmp_path / "truth" / "planted_anomalies.parquet").equals(
        sim.planted.anomalies())
    assert pq.read_table(tmp_path / "truth" / "planted_fades.parquet").equals(
        sim.planted.fades(through=DAYS - 1))
