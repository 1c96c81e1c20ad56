"""Replenishment as DataFrame functions: ABC classes, the forecast window's demand, shelf
capacity, lead-time training rows, and per store x product the order recommendation with
its stock-out risk (formulas and symbols in docs/models.md, Replenishment).

Inputs (the contract; the job reads them, nothing here does IO):

* ``forecasts``: one row per ``store_key, product_key, target_date`` of D+1..D+h with
  ``horizon, forecast`` (mean demand), ``lower_95, upper_95`` (80 % bounds may be there
  too; unused) and, optionally, ``on_promotion`` (a promotion planned for the target day,
  the forecast input ``target_on_promotion``).
* ``positions``: one row per pair at the end of D: ``on_hand, on_order`` (the snapshot),
  ``abc_class``, ``pack_size``, ``shelf_life_days`` (null: keeps), ``shelf_capacity``
  (null: no cap), ``lead_time_days, lead_time_sd_days`` and ``baseline_demand`` (the
  pair's recent mean daily demand, e.g. the feature ``demand_mean_30``; null: no promotion
  detection).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from statistics import NormalDist

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

KEY = ["store_key", "product_key"]
# The 95 % interval spans +-Z_95 standard deviations of a normal daily demand.
Z_95 = NormalDist().inv_cdf(0.975)
REASONS = ("below_reorder_point", "promotion_ahead", "capacity_cap", "shelf_life_cap")
# Floating-point noise in S - position must not buy a whole extra pack.
_EPS = 1e-9
# Abramowitz & Stegun 26.2.17: the normal upper tail to within 7.5e-8 from built-ins.
_AS_P = 0.2316419
_AS_B = (0.319381530, -0.356563782, 1.781477937, -1.821255978, 1.330274429)


def classify_abc(revenue: DataFrame, *, a_share: float, b_share: float) -> DataFrame:
    """ABC class per product from its revenue share.

    ``revenue``: ``product_key, revenue`` (one row per product, over the caller's window).
    Products sorted by revenue (ties by key): A while the share of the revenue of the
    products before it is below ``a_share``, B below ``b_share``, else C; a product without
    revenue is C. Returns ``product_key, revenue, revenue_share, abc_class``.
    """
    ranked = Window.orderBy(F.desc("revenue"), "product_key")
    before = F.coalesce(F.sum("revenue").over(
        ranked.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0.0))
    total = F.sum("revenue").over(Window.partitionBy())
    share_before = before / total
    sells = F.col("revenue") > 0
    abc = (F.when(~sells, "C").when(share_before < a_share, "A")
           .when(share_before < b_share, "B").otherwise("C"))
    return revenue.select(
        "product_key", F.col("revenue").cast("double").alias("revenue"),
        F.when(total > 0, F.col("revenue") / total).otherwise(0.0).alias("revenue_share"),
        abc.alias("abc_class"))


def summarize_forecast(forecasts: DataFrame) -> DataFrame:
    """The forecast window per pair: ``horizon_days`` (rows), ``demand_mean`` (d, mean of
    ``forecast``), ``demand_sd`` (sigma_d: the root mean square of the daily sds, each
    ``(upper_95 - lower_95) / (2 * Z_95)``, so sigma_d^2 is the mean daily variance) and
    ``demand_peak`` (the largest daily forecast), ``promotion_planned`` (a day of the
    window has ``on_promotion``; null without that column)."""
    daily_sd = (F.col("upper_95") - F.col("lower_95")) / (2 * Z_95)
    planned = (F.max(F.col("on_promotion").cast("boolean"))
               if "on_promotion" in forecasts.columns else F.lit(None).cast("boolean"))
    return forecasts.groupBy(*KEY).agg(
        F.count(F.lit(1)).alias("horizon_days"),
        F.avg("forecast").alias("demand_mean"),
        F.sqrt(F.avg(daily_sd * daily_sd)).alias("demand_sd"),
        F.max("forecast").alias("demand_peak"), planned.alias("promotion_planned"))


def derive_shelf_capacity(snapshots: DataFrame, *, headroom: float) -> DataFrame:
    """Shelf capacity per pair where the warehouse has no planogram: ``ceil(headroom *``
    the most it held at the end of a day of ``snapshots`` (``store_key, product_key,
    on_hand``, the caller's window)``)``; null (no cap) for a pair that never held stock."""
    most = F.max("on_hand")
    cap = F.when(most > 0, F.ceil(most * headroom)).cast("long")
    return snapshots.groupBy(*KEY).agg(cap.alias("shelf_capacity"))


def lead_time_rows(shipments: DataFrame, stores: DataFrame) -> DataFrame:
    """Training rows of the lead-time regression: each shipment ordered and delivered.

    ``shipments``: fact_supplier_shipments columns ``shipment_id, status, date_key,
    supplier_id, store_id, quantity, ordered_at, event_time``; ``stores``: ``store_id,
    region``. Returns ``shipment_id, supplier_id, region, order_qty, order_date,
    order_weekday`` (ISO, 1 = Monday, of the order's store-local day), ``ordered_at,
    delivered_at, lead_time_days`` (fractional days from order to delivery).
    """
    is_order, is_delivery = F.col("status") == "ordered", F.col("status") == "delivered"
    ordered = shipments.where(is_order).select(
        "shipment_id", "supplier_id", "store_id",
        F.col("quantity").cast("double").alias("order_qty"),
        F.to_date(F.col("date_key").cast("string"), "yyyyMMdd").alias("order_date"),
        "ordered_at").dropDuplicates(["shipment_id"])
    delivered = shipments.where(is_delivery).groupBy("shipment_id").agg(
        F.min("event_time").alias("delivered_at"))
    regions = stores.select("store_id", "region")
    millis = F.unix_millis("delivered_at") - F.unix_millis("ordered_at")
    return (ordered.join(delivered, on="shipment_id", how="inner")
            .join(F.broadcast(regions), on="store_id", how="left")
            .select("shipment_id", "supplier_id", "region", "order_qty", "order_date",
                    (F.weekday("order_date") + 1).alias("order_weekday"),
                    "ordered_at", "delivered_at",
                    (millis / 86_400_000.0).alias("lead_time_days")))


def normal_upper_tail(x: Column) -> Column:
    """P(Z > x) for a standard normal Z, from built-in functions (no UDF)."""
    a = F.abs(x)
    t = 1.0 / (1.0 + _AS_P * a)
    poly = t * (_AS_B[0] + t * (_AS_B[1] + t * (_AS_B[2] + t * (_AS_B[3] + t * _AS_B[4]))))
    tail = F.exp(-a * a / 2.0) / math.sqrt(2 * math.pi) * poly
    return F.when(x >= 0, tail).otherwise(1.0 - tail)


def recommend_orders(demand: DataFrame, positions: DataFrame, *,
                     service_levels: Mapping[str, float], review_period_days: float,
                     promo_uplift: float, as_of: date) -> DataFrame:
    """Order recommendation and stock-out risk per pair at the end of ``as_of`` (D).

    ``demand``: :func:`summarize_forecast`'s rows; ``positions``: the module's contract.
    ``service_levels``: ``{"A": 0.98, "B": 0.95, "C": 0.90}``; a pair without a class
    gets C's. A pair without a forecast window is left out. A promotion is ahead when the
    window has one planned or a day's forecast reaches ``promo_uplift`` x
    ``baseline_demand``. Returns ``store_key, product_key, as_of_date, abc_class,
    service_level, z, demand_mean, demand_sd, lead_time_days, lead_time_sd_days, on_hand,
    on_order, inventory_position, forecast_lead_review, safety_stock, reorder_point,
    order_up_to, pack_size, order_qty, order_by_date, reasons, stock_out_risk``.
    """
    z_map = F.create_map(*[F.lit(v) for c, level in sorted(service_levels.items())
                           for v in (c, NormalDist().inv_cdf(level))])
    level_map = F.create_map(*[F.lit(v) for item in sorted(service_levels.items())
                               for v in item])
    klass = F.coalesce(F.col("abc_class"), F.lit("C"))
    joined = demand.join(positions, on=KEY, how="inner").select(
        "*", klass.alias("_class"),
        (F.col("on_hand") + F.coalesce("on_order", F.lit(0))).alias("inventory_position"))
    levels = joined.select(
        "*", level_map[F.col("_class")].alias("service_level"),
        z_map[F.col("_class")].alias("z"), *_levels(review_period_days))
    return levels.select(*_order_columns(promo_uplift, as_of))


def _levels(review_period_days: float) -> list[Column]:
    """SS, ROP, S and the demand over the lead time (mean and sd, for the risk)."""
    d, sd_d = F.col("demand_mean"), F.col("demand_sd")
    lead, sd_lead = F.col("lead_time_days"), F.col("lead_time_sd_days")
    lead_sd = F.sqrt(lead * sd_d * sd_d + d * d * sd_lead * sd_lead)
    safety = F.col("z") * lead_sd
    return [lead_sd.alias("_lead_demand_sd"), (d * lead).alias("_lead_demand"),
            (d * (lead + review_period_days)).alias("forecast_lead_review"),
            safety.alias("safety_stock"), (d * lead + safety).alias("reorder_point"),
            (d * (lead + review_period_days) + safety).alias("order_up_to")]


def _order_columns(promo_uplift: float, as_of: date) -> list[Column]:
    d, position = F.col("demand_mean"), F.col("inventory_position")
    pack = F.greatest(F.coalesce(F.col("pack_size"), F.lit(1)), F.lit(1))
    below = position < F.col("reorder_point")
    lifts = F.col("demand_peak") >= promo_uplift * F.col("baseline_demand")
    uplift = F.coalesce(lifts & (F.col("baseline_demand") > 0), F.lit(False))
    promotion = F.coalesce(F.col("promotion_planned"), F.lit(False)) | uplift
    room = position < F.col("order_up_to")
    due = below | (promotion & room)
    wanted = F.when(due, F.ceil(F.greatest(F.col("order_up_to") - position, F.lit(0.0))
                                / pack - _EPS) * pack).otherwise(0)

    def whole_packs(units: Column) -> Column:
        # null stays null (no cap): greatest() would skip it and cap at 0
        return F.when(units.isNotNull(),
                      F.floor(F.greatest(units, F.lit(0.0)) / pack + _EPS) * pack)

    capacity = whole_packs(F.col("shelf_capacity") - position)
    # FIFO: the delivery's units sell after what is left when it arrives (position - d*L).
    left_at_arrival = F.greatest(position - F.col("_lead_demand"), F.lit(0.0))
    sells_in_life = whole_packs(d * F.col("shelf_life_days") - left_at_arrival)
    capacity_cut = F.coalesce(capacity < wanted, F.lit(False))
    life_cut = F.coalesce(sells_in_life < wanted, F.lit(False))
    qty = F.least(wanted, F.coalesce(capacity, wanted), F.coalesce(sells_in_life, wanted))
    reasons = F.array_compact(F.array(
        F.when(due & below, F.lit(REASONS[0])), F.when(due & promotion, F.lit(REASONS[1])),
        F.when(capacity_cut, F.lit(REASONS[2])), F.when(life_cut, F.lit(REASONS[3]))))
    day = F.lit(as_of)
    days_left = F.floor((position - F.col("reorder_point")) / d).cast("int")
    order_by = F.when(due, day).when(d > 0, F.date_add(day, days_left))
    return [*KEY, day.alias("as_of_date"), F.col("_class").alias("abc_class"),
            "service_level", "z", "demand_mean", "demand_sd", "lead_time_days",
            "lead_time_sd_days", "on_hand", "on_order", "inventory_position",
            "forecast_lead_review", "safety_stock", "reorder_point", "order_up_to",
            pack.cast("int").alias("pack_size"), qty.cast("long").alias("order_qty"),
            order_by.alias("order_by_date"),
            reasons.alias("reasons"), _stock_out_risk().alias("stock_out_risk")]


def _stock_out_risk() -> Column:
    """P(demand over the lead time > position), demand ~ N(d*L, L*sd_d^2 + d^2*sd_L^2); a
    certain demand (sd 0) is 1 when it exceeds the position, else 0."""
    mean, sd = F.col("_lead_demand"), F.col("_lead_demand_sd")
    position = F.col("inventory_position")
    uncertain = sd > 0
    certain_short = F.when(mean > position, 1.0).otherwise(0.0)
    return F.when(uncertain, normal_upper_tail((position - mean) / sd)).otherwise(certain_short)
