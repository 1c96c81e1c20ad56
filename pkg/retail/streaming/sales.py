"""Sales metrics over sliding event-time windows, and the sales anomalies of the stream:
spikes and drops, high-value baskets, price moves. Arrow tables in and out.

Windows are emitted as partial sums: each micro-batch contributes the units and revenue of
its own events, and the warehouse table (a SummingMergeTree) adds the partials of a window
together. So nothing has to be held back until a window closes, a window is visible (and
grows) within seconds, and a late partial simply adds to its window.

Inventory discrepancies live with the inventory functions (they need the running level).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail.streaming.alerts import TS, alert_table, concat_alerts, no_alerts
from retail.streaming.columns import (MONEY, cents_of, cents_to_double, codes_of, decimal_of,
                                      doubles, filled, greater, group_median, money_of,
                                      pick, valid_of)

STORE_LEVEL = ""  # product_id of the per-store rows
MAD_TO_SIGMA = 0.6745  # robust z = 0.6745 (x - median) / MAD (Iglewicz & Hoaglin)

MINUTE_MS = 60_000
METRICS_SCHEMA = pa.schema([
    ("window_start", TS), ("window_end", TS), ("store_id", pa.string()),
    ("product_id", pa.string()), ("units", pa.int64()), ("revenue", MONEY),
    ("lines", pa.int64()), ("velocity_per_hour", pa.float64()),
    ("revenue_per_hour", MONEY)])


def sales_window_metrics(sales: pa.Table, *, window_minutes: int = 5,
                         slide_minutes: int = 1) -> pa.Table:
    """Units, revenue and lines per window x store x product, plus per-store rows.

    ``sales`` has ``store_id, product_id, quantity`` (signed: returns negative),
    ``revenue`` (signed) and ``event_time``. Velocity and revenue are also given per hour
    (linear in the partials, so they add up like the sums). A window is
    [start, start + ``window_minutes``), its starts ``slide_minutes`` apart from the epoch;
    a sale counts in every window holding it, one without an event time in none.
    """
    if not 0 < slide_minutes <= window_minutes:
        raise ValueError(f"the slide ({slide_minutes} min) must be positive and at most "
                         f"the window ({window_minutes} min)")
    window, slide = window_minutes * MINUTE_MS, slide_minutes * MINUTE_MS
    unit = math.gcd(window, slide)  # windows are whole runs of these buckets
    ms = pc.cast(pc.cast(sales["event_time"], TS), pa.int64())
    rows = np.flatnonzero(valid_of(ms))
    if len(rows) == 0:
        return METRICS_SCHEMA.empty_table()
    bucket = filled(ms, 0)[rows] // unit
    stores, store = codes_of(sales["store_id"], rows)
    products, product = codes_of(sales["product_id"], rows)
    quantity = pc.cast(sales["quantity"], pa.int64())
    cents, has_cents = cents_of(sales["revenue"])
    sums = [filled(quantity, 0)[rows], valid_of(quantity)[rows].astype(np.int64),
            cents[rows], has_cents[rows].astype(np.int64)]
    levels = []
    for keys, product_of in ((store * len(products) + product, None), (store, STORE_LEVEL)):
        key, start, (units, has_units, revenue, has_revenue), lines = _window_sums(
            keys, bucket, sums, window // unit, slide // unit)
        if product_of is None:
            key, of = np.divmod(key, len(products))
            product_ids = products.take(pa.array(of))
        else:
            product_ids = pa.array([product_of] * len(key), pa.string())
        if np.any(np.abs(revenue) >= 10 ** 18):
            raise OverflowError("a window's revenue cannot be represented as Decimal(18, 2)")
        ms_start, per_hour = start * unit, 60.0 / window_minutes
        levels.append(pa.table([
            pa.array(ms_start, pa.int64()).cast(TS),
            pa.array(ms_start + window, pa.int64()).cast(TS),
            stores.take(pa.array(key)), product_ids,
            pa.array(units, pa.int64(), mask=has_units == 0),
            decimal_of(revenue, has_revenue > 0), pa.array(lines, pa.int64()),
            pa.array(units * per_hour, pa.float64(), mask=has_units == 0),
            money_of(cents_to_double(revenue) * per_hour, has_revenue > 0)],
            schema=METRICS_SCHEMA))
    return pa.concat_tables(levels)


def _window_sums(keys: np.ndarray, bucket: np.ndarray, parts: list[np.ndarray],
                 length: int, every: int):
    """Per key and window (``length`` buckets long, starting at the multiples of
    ``every``) holding any row: the key, the start bucket, the sums of ``parts`` (int64
    per row) over the window's rows, and their count."""
    lead = (length // every + 1) * every  # room before the first bucket, in whole slides
    base = bucket.min() // every * every - lead
    offset = bucket - base
    span = ((int(offset.max()) + length) // every + 1) * every  # one key's room
    if (int(keys.max()) + 1) * span >= 2 ** 62:
        raise OverflowError("too many keys x buckets for int64 window keys")
    slot = keys * span + offset
    order = np.argsort(slot, kind="stable")
    slot = slot[order]
    distinct = slot[np.r_[True, slot[1:] != slot[:-1]]]
    # the window starts up to each distinct slot not already counted for the one before
    low = np.maximum(distinct - length + 1, np.r_[np.iinfo(np.int64).min, distinct[:-1] + 1])
    first = -(-low // every) * every
    count = np.maximum(0, (distinct // every * every - first) // every + 1)
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    starts = np.repeat(first, count) + offsets * every
    lo = np.searchsorted(slot, starts, "left")
    hi = np.searchsorted(slot, starts + length - 1, "right")
    totals = [np.r_[0, np.cumsum(part[order])] for part in parts]
    key, start = np.divmod(starts, span)
    return key, start + base, [t[hi] - t[lo] for t in totals], hi - lo


def sales_anomalies(windows: pa.Table, history: pa.Table, *, z_threshold: float,
                    min_history: int) -> pa.Table:
    """Spikes and drops of a store's revenue in a window against its recent windows.

    ``windows`` (to judge) and ``history`` (the baseline) have ``store_id, window_start,
    revenue``. A store needs ``min_history`` baseline windows and some spread (MAD > 0).
    The baseline is the median of the store's windows, the spread the median absolute
    deviation from it (MAD), both exact medians (the mean of the two middle values when
    the count is even).
    """
    stores = pc.drop_null(pc.unique(pc.cast(history["store_id"], pa.string())))
    if len(stores) == 0 or windows.num_rows == 0:
        return no_alerts()
    k = len(stores)
    h = filled(pc.index_in(pc.cast(history["store_id"], pa.string()), stores), -1)
    known = h >= 0
    n = np.bincount(h[known], minlength=k)
    revenue, has_revenue = doubles(history["revenue"])
    median, has_median = group_median(h, revenue, known & has_revenue, k)
    hk = np.where(known, h, 0)
    deviation = np.abs(revenue - median[hk])
    mad, has_mad = group_median(h, deviation, known & has_revenue & has_median[hk], k)

    w = filled(pc.index_in(pc.cast(windows["store_id"], pa.string()), stores), -1)
    wi = np.where(w >= 0, w, 0)
    x, has_x = doubles(windows["revenue"])
    x_med, x_mad = median[wi], mad[wi]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = MAD_TO_SIGMA * (x - x_med) / x_mad
    flagged = (w >= 0) & (n[wi] >= min_history) & has_mad[wi] & greater(x_mad, 0) \
        & has_x & greater(np.abs(z), z_threshold)
    parts = []
    for alert_type, limit, rows in (("sales_spike", z_threshold, flagged & greater(z, 0)),
                                    ("sales_drop", -z_threshold, flagged & (z < 0))):
        i = np.flatnonzero(rows)
        if len(i) == 0:
            continue
        at = pc.cast(windows["window_start"].take(pa.array(i)), TS)
        zi = pa.array(z[i], pa.float64())
        parts.append(alert_table(
            alert_type=alert_type,
            severity=pick(greater(np.abs(z[i]), 2 * z_threshold), "high", "medium"),
            metric=zi, threshold=float(limit), store_id=windows["store_id"].take(pa.array(i)),
            product_id="", event_time=at,
            details={"window_start": at, "revenue": pa.array(x[i], pa.float64()),
                     "baseline_median": pa.array(x_med[i], pa.float64()),
                     "mad": pa.array(x_mad[i], pa.float64()), "z": zi,
                     "baseline_windows": pa.array(n[wi[i]], pa.int64())}))
    return concat_alerts(parts)


def high_value_transactions(sales: pa.Table, *, threshold: float) -> pa.Table:
    """Baskets (sale lines of one ``transaction_id``) worth more than ``threshold``.

    ``sales``: ``store_id, transaction_id, transaction_type, revenue, event_time``. A basket
    whose lines straddle two micro-batches is judged per part.
    """
    sold = pc.fill_null(pc.equal(sales["transaction_type"], "sale"), False)
    lines = sales.select(["store_id", "transaction_id", "revenue", "event_time"]).filter(sold)
    baskets = lines.group_by(["store_id", "transaction_id"], use_threads=False).aggregate(
        [("revenue", "sum"), ([], "count_all"), ("event_time", "max")])
    total, has_total = doubles(baskets["revenue_sum"])
    i = pa.array(np.flatnonzero(has_total & greater(total, threshold)), pa.int64())
    if len(i) == 0:
        return no_alerts()
    big = baskets.take(i)
    totals = pa.array(total[i.to_numpy()], pa.float64())
    return alert_table(
        alert_type="high_value_transaction",
        severity=pick(greater(totals.to_numpy(), 2 * threshold), "high", "medium"),
        metric=totals, threshold=float(threshold), product_id="",
        store_id=big["store_id"], event_time=big["event_time_max"],
        details={"transaction_id": big["transaction_id"], "total": totals,
                 "lines": big["count_all"]})


def suspicious_price_changes(changes: pa.Table, products: pa.Table, *,
                             max_change_pct: float) -> pa.Table:
    """Price moves larger than ``max_change_pct`` either way, or a new price below cost.

    ``changes``: ``store_id, product_id, old_price, new_price, change_type, event_time``;
    ``products``: ``product_id, unit_cost``. A change with an old price of 0 (and a new
    price) raises ``ZeroDivisionError``, as the Spark version did (ANSI mode).
    """
    cols = ["store_id", "product_id", "old_price", "new_price", "change_type", "event_time"]
    left = changes.select(cols).set_column(1, "product_id",
                                           pc.cast(changes["product_id"], pa.string()))
    right = pa.table({"product_id": pc.cast(products["product_id"], pa.string()),
                      "unit_cost": products["unit_cost"]})
    priced = left.join(right, "product_id", join_type="left outer", use_threads=False)
    (old, has_old), (new, has_new) = doubles(priced["old_price"]), doubles(priced["new_price"])
    cost, has_cost = doubles(priced["unit_cost"])
    has_pct = has_old & has_new
    if np.any(has_pct & (old == 0)):
        raise ZeroDivisionError("suspicious_price_changes: a price change from 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (new - old) / old * 100
    below_cost = has_cost & has_new & (new < cost)  # null (unknown new price) as false
    flagged = np.flatnonzero(has_pct & greater(np.abs(pct), max_change_pct) | below_cost)
    if len(flagged) == 0:
        return no_alerts()
    hit, pct, below_cost = priced.take(flagged), pct[flagged], below_cost[flagged]
    high = below_cost | has_pct[flagged] & greater(np.abs(pct), 2 * max_change_pct)
    return alert_table(
        alert_type="suspicious_price_change", severity=pick(high, "high", "medium"),
        metric=pa.array(pct, mask=~has_pct[flagged]), threshold=float(max_change_pct),
        store_id=hit["store_id"], product_id=hit["product_id"], event_time=hit["event_time"],
        details={"old_price": hit["old_price"], "new_price": hit["new_price"],
                 "unit_cost": hit["unit_cost"], "change_type": hit["change_type"],
                 "below_cost": pa.array(below_cost, mask=(has_cost & ~has_new)[flagged])})
