"""Inventory in the stream: running levels, discrepancies, velocity, stock-out risk, restock.

The per store x product state (level, sales velocity, open restock alert) comes in as a
DataFrame and goes out as one; where it is kept between micro-batches is the caller's
business. Velocity is an exponentially decayed rate of units sold per day: each sale adds
``units * ln2 / half_life`` and the rate halves every ``half_life`` without sales, so one
number per key carries the recent past.
"""

from __future__ import annotations

import math
from functools import cache

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from retail.transforms.alerts import alert_columns, stable_uuid

KEY = ["store_id", "product_id"]
STATE_COLUMNS = ("store_id", "product_id", "quantity_on_hand", "last_event_time",
                 "velocity_per_day", "velocity_at", "restock_alert_id")


def inventory_discrepancies(updates: DataFrame, state: DataFrame) -> DataFrame:
    """Alerts for updates whose ``new_quantity`` is not the running level + the change.

    ``updates``: inventory_update events (``offset`` orders them; one key, one partition);
    ``state``: ``store_id, product_id, quantity_on_hand`` before this batch.
    """
    levels, chained, differences, disagree, alerts = _discrepancy_columns()
    joined = updates.join(state.select(*levels), on=KEY, how="left")
    return joined.select(*chained).select(*differences).where(disagree).select(*alerts)


@cache
def _discrepancy_columns() -> tuple[list[Column], list[Column], list[Column], Column,
                                    list[Column]]:
    in_order = Window.partitionBy(*KEY).orderBy("offset")
    levels = [F.col(k) for k in KEY] + [F.col("quantity_on_hand").alias("state_level")]
    previous = F.coalesce(F.lag("new_quantity").over(in_order), F.col("state_level"))
    expected = F.col("previous") + F.col("quantity_change")
    differences = [F.col("*"), expected.alias("expected"),
                   (F.col("new_quantity") - expected).alias("difference")]
    disagree = F.col("previous").isNotNull() & (F.col("difference") != 0)
    severity = F.when(F.abs(F.col("difference")) >= 10, "high") \
        .when(F.abs(F.col("difference")) >= 3, "medium").otherwise("low")
    alerts = alert_columns(alert_type="inventory_discrepancy", severity=severity,
                           metric=F.col("difference"), threshold=0.0,
                           details={"inventory_id": F.col("inventory_id"),
                                    "previous_level": F.col("previous"),
                                    "quantity_change": F.col("quantity_change"),
                                    "expected": F.col("expected"),
                                    "new_quantity": F.col("new_quantity"),
                                    "reason": F.col("reason")})
    return levels, [F.col("*"), previous.alias("previous")], differences, disagree, alerts


def decayed(rate: Column, since: Column, until: Column, half_life_hours: float) -> Column:
    """``rate`` decayed from ``since`` to ``until`` (timestamps) with the half-life."""
    hours = (F.unix_millis(until) - F.unix_millis(since)) / 3_600_000.0
    return rate * F.pow(F.lit(0.5), F.greatest(hours, F.lit(0.0)) / half_life_hours)


def next_state(state: DataFrame, updates: DataFrame, sales: DataFrame, *,
               half_life_hours: float) -> DataFrame:
    """State after a batch: last level from ``updates``, velocity from ``sales``.

    Keys appear if they are in ``state`` or in this batch. Velocity is evaluated at each
    key's last event time in the batch (event time, so a replay gives the same answer).
    """
    level_aggs, sold_filter, sold_aggs, out = _next_state_columns(half_life_hours)
    levels = updates.groupBy(*KEY).agg(*level_aggs)
    sold = sales.where(sold_filter).groupBy(*KEY).agg(*sold_aggs)
    merged = state.join(levels, on=KEY, how="full").join(sold, on=KEY, how="full")
    return merged.select(*out)


@cache
def _next_state_columns(half_life_hours: float
                        ) -> tuple[list[Column], Column, list[Column], list[Column]]:
    gain = math.log(2) / (half_life_hours / 24.0)  # per unit sold, in units per day
    level_aggs = [F.max_by("new_quantity", "offset").alias("new_level"),
                  F.max("event_time").alias("update_time")]
    sold_aggs = [F.sum("quantity").alias("units"), F.max("event_time").alias("sale_time")]
    now = F.greatest("last_event_time", "update_time", "sale_time")
    old_rate = F.coalesce(F.col("velocity_per_day"), F.lit(0.0))
    since = F.coalesce(F.col("velocity_at"), now)
    rate = decayed(old_rate, since, now, half_life_hours) \
        + F.coalesce(F.col("units"), F.lit(0)) * gain
    out = [*[F.col(k) for k in KEY],
           F.coalesce("new_level", "quantity_on_hand").cast("long").alias("quantity_on_hand"),
           now.alias("last_event_time"), rate.alias("velocity_per_day"),
           # never back in time: an older event adds its units without rewinding the clock
           F.greatest("velocity_at", now).alias("velocity_at"), F.col("restock_alert_id")]
    return level_aggs, F.col("transaction_type") == "sale", sold_aggs, out


def stockout_risk(state: DataFrame, lead_times: DataFrame, *,
                  review_period_days: float) -> DataFrame:
    """Days of cover (on hand / velocity) against the supplier's lead time.

    ``risk = min(1, lead_time / days_of_cover)``: 1 means the shelf empties before an order
    placed now arrives. Adds ``lead_time_days, days_of_cover, stock_out_risk,
    reorder_point`` (demand over the lead time) and ``recommended_order_qty`` (up to
    lead time + review period of demand). ``lead_times``: ``product_id, lead_time_days``.
    """
    with_lead = state.join(F.broadcast(lead_times), on="product_id", how="left")
    return with_lead.select(*state.columns, *_risk_columns(review_period_days))


@cache
def _risk_columns(review_period_days: float) -> list[Column]:
    v, on_hand = F.col("velocity_per_day"), F.col("quantity_on_hand")
    selling = v > 0
    cover = F.when(selling & on_hand.isNotNull(), F.greatest(on_hand, F.lit(0)) / v)
    risk = (F.when(on_hand.isNull(), None)
            .when(on_hand <= 0, 1.0)
            .when(~selling, 0.0)
            .otherwise(F.least(F.lit(1.0), F.col("lead_time_days") / cover)))
    target = F.ceil(v * (F.col("lead_time_days") + review_period_days))
    return [F.col("lead_time_days"), cover.alias("days_of_cover"),
            F.coalesce(risk, F.lit(0.0)).alias("stock_out_risk"),
            F.ceil(v * F.col("lead_time_days")).cast("long").alias("reorder_point"),
            F.greatest(target - F.coalesce(on_hand, F.lit(0)), F.lit(0)).cast("long")
            .alias("recommended_order_qty")]


def decide_restock(risk: DataFrame, *, open_at: float, resolve_below: float) -> DataFrame:
    """Open an alert when risk reaches ``open_at`` and none is open; resolve it once risk
    falls below ``resolve_below``: one open alert per store x product, no storms.

    Returns ``risk`` with ``restock_alert_id`` updated and, on rows where something
    happened, ``restock_status`` (``open`` | ``resolved``; null elsewhere) and the alert's
    ``alert_id, severity, details``.
    """
    return risk.withColumns(_restock_columns(open_at, resolve_below))


@cache
def _restock_columns(open_at: float, resolve_below: float) -> dict[str, Column]:
    score, open_id = F.col("stock_out_risk"), F.col("restock_alert_id")
    has_open = open_id.isNotNull() & (open_id != "")
    opening = ~has_open & F.col("quantity_on_hand").isNotNull() & (score >= open_at)
    closing = has_open & (score < resolve_below)
    details = F.to_json(F.struct("quantity_on_hand", "velocity_per_day", "days_of_cover",
                                 "lead_time_days", "recommended_order_qty"))
    new_id = stable_uuid(F.lit("restock"), F.col("store_id"), F.col("product_id"),
                         F.col("last_event_time"))
    # all read the incoming columns (restock_alert_id is replaced last, as a whole)
    return {"restock_status": F.when(opening, "open").when(closing, "resolved"),
            "alert_id": F.when(opening, new_id).when(closing, open_id),
            "severity": F.when(F.col("quantity_on_hand") <= 0, "critical")
            .when(score >= 1.0, "high").when(score >= 0.9, "medium").otherwise("low"),
            "details": details,
            "restock_alert_id": F.when(opening, new_id).when(closing, F.lit(""))
            .otherwise(F.coalesce(open_id, F.lit("")))}
