"""The simulator's ordering policy: the chain's fixed one by default, or one given."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.supply import fixed_policy

CONFIG = SimConfig(seed=5, rate=10, days=10, expiry=True)


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(3, 100, 5)


def run(catalog, policy=None) -> tuple[Simulator, list]:
    sim = Simulator(catalog, CONFIG, order_policy=policy)
    return sim, list(sim.run())


def total(batches, table: str, column: str, where=None) -> int:
    out = 0
    for b in batches:
        t = b.tables[table]
        if where is not None:
            t = t.filter(pc.equal(t[where[0]], where[1]))
        out += int(pc.sum(t[column]).as_py() or 0)
    return out


def demand(batches) -> list[int]:
    """Units asked for per day: sold on sale lines plus lost."""
    return [total([b], "sales_transaction", "quantity", ("transaction_type", "sale"))
            + total([b], "lost_sale", "lost_quantity") for b in batches]


def test_a_given_policy_orders_instead_and_the_customers_ask_for_the_same(catalog):
    def never(sim, ctx, p0, p1):
        return np.zeros(p1 - p0, np.int64)

    def double(sim, ctx, p0, p1):
        return fixed_policy(sim, ctx, p0, p1) * 2

    _, fixed = run(catalog)
    sim_never, none = run(catalog, never)
    _, more = run(catalog, double)
    status = ("status", "ordered")
    assert total(none, "supplier_shipment", "quantity", status) == 0
    assert total(more, "supplier_shipment", "quantity", status) > total(
        fixed, "supplier_shipment", "quantity", status) > 0
    assert demand(none) == demand(fixed) == demand(more)
    # ... but not what was sold
    assert total(none, "lost_sale", "lost_quantity") > total(fixed, "lost_sale", "lost_quantity")
    assert sim_never.identity()["order_policy"] == "never"


def test_the_fixed_policy_given_explicitly_is_the_default(catalog):
    def fixed(sim, ctx, p0, p1):
        return fixed_policy(sim, ctx, p0, p1)

    sim_a, a = run(catalog)
    sim_b, b = run(catalog, fixed)
    assert "order_policy" not in sim_a.identity()
    for table, column in (("sales_transaction", "quantity"), ("supplier_shipment", "quantity"),
                          ("inventory_update", "new_quantity"), ("lost_sale", "lost_quantity")):
        assert [total([x], table, column) for x in a] == [total([y], table, column) for y in b]
    assert (sim_a.stock == sim_b.stock).all()


@pytest.mark.parametrize("policy, message", [
    (lambda sim, ctx, p0, p1: np.full(p1 - p0, -6), "negative units"),
    (lambda sim, ctx, p0, p1: np.zeros(3, np.int64), "whole units for each of the"),
    (lambda sim, ctx, p0, p1: np.full(p1 - p0, 1.5), "whole units for each of the"),
])
def test_a_policy_that_orders_nonsense_is_refused_with_the_reason(catalog, policy, message):
    with pytest.raises(ValueError, match=message):
        run(catalog, policy)
