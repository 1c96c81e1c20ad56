"""Inventory in the stream: running levels, discrepancies, velocity, stock-out risk, restock.

The per store x product state (level, sales velocity, open restock alert) comes in as an
Arrow table and goes out as one; where it is kept between micro-batches is the caller's
business. Velocity is an exponentially decayed rate of units sold per day: each sale adds
``units * ln2 / half_life`` and the rate halves every ``half_life`` without sales, so one
number per key carries the recent past.

Joins and groups follow SQL: a key with a null part matches nothing (it stays a row of its
own), while grouping puts equal keys together, nulls included.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail.streaming.alerts import TS, alert_table, json_objects, no_alerts, stable_uuid
from retail.streaming.keys import (as_text, code_count, group_max, groups_of, key_codes,
                                   left_join, lookup, take_at)
from retail.streaming.state import STATE_SCHEMA

KEY = ["store_id", "product_id"]
_MIN = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max

Column = pa.Array | pa.ChunkedArray


def _np(col: Column, type_: pa.DataType = pa.int64()) -> tuple[np.ndarray, np.ndarray]:
    """A column as numpy values (nulls as 0; timestamps as epoch ms) and validity."""
    if pa.types.is_timestamp(col.type):
        col = pc.cast(pc.cast(col, TS), pa.int64())
    return pc.fill_null(pc.cast(col, type_), 0).to_numpy(), pc.is_valid(col).to_numpy()


def _arrow(values: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type_, mask=~valid)


def _greatest(*cols: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """SQL ``greatest`` of int64 columns: nulls skipped, null only if all are."""
    values = np.maximum.reduce([np.where(ok, v, _MIN) for v, ok in cols])
    return values, np.logical_or.reduce([ok for _, ok in cols])


def _ceil_long(x: np.ndarray) -> np.ndarray:
    """``ceil`` to int64 as the JVM casts: NaN is 0, out of range saturates."""
    c = np.ceil(x)
    inside = (c > -2.0**63) & (c < 2.0**63)
    out = np.where(c >= 2.0**63, _MAX, _MIN * (c <= -2.0**63))
    out[inside] = c[inside].astype(np.int64)
    return out


def inventory_discrepancies(updates: pa.Table, state: pa.Table) -> pa.Table:
    """Alerts for updates whose ``new_quantity`` is not the running level + the change.

    ``updates``: inventory_update events (``offset`` orders them; one key, one partition);
    ``state``: ``store_id, product_id, quantity_on_hand`` before this batch.
    """
    if updates.num_rows == 0:
        return no_alerts()
    group, s_code = key_codes([updates, state], KEY)
    rows, s_rows = left_join(group, s_code)
    state_level, state_ok = take_at(*_np(state["quantity_on_hand"]), s_rows)
    offset, offset_ok = _np(updates["offset"])
    # in offset order (nulls first) within each key
    order = np.lexsort((offset[rows], offset_ok[rows], group[rows]))
    rows, state_level, state_ok = rows[order], state_level[order], state_ok[order]
    new, new_ok = (a[rows] for a in _np(updates["new_quantity"]))
    change, change_ok = (a[rows] for a in _np(updates["quantity_change"]))
    same_key = np.r_[False, group[rows][1:] == group[rows][:-1]]
    lag_ok = same_key & np.r_[False, new_ok[:-1]]
    previous = np.where(lag_ok, np.r_[0, new[:-1]], state_level)
    previous_ok = lag_ok | state_ok
    expected, expected_ok = previous + change, previous_ok & change_ok
    difference = new - expected
    hit = previous_ok & expected_ok & new_ok & (difference != 0)
    if not hit.any():
        return no_alerts()
    at = rows[hit]
    found = updates.take(pa.array(at, pa.int64()))
    size = np.abs(difference[hit])
    severity = pc.take(pa.array(["low", "medium", "high"]),
                       pa.array((size >= 3).astype(np.int64) + (size >= 10)))
    return alert_table(
        alert_type="inventory_discrepancy", severity=severity,
        metric=pa.array(difference[hit], pa.int64()), threshold=0.0,
        details={"inventory_id": found["inventory_id"],
                 "previous_level": pa.array(previous[hit], pa.int64()),
                 "quantity_change": found["quantity_change"],
                 "expected": pa.array(expected[hit], pa.int64()),
                 "new_quantity": found["new_quantity"], "reason": found["reason"]},
        store_id=found["store_id"], product_id=found["product_id"],
        event_time=found["event_time"])


def decayed(rate: np.ndarray, since: np.ndarray, until: np.ndarray, until_ok: np.ndarray,
            half_life_hours: float) -> np.ndarray:
    """``rate`` decayed from ``since`` to ``until`` (epoch ms) with the half-life (not at
    all where ``until`` is unknown)."""
    hours = np.where(until_ok, (until - since) / 3_600_000.0, 0.0)
    return rate * np.power(0.5, np.maximum(hours, 0.0) / half_life_hours)


def next_state(state: pa.Table, updates: pa.Table, sales: pa.Table, *,
               half_life_hours: float) -> pa.Table:
    """State after a batch: last level from ``updates``, velocity from ``sales``.

    Keys appear if they are in ``state`` or in this batch. Velocity is evaluated at each
    key's last event time in the batch (event time, so a replay gives the same answer).
    """
    gain = math.log(2) / (half_life_hours / 24.0)  # per unit sold, in units per day
    sold = sales.filter(pc.fill_null(pc.equal(sales["transaction_type"], "sale"), False))
    s_code, u_code, x_code = key_codes([state, updates, sold], KEY)

    offset, offset_ok = _np(updates["offset"])
    u_order = np.lexsort((offset, offset_ok, u_code))  # the last of a key: its max offset
    u_keys, u_first, u_last = groups_of(u_code, u_order)
    new, new_ok = _np(updates["new_quantity"])
    at_last = u_order[u_last]
    level, level_ok = new[at_last], new_ok[at_last] & offset_ok[at_last]
    update_time = group_max(*_np(updates["event_time"]), u_order, u_first)

    x_order = np.argsort(x_code, kind="stable")
    x_keys, x_first, _ = groups_of(x_code, x_order)
    quantity, _ = _np(sold["quantity"])
    # units per key (0 for no known quantity: the sum is null, then coalesced to 0)
    units = np.add.reduceat(quantity[x_order], x_first) if len(x_first) else quantity[:0]
    sale_time = group_max(*_np(sold["event_time"]), x_order, x_first)

    n_state = len(s_code)
    every = np.r_[s_code, u_code, x_code]
    first = np.full(code_count(every), len(every))
    np.minimum.at(first, every, np.arange(len(every)))
    fresh = np.flatnonzero((first >= n_state) & (first < len(every)))  # keys new to the state
    source = first[fresh]  # a row of each
    codes = np.r_[s_code, fresh]
    iu, ix = lookup(u_keys, codes), lookup(x_keys, codes)
    rows = pa.array(np.r_[np.arange(n_state), source])
    keys = {k: pc.take(pa.concat_arrays([as_text(t[k]) for t in (state, updates, sold)]), rows)
            for k in KEY}

    def pad(values: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.r_[values, np.zeros(len(fresh), values.dtype)],
                np.r_[ok, np.zeros(len(fresh), bool)])

    on_hand = pad(*_np(state["quantity_on_hand"]))
    lvl = take_at(level, level_ok, iu)
    now = _greatest(pad(*_np(state["last_event_time"])), take_at(*update_time, iu),
                    take_at(*sale_time, ix))
    velocity_at = pad(*_np(state["velocity_at"]))
    rate, _ = pad(*_np(state["velocity_per_day"], pa.float64()))
    since = np.where(velocity_at[1], velocity_at[0], now[0])
    sold_units, _ = take_at(units, np.ones(len(units), bool), ix)
    with np.errstate(all="ignore"):
        velocity = decayed(rate, since, now[0], now[1], half_life_hours) + sold_units * gain
    # never back in time: an older event adds its units without rewinding the clock
    clock = _greatest(velocity_at, now)
    return pa.table({
        **keys,
        "quantity_on_hand": _arrow(np.where(lvl[1], lvl[0], on_hand[0]),
                                   lvl[1] | on_hand[1], pa.int64()),
        "last_event_time": _arrow(now[0], now[1], TS),
        "velocity_per_day": pa.array(velocity, pa.float64()),
        "velocity_at": _arrow(clock[0], clock[1], TS),
        "restock_alert_id": pa.concat_arrays([as_text(state["restock_alert_id"]),
                                              pa.nulls(len(fresh), pa.string())]),
    }, schema=STATE_SCHEMA)


def stockout_risk(state: pa.Table, lead_times: pa.Table, *,
                  review_period_days: float) -> pa.Table:
    """Days of cover (on hand / velocity) against the supplier's lead time.

    ``risk = min(1, lead_time / days_of_cover)``: 1 means the shelf empties before an order
    placed now arrives. Adds ``lead_time_days, days_of_cover, stock_out_risk,
    reorder_point`` (demand over the lead time) and ``recommended_order_qty`` (up to
    lead time + review period of demand). ``lead_times``: ``product_id, lead_time_days``.
    """
    rows, l_rows = left_join(*key_codes([state, lead_times], ["product_id"]))
    if len(rows) != state.num_rows:  # a product with several lead times: one row each
        state = state.take(pa.array(rows, pa.int64()))
    lead_col = pc.take(lead_times["lead_time_days"], pa.array(l_rows, mask=l_rows < 0))
    v, v_ok = _np(state["velocity_per_day"], pa.float64())
    on_hand, on_hand_ok = _np(state["quantity_on_hand"])
    lead, lead_ok = _np(lead_col, pa.float64())
    with np.errstate(all="ignore"):
        selling = v_ok & ((v > 0) | np.isnan(v))  # NaN sorts above every number
        cover = np.maximum(on_hand, 0) / v
        cover_ok = selling & on_hand_ok
        ratio_ok = lead_ok & cover_ok
        # least(1, null) is 1; NaN, the greatest value, loses to 1 as well
        risk = np.where(~on_hand_ok, 0.0, np.where(
            on_hand <= 0, 1.0, np.where(v_ok & ~selling, 0.0, np.where(
                ratio_ok, np.fmin(1.0, lead / cover), 1.0))))
        reorder_ok = v_ok & lead_ok
        reorder = _ceil_long(v * lead)
        target = _ceil_long(v * (lead + review_period_days))
    order_qty = np.where(reorder_ok, np.maximum(target - on_hand, 0), 0)
    return state.append_column("lead_time_days", lead_col) \
        .append_column("days_of_cover", _arrow(cover, cover_ok, pa.float64())) \
        .append_column("stock_out_risk", pa.array(risk, pa.float64())) \
        .append_column("reorder_point", _arrow(reorder, reorder_ok, pa.int64())) \
        .append_column("recommended_order_qty", pa.array(order_qty, pa.int64()))


def decide_restock(risk: pa.Table, *, open_at: float, resolve_below: float) -> pa.Table:
    """Open an alert when risk reaches ``open_at`` and none is open; resolve it once risk
    falls below ``resolve_below``: one open alert per store x product, no storms.

    Returns ``risk`` with ``restock_alert_id`` updated and, on rows where something
    happened, ``restock_status`` (``open`` | ``resolved``; null elsewhere) and the alert's
    ``alert_id, details``; ``severity`` on every row. ``details`` is null on the rows
    without a status (nothing reads it there).
    """
    score, score_ok = _np(risk["stock_out_risk"], pa.float64())
    nan = np.isnan(score)  # NaN sorts above every number
    on_hand, on_hand_ok = _np(risk["quantity_on_hand"])
    open_id = as_text(risk["restock_alert_id"])
    has_open = pc.fill_null(pc.not_equal(open_id, ""), False).to_numpy(zero_copy_only=False)
    opening = ~has_open & on_hand_ok & score_ok & ((score >= open_at) | nan)
    closing = has_open & score_ok & (score < resolve_below) & ~nan
    acted = opening | closing
    rank = np.select([on_hand_ok & (on_hand <= 0), score_ok & ((score >= 1.0) | nan),
                      score_ok & ((score >= 0.9) | nan)], [3, 2, 1], 0)
    severity = pc.take(pa.array(["low", "medium", "high", "critical"]), pa.array(rank))
    status = pc.take(pa.array(["open", "resolved", None], pa.string()),
                     pa.array(np.where(opening, 0, np.where(closing, 1, 2))))
    is_opening, is_closing, nothing = pa.array(opening), pa.array(closing), \
        pa.nulls(risk.num_rows, pa.string())
    born = risk.filter(is_opening)
    new_id = stable_uuid("restock", born["store_id"], born["product_id"],
                         pc.cast(born["last_event_time"], TS))
    alert_id = pc.replace_with_mask(pc.if_else(is_closing, open_id, nothing), is_opening,
                                    new_id)
    kept = pc.if_else(is_closing, "", pc.fill_null(open_id, ""))
    touched = risk.filter(pa.array(acted))
    details = pc.replace_with_mask(nothing, pa.array(acted), json_objects({
        k: touched[k] for k in ("quantity_on_hand", "velocity_per_day", "days_of_cover",
                                "lead_time_days", "recommended_order_qty")}))
    out = risk
    # all read the incoming columns (restock_alert_id is replaced last, as a whole)
    for name, col in (("restock_status", status), ("alert_id", alert_id),
                      ("severity", severity), ("details", details),
                      ("restock_alert_id", pc.replace_with_mask(kept, is_opening, new_id))):
        at = out.schema.get_field_index(name)
        out = out.set_column(at, name, col) if at >= 0 else out.append_column(name, col)
    return out
