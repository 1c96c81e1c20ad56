"""One local day of one group of stores: demand, stock movements and the event tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail.sim.demand import (BASKET_LINES, HOURLY, MEAN_QTY, OPEN_HOURS, OPENS,
                               draw_baskets, seasonality)
from retail.sim.ids import compose_ids
from retail.sim.inventory import apply_movements
from retail.sim.pricing import CHANGE_TYPES, PriceChanges
from retail.sim.shoppers import FAVOURITE_HEADROOM
from retail.sim.profiles import CATEGORIES, PAYMENT_METHODS, STORE_TYPES
from retail.sim.supply import shipments
from retail.sim.tables import EventBatch, event_table

if TYPE_CHECKING:
    from retail.sim.engine import Simulator

RESTOCK, SALE, RETURN, SHRINK, ADJUST, EXPIRE = range(6)
REASONS = ("restock", "sale", "return", "shrinkage", "adjustment", "expired")
_RETURN_RATE = np.array([c.return_rate for c in CATEGORIES])
_SHRINK_RATE = np.array([c.shrink_rate for c in CATEGORIES])
_CONVERSION = np.array([t.conversion for t in STORE_TYPES])
ADJUST_RATE = 0.003
_NULL = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class DayContext:
    run: int  # the run's fingerprint: part of every event id
    day_index: int
    day: date
    stores: tuple[int, int]
    price_changes: PriceChanges
    day_mult: np.ndarray  # traffic multiplier per store of the group (calendar x local events)
    weather: np.ndarray  # (regions, categories) demand multipliers of the day
    rng: np.random.Generator


def _strings(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(values).take(pa.array(index))


def _nullable(ids: pa.Array, present: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(present), ids, _NULL)


def simulate_day(sim: Simulator, ctx: DayContext) -> EventBatch:
    c, rng, (s0, s1) = sim.catalog, ctx.rng, ctx.stores
    p0, p1 = int(c.store_pair_start[s0]), int(c.store_pair_start[s1])
    stores = np.arange(s0, s1)
    prod = c.pair_product[p0:p1]
    cat = c.product_category[prod]
    offset_ms = -c.store_offset.astype(np.int64) * 3_600_000
    day_ms = (ctx.day - date(1970, 1, 1)).days * 86_400_000
    ymd = ctx.day.year * 10_000 + ctx.day.month * 100 + ctx.day.day
    store_ids = c.stores["store_id"]
    product_ids = c.products["product_id"]

    def utc_ms(store: np.ndarray, local_sec: np.ndarray) -> np.ndarray:
        return day_ms + local_sec.astype(np.int64) * 1000 + offset_ms[store]

    def ids(prefix: str, store: np.ndarray, seq: np.ndarray, width: int) -> pa.Array:
        return compose_ids(prefix, [(store + 1, 5), (np.full(len(seq), ymd), 8), (seq, width)])

    # --- demand: the weather scales each category's pick weight and each store's baskets
    # by the mean factor over its assortment, so a category's units move by its own factor
    # the planted anomalies' and fades' pull (retail.sim.planted); a favourite is bought in
    # proportion to the same pull and the weather's (up to twice its usual rate), else the
    # line stays an ordinary pick (retail.sim.shoppers)
    mult = sim.planted.demand_multiplier(ctx.day_index, p0, p1)
    pull = ctx.weather[c.store_region[c.pair_store[p0:p1]], cat]
    hold = np.minimum(mult * pull / FAVOURITE_HEADROOM, 1.0)
    base = (c.popularity[prod] * seasonality(ctx.day.timetuple().tm_yday)[cat]
            * sim.prices.demand_lift(prod) * mult)
    weight = base * pull
    starts = c.store_pair_start[s0:s1] - p0
    day_mult = ctx.day_mult * np.add.reduceat(weight, starts) / np.add.reduceat(base, starts)
    if sim.expected is not None:
        # The oracle: the units the draw below expects of each pair (the store's
        # transactions x lines per basket, spread by the pair's share of its weight, the
        # loyal customers' favourites and the affinities' added lines, x units per line)
        lines = (sim.tx_rate[stores] * HOURLY[c.store_type[stores]].sum(axis=1) * day_mult
                 * BASKET_LINES[c.store_type[stores]])
        owner = c.pair_store[p0:p1] - s0
        share = weight / np.add.reduceat(weight, starts)[owner]
        expected_lines = sim.planted.shoppers.expected_lines(lines, share, hold, p0, stores)
        sim.expected.append((ctx.day, p0, expected_lines * MEAN_QTY[cat]))
    b = draw_baskets(rng, stores=stores, store_type=c.store_type[stores],
                     tx_rate=sim.tx_rate[stores], day_mult=day_mult,
                     pair_start=c.store_pair_start[s0:s1 + 1], pair_weight=weight,
                     pair_category=cat)
    b = sim.planted.shoppers.shape(b, rng, hold, p0)
    line_store = b.tx_store[b.line_tx]
    line_time = b.tx_time[b.line_tx]

    # --- supply and losses
    deliv = sim.take_due(sim.pending_deliveries, ctx.day_index, ctx.stores)
    n_del = 0 if deliv is None else len(deliv["pair"])
    del_time = deliv["arrival_sec"] if n_del else np.zeros(0, np.int64)
    rets = sim.take_due(sim.pending_returns, ctx.day_index, ctx.stores)
    n_ret = 0 if rets is None else len(rets["pair"])
    ret_store = c.pair_store[rets["pair"]] if n_ret else np.zeros(0, np.int64)
    st = c.store_type[ret_store]
    ret_time = OPENS[st] * 3600 + (rng.random(n_ret) * OPEN_HOURS[st] * 3600).astype(np.int64)
    shrink_pair = np.flatnonzero(rng.random(p1 - p0) < _SHRINK_RATE[cat]) + p0
    shrink_qty = 1 + rng.poisson(0.6, size=len(shrink_pair))
    shrink_time = rng.integers(0, 86_400, size=len(shrink_pair))
    adj_pair = np.flatnonzero(rng.random(p1 - p0) < ADJUST_RATE) + p0
    adj_delta = rng.choice([-1, 1], size=len(adj_pair)) * (1 + rng.poisson(0.8, len(adj_pair)))
    adj_time = 23 * 3600 + rng.integers(0, 3000, size=len(adj_pair))
    # planted discrepancies: the opening count finds units gone overnight (theft, damage)
    lost_pair, lost_units = sim.planted.discrepancies(ctx.day_index, p0, p1)
    adj_pair = np.concatenate([adj_pair, lost_pair])
    adj_delta = np.concatenate([adj_delta, -lost_units])
    adj_time = np.concatenate([adj_time, np.zeros(len(lost_pair), np.int64)])
    # perishable units that reached their shelf life, written off as the day starts
    rows = sim.shelf.rows(p0, p1) if sim.shelf is not None else None
    exp_pair = exp_qty = np.zeros(0, np.int64)
    if rows is not None:
        due = sim.shelf.expiring(ctx.day_index, rows)
        exp_pair, exp_qty = sim.shelf.pairs[rows][due > 0], due[due > 0]

    # --- every stock movement, applied in time order per pair (a write-off first of all)
    kinds = [RESTOCK, SALE, RETURN, SHRINK, ADJUST, EXPIRE]
    parts_pair = [deliv["pair"] if n_del else np.zeros(0, np.int64), b.line_pair,
                  rets["pair"] if n_ret else np.zeros(0, np.int64), shrink_pair, adj_pair,
                  exp_pair]
    parts_time = [del_time, line_time, ret_time, shrink_time, adj_time,
                  np.zeros(len(exp_pair), np.int64)]
    parts_delta = [deliv["qty"] if n_del else np.zeros(0, np.int64), -b.line_qty,
                   rets["qty"] if n_ret else np.zeros(0, np.int64), -shrink_qty, adj_delta,
                   -exp_qty]
    kind = np.concatenate([np.full(len(p), k) for k, p in zip(kinds, parts_pair)])
    src = np.concatenate([np.arange(len(p)) for p in parts_pair])
    pair = np.concatenate(parts_pair).astype(np.int64)
    local_t = np.concatenate(parts_time).astype(np.int64)
    key = np.where(kind == EXPIRE, -1, local_t * 8 + kind)
    mv = apply_movements(sim.stock[p0:p1], pair - p0, key, np.concatenate(parts_delta))
    sim.stock[p0:p1] = mv.closing
    if rows is not None:
        sim.shelf.book(ctx.day_index, rows, pair, kind == EXPIRE, mv.applied)

    is_sale = kind == SALE
    fulfilled = np.zeros(len(b.line_pair), dtype=np.int64)
    fulfilled[src[is_sale]] = -mv.applied[is_sale]
    lost = b.line_qty - fulfilled
    if n_del:
        np.subtract.at(sim.on_order, deliv["pair"], deliv["qty"])

    tables: dict[str, pa.Table] = {}
    tx_ids = ids("T", b.tx_store, b.tx_seq, 6)
    line_tx_ids = tx_ids.take(pa.array(b.line_tx))
    line_prod = c.pair_product[b.line_pair]
    unit_price = sim.prices.price[line_prod]
    pay_price = sim.prices.shelf_price(line_prod)
    wrong, factor = sim.planted.price_factor_pairs(ctx.day_index, p0, p1)
    if len(wrong):  # planted pricing errors: the till charges x10 or /10
        line_factor = np.ones(p1 - p0)
        line_factor[wrong - p0] = factor
        line_factor = line_factor[b.line_pair - p0]
        unit_price = np.round(unit_price * line_factor, 2)
        pay_price = np.round(pay_price * line_factor, 2)
    promo = sim.prices.promo_id[line_prod]

    # --- sales (sold lines and today's returns)
    sold = np.flatnonzero(fulfilled > 0)
    q = fulfilled[sold]
    disc = np.round(q * (unit_price[sold] - pay_price[sold]), 2)
    cust = b.tx_customer[b.line_tx[sold]]
    ret_seq = np.arange(1, n_ret + 1)
    ret_ids = ids("R", ret_store, ret_seq, 6) if n_ret else pa.array([], pa.string())
    r_pair = rets["pair"] if n_ret else np.zeros(0, np.int64)
    r_q = rets["qty"] if n_ret else np.zeros(0, np.int64)
    r_disc = np.round(r_q * rets["disc_unit"], 2) if n_ret else np.zeros(0)
    r_promo = rets["promo"] if n_ret else np.zeros(0, np.int64)
    all_promo = np.concatenate([promo[sold], r_promo])
    all_q = np.concatenate([q, r_q])
    all_price = np.concatenate([unit_price[sold], rets["price"] if n_ret else np.zeros(0)])
    all_disc = np.concatenate([disc, r_disc])
    all_store = np.concatenate([line_store[sold], ret_store])
    tables["sales_transaction"] = event_table(
        "sales_transaction", ctx.run, ctx.day, all_store, np.concatenate(
            [utc_ms(line_store[sold], line_time[sold]), utc_ms(ret_store, ret_time)]), {
        "transaction_id": pa.concat_arrays([line_tx_ids.take(pa.array(sold)), ret_ids]),
        "line_number": np.concatenate([b.line_number[sold], np.ones(n_ret, np.int64)]),
        "transaction_type": _strings(["sale", "return"], np.repeat([0, 1], [len(sold), n_ret])),
        "store_id": store_ids.take(pa.array(all_store)),
        "product_id": product_ids.take(pa.array(c.pair_product[np.concatenate(
            [b.line_pair[sold], r_pair])])),
        "quantity": all_q,
        "unit_price": all_price,
        "discount_amount": all_disc,
        "line_total": np.round(all_q * all_price - all_disc, 2),
        "promotion_id": _nullable(compose_ids("PRM", [(all_promo, 8)]), all_promo > 0),
        "currency": pa.array(["USD"] * len(all_q), pa.string()),
        "customer_id": pa.concat_arrays([
            _nullable(compose_ids("C", [(np.maximum(cust, 0), 9)], sep=""), cust >= 0),
            pa.nulls(n_ret, pa.string())]),
        "payment_method": _strings(list(PAYMENT_METHODS), np.concatenate(
            [b.tx_payment[b.line_tx[sold]], rets["payment"] if n_ret else np.zeros(0, int)])),
        "original_transaction_id": pa.concat_arrays([
            pa.nulls(len(sold), pa.string()),
            pa.array(rets["orig_tx"], pa.string()) if n_ret else pa.array([], pa.string())]),
    })

    # --- lost sales
    short = np.flatnonzero(lost > 0)
    tables["lost_sale"] = event_table("lost_sale", ctx.run, ctx.day, line_store[short],
                                      utc_ms(line_store[short], line_time[short]), {
        "lost_sale_id": ids("L", line_store[short], np.arange(1, len(short) + 1), 7),
        "transaction_id": line_tx_ids.take(pa.array(short)),
        "store_id": store_ids.take(pa.array(line_store[short])),
        "product_id": product_ids.take(pa.array(line_prod[short])),
        "requested_quantity": b.line_qty[short],
        "fulfilled_quantity": fulfilled[short],
        "lost_quantity": lost[short],
        "unit_price": unit_price[short],
    })

    # --- returns happen later: whole sold lines, 1 day to a month after the sale
    back = sold[rng.random(len(sold)) < _RETURN_RATE[cat[b.line_pair[sold] - p0]]]
    if len(back):
        sim.schedule(sim.pending_returns, ctx.stores, {
            "due_day": ctx.day_index + 1 + np.minimum(rng.geometric(0.25, len(back)) - 1, 29),
            "pair": b.line_pair[back], "qty": fulfilled[back], "price": unit_price[back],
            "disc_unit": unit_price[back] - pay_price[back], "promo": promo[back],
            "payment": b.tx_payment[b.line_tx[back]],
            "orig_tx": np.asarray(line_tx_ids.take(pa.array(back)).to_pylist(), dtype=object),
        })

    # --- inventory updates: one per movement that changed stock, in applied order
    moved = np.flatnonzero(mv.applied != 0)
    moved = moved[np.lexsort((moved, key[moved], pair[moved]))]
    mk, ms = kind[moved], src[moved]
    ref = pa.concat_arrays([
        pa.array(deliv["shipment"], pa.string()) if n_del else pa.array([], pa.string()),
        line_tx_ids, ret_ids, pa.nulls(1, pa.string())])
    base = np.cumsum([0, n_del, len(b.line_pair), n_ret])
    ref_idx = np.where(mk <= RETURN, base[np.minimum(mk, RETURN)] + ms, base[-1])
    m_pair = pair[moved]
    m_store = c.pair_store[m_pair]
    tables["inventory_update"] = event_table("inventory_update", ctx.run, ctx.day, m_store,
                                             utc_ms(m_store, local_t[moved]), {
        "inventory_id": ids("I", m_store, np.arange(1, len(moved) + 1), 8),
        "store_id": store_ids.take(pa.array(m_store)),
        "product_id": product_ids.take(pa.array(c.pair_product[m_pair])),
        "quantity_change": mv.applied[moved],
        "new_quantity": mv.new_level[moved],
        "reason": _strings(list(REASONS), mk),
        "reference_id": ref.take(pa.array(ref_idx)),
    })

    tables["customer_traffic"] = _traffic(ctx, c, b, fulfilled, pay_price, stores, utc_ms, ids)
    tables["price_change"] = _price_events(ctx, c, p0, p1, utc_ms, ids)
    tables["supplier_shipment"] = shipments(sim, ctx, p0, p1, deliv, utc_ms, ids)
    return EventBatch(day=ctx.day, stores=ctx.stores, tables=tables)


def _traffic(ctx, c, b, fulfilled, pay_price, stores, utc_ms, ids) -> pa.Table:
    """Hourly foot traffic, transactions and basket size per open store-hour."""
    n = len(stores)
    s_local = b.tx_store - stores[0]
    slot = s_local * 24 + b.tx_time // 3600
    units = np.bincount(b.line_tx, weights=fulfilled, minlength=len(b.tx_time))
    value = np.bincount(b.line_tx, weights=fulfilled * pay_price,
                        minlength=len(b.tx_time))
    bought = units > 0
    tx = np.bincount(slot[bought], minlength=n * 24)
    u = np.bincount(slot[bought], weights=units[bought], minlength=n * 24)
    v = np.bincount(slot[bought], weights=value[bought], minlength=n * 24)
    stype = c.store_type[stores]
    open_slot = np.array([[STORE_TYPES[t].opens <= h < STORE_TYPES[t].closes for h in range(24)]
                          for t in stype]).ravel()
    conv = np.repeat(_CONVERSION[stype], 24)
    browsers = ctx.rng.poisson(tx * (1 - conv) / conv + 0.5)
    sl = np.flatnonzero(open_slot)
    st = stores[sl // 24]
    hour_start = utc_ms(st, (sl % 24) * 3600)
    foot = tx[sl] + browsers[sl]
    with np.errstate(invalid="ignore", divide="ignore"):
        return event_table("customer_traffic", ctx.run, ctx.day, st, hour_start + 3_600_000, {
            "traffic_id": ids("H", st, sl % 24, 2),
            "store_id": c.stores["store_id"].take(pa.array(st)),
            "hour_start": hour_start,
            "foot_traffic": foot,
            "transactions": tx[sl],
            "conversion_rate": np.round(np.where(foot > 0, tx[sl] / np.maximum(foot, 1), 0.0), 4),
            "avg_basket_size": np.round(np.where(tx[sl] > 0, u[sl] / np.maximum(tx[sl], 1), 0), 3),
            "avg_basket_value": np.round(np.where(tx[sl] > 0, v[sl] / np.maximum(tx[sl], 1), 0), 2),
        })


def _price_events(ctx, c, p0, p1, utc_ms, ids) -> pa.Table:
    """Today's chain-wide price changes, as one event per store that stocks the SKU."""
    ch = ctx.price_changes
    prod = c.pair_product[p0:p1]
    rows_pair, rows_change = [], []
    for t in range(len(CHANGE_TYPES)):
        sel = np.flatnonzero(ch.change_type == t)
        order = np.argsort(ch.product[sel])
        keys = ch.product[sel][order]
        hit = np.flatnonzero(np.isin(prod, keys))
        rows_pair.append(hit + p0)
        rows_change.append(sel[order][np.searchsorted(keys, prod[hit])])
    pair = np.concatenate(rows_pair)
    change = np.concatenate(rows_change)
    store = c.pair_store[pair]
    promo = ch.promo_id[change]
    kind = ch.change_type[change]
    return event_table("price_change", ctx.run, ctx.day, store,
                       utc_ms(store, np.zeros(len(pair))) + kind, {
        "price_change_id": ids("PC", store, np.arange(1, len(pair) + 1), 7),
        "store_id": c.stores["store_id"].take(pa.array(store)),
        "product_id": c.products["product_id"].take(pa.array(c.pair_product[pair])),
        "old_price": ch.old_price[change],
        "new_price": ch.new_price[change],
        "change_type": _strings(list(CHANGE_TYPES), kind),
        "promotion_id": _nullable(compose_ids("PRM", [(promo, 8)]), promo > 0),
    })
