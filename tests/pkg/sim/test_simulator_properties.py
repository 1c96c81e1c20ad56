"""Properties of whole simulator runs over small random chains and configurations.

Every check is vectorised (Arrow compute / numpy) so an example with a million events
costs well under a second to verify; example counts keep this file under a minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from retail.contracts import ContractViolation, contract
from retail.contracts.columnar import json_ready, valid_rows
from retail.sim import EventBatch, SimConfig, Simulator, generate_catalog
from retail.sim.profiles import STORE_TYPES

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
EVENT_TYPES = ("sales_transaction", "lost_sale", "inventory_update", "customer_traffic",
               "price_change", "supplier_shipment")


@dataclass(frozen=True)
class Case:
    seed: int
    stores: int
    products: int
    rate: float
    days: int
    start: date
    batch_events: int  # 1 puts every store in its own group
    deplete: bool  # start from nearly empty shelves, so shortages and deliveries happen


def cases(days=st.integers(1, 4), deplete=st.booleans()):
    return st.builds(
        Case,
        seed=st.integers(0, 2**31 - 1),
        stores=st.integers(1, 4),
        products=st.integers(20, 120),
        rate=st.floats(10.0, 80.0),
        days=days,
        start=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
        batch_events=st.sampled_from([1, 250_000]),
        deplete=deplete,
    )


@dataclass
class Run:
    case: Case
    sim: Simulator
    opening: np.ndarray  # sim.stock before the first day
    batches: list[EventBatch]
    tables: dict[str, pa.Table]  # per event type, batches concatenated in run order


def build(case: Case) -> Simulator:
    catalog = generate_catalog(case.stores, case.products, case.seed)
    sim = Simulator(catalog, SimConfig(seed=case.seed, rate=case.rate, start=case.start,
                                       days=case.days, batch_events=case.batch_events))
    if case.deplete:
        sim.stock[:] = np.random.default_rng(case.seed).integers(0, 3, size=len(sim.stock))
    return sim


def simulate(case: Case) -> Run:
    sim = build(case)
    opening = sim.stock.copy()
    batches = list(sim.run())
    tables = {k: pa.concat_tables([b.tables[k] for b in batches]) for k in EVENT_TYPES}
    return Run(case, sim, opening, batches, tables)


# --- vectorised helpers


def ms(col) -> np.ndarray:
    return pc.cast(col, pa.int64()).to_numpy()


def ints(col) -> np.ndarray:
    return np.asarray(col.to_numpy(), dtype=np.int64)


def pair_index(sim: Simulator, table: pa.Table) -> np.ndarray:
    """Catalog pair index of each row (store_id, product_id); fails on unknown pairs."""
    keys = pc.binary_join_element_wise(table["store_id"], table["product_id"], "|")
    idx = pc.index_in(keys, value_set=pa.array(list(sim.ground_truth())))
    assert idx.null_count == 0, "event for a pair the store does not stock"
    return ints(idx)


def store_index(table: pa.Table, col: str = "store_id") -> np.ndarray:
    return ints(pc.cast(pc.utf8_slice_codeunits(table[col], 1), pa.int64())) - 1


def local_ms(sim: Simulator, table: pa.Table, col: str = "event_time") -> np.ndarray:
    offset = sim.catalog.store_offset[store_index(table)].astype(np.int64)
    return ms(table[col]) + offset * MS_PER_HOUR


def yyyymmdd(local: np.ndarray) -> np.ndarray:
    days = (local // MS_PER_DAY).astype("datetime64[D]")
    y = days.astype("datetime64[Y]").astype(np.int64) + 1970
    m = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return y * 10_000 + m * 100 + d


def sorted_rows(columns: dict[str, object]) -> pa.Table:
    t = pa.table(columns)
    return t.sort_by([(name, "ascending") for name in t.column_names])


def equal(table: pa.Table, col: str, value: str):
    return pc.equal(table[col], value)


# --- properties


@settings(max_examples=10, deadline=None)
@given(cases())
def test_stock_never_goes_negative(case):
    run = simulate(case)
    inv = run.tables["inventory_update"]
    # something moved, unless every shelf started empty (then nothing can be sold)
    assert inv.num_rows > 0 or not run.opening.any()
    assert pc.min(inv["new_quantity"]).as_py() >= 0
    assert (run.sim.stock >= 0).all()
    # every update reports a real movement
    assert pc.all(pc.not_equal(inv["quantity_change"], 0)).as_py()


@settings(max_examples=12, deadline=None)
@given(cases())
def test_new_quantity_is_the_running_sum_of_changes_and_ends_at_the_ground_truth(case):
    run = simulate(case)
    sim, inv = run.sim, run.tables["inventory_update"]
    for batch in run.batches:  # each batch's tables are in event time order
        for k, table in batch.tables.items():
            assert (np.diff(ms(table["event_time"])) >= 0).all(), k
    pair = pair_index(sim, inv)
    order = np.argsort(pair, kind="stable")  # table order within each pair
    p = pair[order]
    new_q = ints(inv["new_quantity"])[order]
    change = ints(inv["quantity_change"])[order]
    first = np.ones(len(p), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    before = np.empty(len(p), dtype=np.int64)
    before[1:] = new_q[:-1]
    before[first] = run.opening[p[first]]
    bad = np.flatnonzero(before + change != new_q)
    assert bad.size == 0, f"running sum broken at {inv.take(order[bad[:3]]).to_pylist()}"

    last = np.ones(len(p), dtype=bool)
    last[:-1] = first[1:]
    expected = run.opening.copy()
    expected[p[last]] = new_q[last]
    truth = sim.ground_truth()
    assert list(truth.values()) == expected.tolist()
    assert list(truth.values()) == sim.stock.tolist()
    untouched = np.setdiff1d(np.arange(len(sim.stock)), p)
    assert (sim.stock[untouched] == run.opening[untouched]).all()


@settings(max_examples=10, deadline=None)
@given(cases())
def test_every_sale_and_return_line_has_its_inventory_update(case):
    run = simulate(case)
    sales, inv = run.tables["sales_transaction"], run.tables["inventory_update"]
    for kind, sign in (("sale", -1), ("return", 1)):
        lines = sales.filter(equal(sales, "transaction_type", kind))
        updates = inv.filter(equal(inv, "reason", kind))
        want = sorted_rows({
            "ref": lines["transaction_id"], "store": lines["store_id"],
            "product": lines["product_id"],
            "change": pc.multiply(lines["quantity"], pa.scalar(sign, pa.int64())),
            "time": lines["event_time"]})
        got = sorted_rows({
            "ref": updates["reference_id"], "store": updates["store_id"],
            "product": updates["product_id"], "change": updates["quantity_change"],
            "time": updates["event_time"]})
        assert got.equals(want), f"{kind} lines and {kind} inventory updates differ"
    assert pc.sum(equal(sales, "transaction_type", "sale")).as_py() > 0


@settings(max_examples=10, deadline=None)
@given(cases(deplete=st.just(True)))
def test_lost_sales_happen_only_on_an_empty_shelf_and_count_the_unmet_units(case):
    run = simulate(case)
    sim, inv, lost = run.sim, run.tables["inventory_update"], run.tables["lost_sale"]
    sales = run.tables["sales_transaction"]
    assert lost.num_rows > 0, "shelves start nearly empty: some demand must go unmet"
    req, ful, qty = (ints(lost[c]) for c in
                     ("requested_quantity", "fulfilled_quantity", "lost_quantity"))
    assert (qty == req - ful).all()
    assert (qty >= 1).all() and (ful >= 0).all()

    # a partly served line is also a sale line of the fulfilled quantity
    partial = lost.filter(pc.greater(lost["fulfilled_quantity"], 0))
    sold = sales.filter(pc.is_in(sales["transaction_id"], value_set=partial["transaction_id"]))
    sold_lines = set(zip(*(sold[c].to_pylist() for c in
                           ("transaction_id", "store_id", "product_id", "quantity"))))
    for row in zip(*(partial[c].to_pylist() for c in
                     ("transaction_id", "store_id", "product_id", "fulfilled_quantity"))):
        assert row in sold_lines

    # Stock level at the moment of the lost sale: the last update of the pair that was
    # applied before it. Movements of one pair apply in time order; at equal times
    # deliveries and sales come before returns, shrinkage and adjustments.
    pair = pair_index(sim, inv)
    late = pc.is_in(inv["reason"], value_set=pa.array(["return", "shrinkage", "adjustment"]))
    t0 = min(ms(inv["event_time"]).min(initial=2**62), ms(lost["event_time"]).min())
    inv_key = (ms(inv["event_time"]) - t0) * 2 + ints(pc.cast(late, pa.int64()))
    lost_time = (ms(lost["event_time"]) - t0) * 2
    span = int(max(inv_key.max(initial=0), lost_time.max())) + 2
    order = np.lexsort((np.arange(len(pair)), pair))
    composite = pair[order] * span + inv_key[order]
    assert (np.diff(composite) >= 0).all(), "updates of a pair are not in time order"
    level = ints(inv["new_quantity"])[order]

    lost_pair = pair_index(sim, lost)
    lost_key = lost_pair * span + lost_time
    at = np.searchsorted(composite, lost_key, side="right") - 1
    has_prior = (at >= 0) & (pair[order][np.maximum(at, 0)] == lost_pair)
    shelf = np.where(has_prior, level[np.maximum(at, 0)], run.opening[lost_pair])
    bad = np.flatnonzero(shelf != 0)
    assert bad.size == 0, f"lost sale with stock on the shelf: {lost.take(bad[:3]).to_pylist()}"


@settings(max_examples=10, deadline=None)
@given(cases())
def test_restocks_are_delivered_shipments_that_were_ordered_on_an_earlier_day(case):
    run = simulate(case)
    sim, inv, ship = run.sim, run.tables["inventory_update"], run.tables["supplier_shipment"]
    delivered = ship.filter(equal(ship, "status", "delivered"))
    ordered = ship.filter(equal(ship, "status", "ordered"))
    restock = inv.filter(equal(inv, "reason", "restock"))

    got = sorted_rows({"ref": restock["reference_id"], "store": restock["store_id"],
                       "product": restock["product_id"], "qty": restock["quantity_change"],
                       "time": restock["event_time"]})
    want = sorted_rows({"ref": delivered["shipment_id"], "store": delivered["store_id"],
                        "product": delivered["product_id"], "qty": delivered["quantity"],
                        "time": delivered["event_time"]})
    assert got.equals(want)

    for name in ("ordered", "delivered"):
        ids = ship.filter(equal(ship, "status", name))["shipment_id"]
        assert pc.count_distinct(ids).as_py() == len(ids), f"{name} shipment ids repeat"

    # every delivery matches an order of the same shipment id, placed on an earlier local day
    found = pc.index_in(delivered["shipment_id"], value_set=ordered["shipment_id"])
    pos = ints(found.fill_null(-1))
    assert (pos >= 0).all(), "a delivered shipment was never ordered"
    o = ordered.take(pa.array(pos))
    for col in ("store_id", "product_id", "supplier_id", "quantity", "ordered_at",
                "expected_arrival"):
        assert delivered[col].equals(o[col]), col
    order_day = local_ms(sim, o) // MS_PER_DAY
    deliver_day = local_ms(sim, delivered) // MS_PER_DAY
    assert (order_day < deliver_day).all()

    # the promise is the supplier's quoted lead time (its catalog mean) after the order
    sup = store_index(ordered, "supplier_id")
    promised = ms(ordered["expected_arrival"]) - ms(ordered["ordered_at"])
    assert (promised == np.round(sim.catalog.supplier_lead_mean[sup] * MS_PER_DAY)).all()

    # every order not delivered within the run is still on its way, due after its last day
    assert all(day >= case.days for day, _ in sim.pending_deliveries)
    on_the_way = [sid for parts in sim.pending_deliveries.values() for p in parts
                  for sid in p["shipment"]]
    assert len(on_the_way) + delivered.num_rows == ordered.num_rows
    assert set(on_the_way) | set(delivered["shipment_id"].to_pylist()) == \
        set(ordered["shipment_id"].to_pylist())


def test_a_run_long_enough_for_lead_times_delivers_what_it_ordered():
    run = simulate(Case(seed=3, stores=2, products=60, rate=20.0, days=12,
                        start=date(2026, 4, 6), batch_events=250_000, deplete=True))
    ship = run.tables["supplier_shipment"]
    delivered = set(ship.filter(equal(ship, "status", "delivered"))["shipment_id"].to_pylist())
    ordered = set(ship.filter(equal(ship, "status", "ordered"))["shipment_id"].to_pylist())
    assert len(delivered) > 10
    assert delivered <= ordered
    restocked = run.tables["inventory_update"].filter(
        equal(run.tables["inventory_update"], "reason", "restock"))
    assert set(restocked["reference_id"].to_pylist()) == delivered


@settings(max_examples=5, deadline=None)
@given(cases(days=st.integers(1, 3), deplete=st.just(False)))
def test_the_same_seed_and_configuration_give_identical_events(case):
    one, two = build(case), build(case)
    for name in ("stores", "products", "suppliers"):
        assert getattr(one.catalog, name).equals(getattr(two.catalog, name))
    assert np.array_equal(one.stock, two.stock)
    batches_one, batches_two = list(one.run()), list(two.run())
    assert len(batches_one) == len(batches_two) > 0
    for a, b in zip(batches_one, batches_two):
        assert (a.day, a.stores) == (b.day, b.stores)
        assert a.tables.keys() == b.tables.keys()
        for k in a.tables:
            assert a.tables[k].equals(b.tables[k]), k
    assert one.ground_truth() == two.ground_truth()

    # another simulator seed on the same chain gives other events
    other = Simulator(one.catalog, SimConfig(seed=case.seed + 1, rate=case.rate,
                                             start=case.start, days=case.days,
                                             batch_events=case.batch_events))
    first_other = next(other.run())
    assert not first_other.tables["sales_transaction"].equals(
        batches_one[0].tables["sales_transaction"])
    assert not first_other.tables["sales_transaction"]["event_id"].equals(
        batches_one[0].tables["sales_transaction"]["event_id"])


UUID8 = r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"  # RFC 9562 v8
# id column -> (pattern, digits of the store number, digits of the local date)
ID_FORMATS = {
    ("sales_transaction", "transaction_id"): r"^[TR]-\d{5}-\d{8}-\d{6}$",
    ("lost_sale", "lost_sale_id"): r"^L-\d{5}-\d{8}-\d{7}$",
    ("lost_sale", "transaction_id"): r"^T-\d{5}-\d{8}-\d{6}$",
    ("inventory_update", "inventory_id"): r"^I-\d{5}-\d{8}-\d{8}$",
    ("customer_traffic", "traffic_id"): r"^H-\d{5}-\d{8}-\d{2}$",
    ("price_change", "price_change_id"): r"^PC-\d{5}-\d{8}-\d{7}$",
    ("supplier_shipment", "shipment_id"): r"^SH-\d{5}-\d{8}-\d{6}$",
}


def id_parts(ids: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(store number, yyyymmdd) embedded in ids like ``T-00001-20260105-000001``."""
    parts = pc.split_pattern(ids, "-")
    store = pc.cast(pc.list_element(parts, 1), pa.int64())
    day = pc.cast(pc.list_element(parts, 2), pa.int64())
    return ints(store), ints(day)


@settings(max_examples=8, deadline=None)
@given(cases())
def test_event_ids_are_unique_and_every_id_has_its_contract_format(case):
    run = simulate(case)
    sim, t = run.sim, run.tables
    all_ids = pa.chunked_array([c for k in EVENT_TYPES for c in t[k]["event_id"].chunks],
                               pa.string())
    assert pc.count_distinct(all_ids).as_py() == len(all_ids)
    assert pc.all(pc.match_substring_regex(all_ids, UUID8)).as_py()

    for k in EVENT_TYPES:
        table = t[k]
        assert pc.all(pc.equal(table["event_type"], k)).as_py() is not False
        assert pc.all(pc.match_substring_regex(table["store_id"], r"^S\d{5}$")).as_py() \
            is not False
        if "product_id" in table.column_names:
            assert pc.all(pc.match_substring_regex(table["product_id"], r"^P\d{6}$")).as_py() \
                is not False

    ship = t["supplier_shipment"]
    assert pc.all(pc.match_substring_regex(ship["supplier_id"], r"^V\d{4}$")).as_py() is not False
    for k in ("sales_transaction", "price_change"):
        promo = t[k]["promotion_id"].drop_null()
        assert pc.all(pc.match_substring_regex(promo, r"^PRM-\d{8}$")).as_py() is not False
    cust = t["sales_transaction"]["customer_id"].drop_null()
    assert pc.all(pc.match_substring_regex(cust, r"^C\d{9}$")).as_py() is not False

    # ids carry their store and local day, and identify what they name
    for (k, col), pattern in ID_FORMATS.items():
        table = t[k]
        if k == "supplier_shipment":  # a delivery keeps the id of its order (earlier day)
            table = table.filter(equal(table, "status", "ordered"))
        ids = table[col]
        assert pc.all(pc.match_substring_regex(ids, pattern)).as_py() is not False, (k, col)
        store, day = id_parts(ids)
        assert (store == store_index(table) + 1).all(), (k, col)
        time_col = "hour_start" if k == "customer_traffic" else "event_time"
        assert (day == yyyymmdd(local_ms(sim, table, time_col))).all(), (k, col)
    for k, col in (("lost_sale", "lost_sale_id"), ("inventory_update", "inventory_id"),
                   ("customer_traffic", "traffic_id"), ("price_change", "price_change_id")):
        assert pc.count_distinct(t[k][col]).as_py() == t[k].num_rows, (k, col)
    lines = pc.binary_join_element_wise(t["sales_transaction"]["transaction_id"],
                                        pc.cast(t["sales_transaction"]["line_number"],
                                                pa.string()), "#")
    assert pc.count_distinct(lines).as_py() == len(lines)
    returns = t["sales_transaction"].filter(equal(t["sales_transaction"], "transaction_type",
                                                  "return"))
    assert all(re.match(r"^R-", x) for x in returns["transaction_id"].to_pylist())


# A lone neighborhood store with five SKUs at a moderate rate: its best seller is
# restocked by the hundred thousand (the default 20 stores x 2000 SKUs at rate 200 does
# the same within a few days).
SMALL_ASSORTMENT = Case(seed=1, stores=1, products=20, rate=46.75, days=4,
                        start=date(2026, 1, 1), batch_events=250_000, deplete=False)


@settings(max_examples=6, deadline=None)
@example(SMALL_ASSORTMENT)
@given(cases())
def test_every_event_satisfies_its_contract_as_the_producer_checks_it(case):
    run = simulate(case)
    for k in EVENT_TYPES:
        table = run.tables[k]
        ok = valid_rows(contract(k), json_ready(table))
        bad = np.flatnonzero(~np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool))
        if bad.size:
            row = json_ready(table.take(bad[:1])).to_pylist()[0]
            with pytest.raises(ContractViolation) as err:
                contract(k).validate(row)
            pytest.fail(f"{bad.size} {k} events break the contract, e.g. {err.value}: {row}")


@settings(max_examples=8, deadline=None)
@given(cases())
def test_sales_happen_only_in_the_stores_open_hours_of_their_local_day(case):
    run = simulate(case)
    sim = run.sim
    opens = np.array([s.opens for s in STORE_TYPES])
    closes = np.array([s.closes for s in STORE_TYPES])
    for batch in run.batches:
        batch_day = (np.datetime64(batch.day) - np.datetime64("1970-01-01")).astype(np.int64)
        for k in ("sales_transaction", "lost_sale"):
            table = batch.tables[k]
            local = local_ms(sim, table)
            stype = sim.catalog.store_type[store_index(table)]
            hour = (local % MS_PER_DAY) // MS_PER_HOUR
            assert ((hour >= opens[stype]) & (hour < closes[stype])).all(), k
            assert (local // MS_PER_DAY == batch_day).all(), k
            s = store_index(table)
            assert ((s >= batch.stores[0]) & (s < batch.stores[1])).all(), k
        traffic = batch.tables["customer_traffic"]
        local = local_ms(sim, traffic, "hour_start")
        stype = sim.catalog.store_type[store_index(traffic)]
        hour = (local % MS_PER_DAY) // MS_PER_HOUR
        assert ((hour >= opens[stype]) & (hour < closes[stype])).all()
        # one row per open hour of each store in the batch
        n_open = sum(closes[sim.catalog.store_type[s]] - opens[sim.catalog.store_type[s]]
                     for s in range(*batch.stores))
        assert traffic.num_rows == n_open


@settings(max_examples=6, deadline=None)
@given(cases())
def test_hourly_traffic_counts_the_checkouts_that_sold_something(case):
    run = simulate(case)
    sim = run.sim
    sales = run.tables["sales_transaction"]
    sales = sales.filter(equal(sales, "transaction_type", "sale"))
    hour = (local_ms(sim, sales) // MS_PER_HOUR) * MS_PER_HOUR \
        - sim.catalog.store_offset[store_index(sales)].astype(np.int64) * MS_PER_HOUR
    counted = pa.table({"store_id": sales["store_id"], "hour": hour,
                        "tx": sales["transaction_id"]}).group_by(["store_id", "hour"]).aggregate(
        [("tx", "count_distinct")])
    seen = {(s, h): n for s, h, n in zip(*(counted[c].to_pylist() for c in
                                            ("store_id", "hour", "tx_count_distinct")))}
    traffic = run.tables["customer_traffic"]
    reported = {(s, h): n for s, h, n in zip(traffic["store_id"].to_pylist(),
                                             ms(traffic["hour_start"]).tolist(),
                                             traffic["transactions"].to_pylist())}
    assert {k: v for k, v in reported.items() if v} == seen
    assert (ints(traffic["foot_traffic"]) >= ints(traffic["transactions"])).all()
