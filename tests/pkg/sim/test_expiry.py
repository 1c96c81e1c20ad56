"""Perishable stock by expiry day (retail.sim.expiry) and the simulator's write-offs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.contracts import validate_event
from retail.sim import SimConfig, Simulator, generate_catalog, to_json_events
from retail.sim.expiry import PERISHABLE_MAX_DAYS, ShelfLots

H = PERISHABLE_MAX_DAYS + 1


def one_pair(life: int) -> ShelfLots:
    return ShelfLots(np.array([0]), np.array([life]), H)


def test_units_expire_a_shelf_life_after_they_arrive_and_sales_take_the_oldest_first():
    lots = one_pair(3)
    lots.close_day(0, expired=np.array([0]), arrived=np.array([10]), taken=np.array([0]))
    lots.close_day(1, expired=np.array([0]), arrived=np.array([5]), taken=np.array([12]))
    # day 0's ten units went first: none of them is left to expire on day 3
    assert lots.expiring(3).tolist() == [0] and lots.expiring(4).tolist() == [3]
    assert lots.stock().tolist() == [3]
    lots.close_day(2, expired=np.array([0]), arrived=np.array([0]), taken=np.array([0]))
    lots.close_day(3, expired=np.array([0]), arrived=np.array([4]), taken=np.array([1]))
    assert lots.expiring(4).tolist() == [2] and lots.expiring(6).tolist() == [4]
    lots.close_day(4, expired=np.array([2]), arrived=np.array([0]), taken=np.array([0]))
    assert lots.stock().tolist() == [4]


def test_a_write_off_that_is_not_what_expired_or_an_overdrawn_shelf_raises():
    lots = one_pair(2)
    lots.close_day(0, expired=np.array([0]), arrived=np.array([6]), taken=np.array([0]))
    with pytest.raises(ValueError, match="write-off"):
        lots.close_day(2, expired=np.array([5]), arrived=np.array([0]), taken=np.array([0]))
    with pytest.raises(ValueError, match="more units taken"):
        lots.close_day(1, expired=np.array([0]), arrived=np.array([0]), taken=np.array([7]))
    with pytest.raises(ValueError, match="shelf lives"):
        ShelfLots(np.array([0]), np.array([H]), H)


def test_the_opening_shelf_holds_the_stock_within_a_shelf_life():
    life = np.array([4, 7, 14, 60])
    lots = ShelfLots(np.arange(4), life, H)
    units = np.array([9, 0, 100, 1])
    lots.fill(5, units, np.random.default_rng(3))
    assert lots.stock().tolist() == units.tolist()
    for i in range(4):
        days = [(d - 5) % H for d in np.flatnonzero(lots.lots[i])]
        assert all(1 <= k <= life[i] for k in days)


@pytest.fixture(scope="module")
def chain():
    catalog = generate_catalog(3, 120, 11)
    runs = {}
    for expiry in (False, True):
        # small batches: a store group per store, so the books are kept group by group
        sim = Simulator(catalog, SimConfig(seed=11, rate=12, days=16, expiry=expiry,
                                           batch_events=2_000))
        batches = []
        for batch in sim.run():
            batches.append(batch)
            if sim.shelf is not None:  # every day: the lots are the stock
                assert (sim.shelf.stock() == sim.stock[sim.shelf.pairs]).all()
        runs[expiry] = (sim, batches)
    return catalog, runs


def _demand(batches) -> dict:
    """Units asked for per day, store and SKU: sold (sale lines) plus lost."""
    out: dict = {}
    for b in batches:
        s = b.tables["sales_transaction"]
        s = s.filter(pc.equal(s["transaction_type"], "sale"))
        for t, q in ((s, "quantity"), (b.tables["lost_sale"], "lost_quantity")):
            g = pa.table({"s": t["store_id"], "p": t["product_id"], "q": t[q]}).group_by(
                ["s", "p"]).aggregate([("q", "sum")])
            for key in zip(g["s"].to_pylist(), g["p"].to_pylist(), g["q_sum"].to_pylist()):
                out[(b.day, key[0], key[1])] = out.get((b.day, key[0], key[1]), 0) + key[2]
    return out


def test_write_offs_are_perishables_at_local_midnight_before_anything_else(chain):
    catalog, runs = chain
    life = dict(zip(catalog.products["product_id"].to_pylist(),
                    catalog.products["shelf_life_days"].to_pylist()))
    inv = pa.concat_tables(b.tables["inventory_update"] for b in runs[True][1])
    expired = inv.filter(pc.equal(inv["reason"], "expired"))
    assert expired.num_rows > 20
    assert {life[p] for p in expired["product_id"].to_pylist()} <= {
        v for v in life.values() if v <= PERISHABLE_MAX_DAYS}
    assert pc.all(pc.less(expired["quantity_change"], 0)).as_py()
    assert expired["reference_id"].null_count == expired.num_rows
    for event in to_json_events(expired.slice(0, 50)):
        validate_event(event)
    # the write-off is each pair's first movement of its day (a batch is one local day of a
    # group of stores, its movements in the order they were applied, pair by pair)
    for b in runs[True][1]:
        first: dict = {}
        for r in b.tables["inventory_update"].select(["store_id", "product_id", "reason"]
                                                     ).to_pylist():
            first.setdefault((r["store_id"], r["product_id"]), []).append(r["reason"])
        assert all(reasons.count("expired") <= 1 and reasons[0] == "expired"
                   for reasons in first.values() if "expired" in reasons)
    assert not (pc.equal(pa.concat_tables(b.tables["inventory_update"] for b in runs[False][1])
                         ["reason"], "expired")).to_pylist().count(True)


def test_demand_is_drawn_the_same_whatever_the_shelf_holds(chain):
    _, runs = chain
    with_expiry, without = _demand(runs[True][1]), _demand(runs[False][1])
    assert with_expiry == without and sum(without.values()) > 10_000
    # ... while what was sold differs: expiry took stock away
    lost = [sum(b.tables["lost_sale"]["lost_quantity"].to_numpy().sum() for b in runs[k][1])
            for k in (False, True)]
    assert lost[0] != lost[1]


def test_the_books_are_kept_store_group_by_store_group(chain):
    _, runs = chain
    sim = runs[True][0]
    assert len(sim.store_groups()) == 3
    assert len({b.stores for b in runs[True][1]}) == 3


def test_expiry_is_part_of_the_run_identity_only_when_on(chain):
    _, runs = chain
    assert "expiry" not in runs[False][0].identity()
    assert runs[True][0].identity()["expiry"] is True
    assert runs[True][0].fingerprint != runs[False][0].fingerprint
