"""Supplier deliveries and tonight's replenishment orders for one group of stores and day.

Orders go out a few minutes before local midnight. By default the chain orders by its own
fixed policy (:func:`fixed_policy`): a pair whose stock plus open orders is at or below its
reorder point orders up to its order-up-to level, in whole packs. A simulator given an
``order_policy`` (another callable of the same signature, e.g. the platform's
recommendations) orders what that returns instead. The supplier
promises its quoted lead time, the catalog's ``lead_time_mean_days``: that is the order's
``expected_arrival``. The order actually arrives after a lead time drawn from a lognormal
with the catalog's mean and standard deviation (positive and skewed to the right, as
delays pile up), at whatever hour that gives: stores take deliveries round the clock. So
per supplier the delivered lead times average the catalog mean and spread by its sd, and
about 42-47 % of deliveries (P(lead > mean) for the catalog's spreads) arrive after the
promise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from retail.sim.tables import event_table

if TYPE_CHECKING:
    from retail.sim.day import DayContext
    from retail.sim.engine import Simulator

MAX_SHIPMENT_UNITS = 24_000
MIN_LEAD_DAYS = 0.25  # a floor the lognormal practically never reaches (mean >= 2 days)
_ORDER_SEC = 23 * 3600 + 3300  # orders go out from 23:55 local time
_DAY_SEC = 86_400
_STATUS = pa.array(["delivered", "ordered"])


def lead_times(rng: np.random.Generator, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Actual lead times in days: lognormal with mean ``mean`` and standard deviation ``sd``
    (per order), floored at MIN_LEAD_DAYS."""
    sigma2 = np.log1p((sd / mean) ** 2)
    mu = np.log(mean) - sigma2 / 2
    return np.maximum(rng.lognormal(mu, np.sqrt(sigma2)), MIN_LEAD_DAYS)


def fixed_policy(sim: Simulator, ctx: DayContext, p0: int, p1: int) -> np.ndarray:
    """The chain's own ordering, without the platform: a pair whose stock plus open orders
    is at or below its reorder point orders up to its order-up-to level, in whole packs
    (both fixed per pair when the simulator starts). Units to order per pair of
    ``[p0, p1)``, 0 for none."""
    pos = sim.stock[p0:p1] + sim.on_order[p0:p1]
    pack = sim.catalog.product_pack[sim.catalog.pair_product[p0:p1]]
    up = np.ceil((sim.order_up_to[p0:p1] - pos) / pack).astype(np.int64) * pack
    return np.where(pos <= sim.reorder_point[p0:p1], up, 0)


def _orders(sim: Simulator, ctx: DayContext, p0: int, p1: int) -> np.ndarray:
    """Tonight's units to order per pair of ``[p0, p1)``, from the simulator's policy."""
    qty = (sim.order_policy or fixed_policy)(sim, ctx, p0, p1)
    qty = np.asarray(qty)
    if qty.shape != (p1 - p0,) or not np.issubdtype(qty.dtype, np.integer):
        raise ValueError(f"an ordering policy must give whole units for each of the {p1 - p0} "
                         f"pairs of stores {ctx.stores}, got {qty.dtype} {qty.shape}")
    if (qty < 0).any():
        raise ValueError(f"an ordering policy ordered negative units ({int(qty.min())}) on "
                         f"{ctx.day}")
    return qty.astype(np.int64)


def shipments(sim: Simulator, ctx: DayContext, p0: int, p1: int,
              deliv: dict[str, np.ndarray] | None, utc_ms, ids) -> pa.Table:
    """Deliveries that arrived today (``deliv``, due today) and tonight's orders, which are
    queued on ``sim`` for the day they arrive.

    Args:
        p0, p1: the group's pairs, ``[p0, p1)``.
        utc_ms: ``(store, local seconds) -> UTC epoch ms`` on ``ctx.day``.
        ids: ``(prefix, store, seq, width) -> ids`` of ``ctx.day``.
    """
    c, rng = sim.catalog, ctx.rng
    wanted = _orders(sim, ctx, p0, p1)
    need = np.flatnonzero(wanted > 0)
    pair = need + p0
    prod = c.pair_product[pair]
    qty = wanted[need]
    sup = c.product_supplier[prod]
    lead_s = np.round(lead_times(rng, c.supplier_lead_mean[sup], c.supplier_lead_sd[sup])
                      * _DAY_SEC).astype(np.int64)
    promised_ms = np.round(c.supplier_lead_mean[sup] * _DAY_SEC * 1000).astype(np.int64)
    order_sec = _ORDER_SEC + rng.integers(0, 240, size=len(pair))
    # A big order ships as several loads of at most MAX_SHIPMENT_UNITS (a multiple of every
    # pack size), so no single delivery is an implausible stock movement. Loads of one
    # order travel together.
    loads = -(-qty // MAX_SHIPMENT_UNITS)
    order = np.repeat(np.arange(len(pair)), loads)
    load_no = np.arange(len(order)) - np.repeat(np.cumsum(loads) - loads, loads)
    qty = np.minimum(MAX_SHIPMENT_UNITS, qty[order] - load_no * MAX_SHIPMENT_UNITS)
    pair, lead_s, promised_ms, order_sec = (a[order] for a in
                                            (pair, lead_s, promised_ms, order_sec))
    store = c.pair_store[pair]
    ordered_ms = utc_ms(store, order_sec)
    expected_ms = ordered_ms + promised_ms
    arrival_sec = order_sec + lead_s  # local seconds from the start of today
    ship = ids("SH", store, np.arange(1, len(pair) + 1), 6)
    np.add.at(sim.on_order, pair, qty)
    sim.schedule(sim.pending_deliveries, ctx.stores, {
        "due_day": ctx.day_index + arrival_sec // _DAY_SEC, "pair": pair, "qty": qty,
        "arrival_sec": arrival_sec % _DAY_SEC,
        "shipment": np.asarray(ship.to_pylist(), dtype=object),
        "ordered_ms": ordered_ms, "expected_ms": expected_ms,
    })
    n_del = 0 if deliv is None else len(deliv["pair"])
    d_pair = deliv["pair"] if n_del else np.zeros(0, np.int64)
    d_store = c.pair_store[d_pair]
    all_pair = np.concatenate([d_pair, pair])
    all_store = c.pair_store[all_pair]
    all_prod = c.pair_product[all_pair]
    delivered_ms = utc_ms(d_store, deliv["arrival_sec"]) if n_del else np.zeros(0, np.int64)
    return event_table("supplier_shipment", ctx.run, ctx.day, all_store,
                       np.concatenate([delivered_ms, ordered_ms]), {
        "shipment_id": pa.concat_arrays([
            pa.array(deliv["shipment"], pa.string()) if n_del else pa.array([], pa.string()),
            ship]),
        "supplier_id": c.suppliers["supplier_id"].take(pa.array(c.product_supplier[all_prod])),
        "store_id": c.stores["store_id"].take(pa.array(all_store)),
        "product_id": c.products["product_id"].take(pa.array(all_prod)),
        "quantity": np.concatenate([deliv["qty"] if n_del else np.zeros(0, np.int64), qty]),
        "unit_cost": c.product_cost[all_prod],
        "status": _STATUS.take(pa.array(np.repeat([0, 1], [n_del, len(pair)]))),
        "ordered_at": np.concatenate([deliv["ordered_ms"] if n_del else np.zeros(0, np.int64),
                                      ordered_ms]),
        "expected_arrival": np.concatenate(
            [deliv["expected_ms"] if n_del else np.zeros(0, np.int64), expected_ms]),
    })
