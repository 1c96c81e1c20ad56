"""A simulated day's ledger per store x SKU: the books balance exactly, from the events."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.business.ledger import LedgerError, day_ledger, with_ledgers
from retail.sim import SimConfig, Simulator, generate_catalog


@pytest.fixture(scope="module")
def run():
    catalog = generate_catalog(3, 80, 9)
    sim = Simulator(catalog, SimConfig(seed=9, rate=10, days=12, expiry=True,
                                       batch_events=2_000))
    return sim, list(with_ledgers(sim))


def test_every_pair_and_day_balances_and_every_movement_is_counted(run):
    sim, days = run
    ledger = pa.concat_tables(t for _, t in days)
    assert ledger.num_rows == sim.catalog.n_pairs * 12
    col = {c: ledger[c].to_numpy() for c in ledger.column_names if c not in ("day",)}
    assert (col["opening"] + col["delivered"] + col["returned"] + col["adjusted"] - col["sold"]
            - col["expired"] - col["shrunk"] == col["closing"]).all()
    for name, reason in (("delivered", "restock"), ("expired", "expired"), ("sold", "sale"),
                         ("shrunk", "shrinkage")):
        inv = pa.concat_tables(b.tables["inventory_update"] for b, _ in days)
        moved = pc.sum(pc.abs(inv.filter(pc.equal(inv["reason"], reason))["quantity_change"]))
        assert col[name].sum() == moved.as_py() > 0, name
    lost = sum(pc.sum(b.tables["lost_sale"]["lost_quantity"]).as_py() or 0 for b, _ in days)
    assert col["lost_units"].sum() == lost > 0
    # each day's closing stock is the next day's opening, pair by pair
    by_day = sorted(days, key=lambda d: (d[0].stores, d[0].day))
    for (b1, t1), (b2, t2) in zip(by_day, by_day[1:]):
        if b1.stores == b2.stores:
            assert t1["closing"].to_pylist() == t2["opening"].to_pylist()


def test_books_that_do_not_balance_are_refused_naming_the_pair(run):
    sim, days = run
    batch, ledger = days[0]
    closing = ledger["closing"].to_numpy().copy()
    closing[3] += 1
    with pytest.raises(LedgerError, match=r"pair \d+ on .* do not balance"):
        day_ledger(sim.catalog, batch, ledger["opening"].to_numpy(), closing,
                   np.zeros(len(closing), np.int64))
