"""A simulated day's stock ledger per store x SKU: what came in, what went out, what it cost.

Built from the day's event tables (what the platform sees) and the simulator's opening
stock. The books must balance exactly, pair by pair:

    opening + delivered + returned + adjusted - sold - expired - shrunk = closing

(``adjusted`` is signed: counts that found units or found them missing).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail.sim.catalog import Catalog
from retail.sim.engine import Simulator
from retail.sim.tables import EventBatch

# inventory_update reasons -> ledger column and the sign that makes it a positive amount
_MOVES = {"restock": ("delivered", 1), "sale": ("sold", -1), "return": ("returned", 1),
          "expired": ("expired", -1), "shrinkage": ("shrunk", -1),
          "adjustment": ("adjusted", 1)}
LEDGER_COLUMNS = ("day", "pair", "opening", "delivered", "returned", "adjusted", "sold",
                  "expired", "shrunk", "closing", "lost_units", "lost_value", "demand_units",
                  "orders", "ordered_units", "unit_cost", "order_up_to")


class LedgerError(ValueError):
    """The books of a day do not balance."""


def pair_index(catalog: Catalog, t: pa.Table) -> np.ndarray:
    """Each row's pair (store x SKU) index in the catalog."""
    store = pc.cast(pc.utf8_slice_codeunits(t["store_id"], 1), pa.int64()).to_numpy() - 1
    prod = pc.cast(pc.utf8_slice_codeunits(t["product_id"], 1), pa.int64()).to_numpy() - 1
    key = catalog.pair_store.astype(np.int64) * catalog.n_products + catalog.pair_product
    pos = np.searchsorted(key, store * catalog.n_products + prod)
    if len(pos) and (pos.max() >= len(key) or (key[pos] != store * catalog.n_products
                                                + prod).any()):
        raise LedgerError("an event names a store x SKU the catalog does not stock")
    return pos


def day_ledger(catalog: Catalog, batch: EventBatch, opening: np.ndarray,
               closing: np.ndarray, order_up_to: np.ndarray) -> pa.Table:
    """The ledger of one store group's day (``batch``): one row per pair of the group, from
    ``opening`` and ``closing`` stock (the group's pairs, as the simulator held them).

    Raises:
        LedgerError: a pair's movements do not take its opening stock to its closing stock.
    """
    p0 = int(catalog.store_pair_start[batch.stores[0]])
    n = int(catalog.store_pair_start[batch.stores[1]]) - p0
    cols = {name: np.zeros(n, np.int64) for name, _ in _MOVES.values()}
    inv = batch.tables["inventory_update"]
    where = pair_index(catalog, inv) - p0
    change = inv["quantity_change"].to_numpy()
    reason = inv["reason"].to_numpy(zero_copy_only=False)
    for name, (column, sign) in _MOVES.items():
        sel = reason == name
        np.add.at(cols[column], where[sel], sign * change[sel])
    lost = batch.tables["lost_sale"]
    at = pair_index(catalog, lost) - p0
    lost_units = np.bincount(at, lost["lost_quantity"].to_numpy(), minlength=n).astype(np.int64)
    lost_value = np.bincount(at, pc.multiply(lost["lost_quantity"], lost["unit_price"])
                             .to_numpy(), minlength=n)
    ship = batch.tables["supplier_shipment"]
    ship = ship.filter(pc.equal(ship["status"], "ordered"))
    at = pair_index(catalog, ship) - p0
    orders = np.bincount(at, minlength=n).astype(np.int64)
    ordered = np.bincount(at, ship["quantity"].to_numpy(), minlength=n).astype(np.int64)
    sold_lines = np.zeros(n, np.int64)
    sales = batch.tables["sales_transaction"]
    sales = sales.filter(pc.equal(sales["transaction_type"], "sale"))
    np.add.at(sold_lines, pair_index(catalog, sales) - p0, sales["quantity"].to_numpy())
    books = (opening + cols["delivered"] + cols["returned"] + cols["adjusted"] - cols["sold"]
             - cols["expired"] - cols["shrunk"])
    if (books != closing).any() or (sold_lines != cols["sold"]).any():
        bad = int(np.flatnonzero((books != closing) | (sold_lines != cols["sold"]))[0])
        raise LedgerError(f"the books of pair {p0 + bad} on {batch.day} do not balance: "
                          f"opening {opening[bad]} and its movements give {books[bad]}, "
                          f"closing is {closing[bad]}; sale lines {sold_lines[bad]}, sale "
                          f"movements {cols['sold'][bad]}")
    pairs = np.arange(p0, p0 + n)
    return pa.table({
        "day": pa.array([batch.day] * n, pa.date32()), "pair": pairs,
        "opening": opening, **cols, "closing": closing,
        "lost_units": lost_units, "lost_value": lost_value,
        "demand_units": cols["sold"] + lost_units, "orders": orders, "ordered_units": ordered,
        "unit_cost": catalog.product_cost[catalog.pair_product[pairs]],
        "order_up_to": order_up_to,
    }).select(list(LEDGER_COLUMNS))


def with_ledgers(sim: Simulator, batches: Iterator[EventBatch] | None = None
                 ) -> Iterator[tuple[EventBatch, pa.Table]]:
    """``batches`` of ``sim`` (default: all its configured days), each with its ledger. The
    order-up-to level is the chain's fixed one (``sim.order_up_to``), the yardstick of
    overstock whatever policy orders."""
    c = sim.catalog
    batches = sim.run() if batches is None else batches
    while True:
        opening = sim.stock.copy()
        try:
            batch = next(batches)
        except StopIteration:
            return
        p0, p1 = (int(c.store_pair_start[s]) for s in batch.stores)
        yield batch, day_ledger(c, batch, opening[p0:p1], sim.stock[p0:p1].copy(),
                                sim.order_up_to[p0:p1])
