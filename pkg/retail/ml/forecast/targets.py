"""What a forecast made at the end of day D knows of its target days D + 1 .. D + horizon:
the ``targets`` of :func:`retail.transforms.forecast.scoring_rows`.

In training the target day's known-ahead columns come from the feature store's own row of
that day (it is in the past). For a forecast of the future there is no such row, so they are
built here from what is published ahead, the way the feature store builds them for a day:

* the calendar and the store's local events from ``dim_date`` and ``store_events``, read by
  the feature store's own queries (:func:`retail.features.sources.read_calendar`) and shaped
  by its own transform (:func:`retail.transforms.features.calendar_features`);
* ``on_promotion`` and ``discount_depth`` from ``promotion_calendar`` (migration 0016,
  published by the dimension load a week ahead), and ``shelf_price`` = the regular price at
  the end of D (the feature store's ``regular_price``) at the planned discount, to the cent
  as the chain prices it (:func:`retail.sim.pricing.discounted`). Regular price changes are
  not published ahead, so a pair whose list price moves on a Monday between D and the target
  day is planned at its old price (0.5 % of SKUs a week; docs/models.md).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.build import TABLE as FEATURES
from retail.features.definitions import COLUMNS, KNOWN_AHEAD
from retail.features.sources import DayNotReady, read_calendar
from retail.io.warehouse import Warehouse
from retail.sim.pricing import discounted
from retail.transforms.features import KEY, calendar_features, days_frame
from retail.transforms.forecast import PLANNED
from retail.warehouse.load import AHEAD_DAYS, PROMOTIONS

HORIZON = 7
_TYPES = {c.name: c.type for c in COLUMNS}


class TargetsNotReady(DayNotReady, ValueError):
    """The target days are not published yet (calendar or promotions), or D has no
    feature-store rows. A :class:`DayNotReady` (the feature store's "not ready"), and a
    ``ValueError`` for the callers that treat bad input days alike."""


def target_rows(spark: SparkSession, wh: Warehouse, day: date, horizon: int = HORIZON
                ) -> DataFrame:
    """One row per store x product of the feature store's rows of ``day`` (D) and target day
    T in D + 1 .. D + ``horizon``: ``store_key``, ``product_key``, ``date`` (T), the
    feature store's known-ahead columns of T (``KNOWN_AHEAD``) and the planned
    ``on_promotion``, ``discount_depth`` and ``shelf_price`` (``PLANNED``), typed as the
    feature store types them.

    Raises:
        ValueError: ``horizon`` below 1.
        TargetsNotReady: D has no feature-store rows, or ``dim_date`` or
            ``promotion_calendar`` does not cover every target day; the message names the
            table and the command that fills it.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 day, got {horizon}")
    days = [day + timedelta(days=k) for k in range(1, horizon + 1)]
    pairs = wh.query_arrow(
        f"SELECT store_key, product_key, regular_price FROM {FEATURES} FINAL "
        "WHERE date = {day:Date} ORDER BY store_key, product_key", {"day": day})
    if pairs.num_rows == 0:
        raise TargetsNotReady(f"{FEATURES} in {wh.database} has no rows of {day}: build them "
                              f"first (`retail features build --date {day}`)")
    check_published(wh, days)
    planned = spark.createDataFrame(planned_prices(pairs, promotions(wh, days), days))
    calendar, events = read_calendar(spark, wh, days[0], days[-1])
    stores = planned.select("store_key").distinct()
    known = calendar_features(stores, calendar, events, days_frame(stores, days[0], days[-1]))
    ahead = tuple(dict.fromkeys((*KNOWN_AHEAD, *PLANNED)))
    return (planned.join(known, on=["store_key", "date"], how="left")
            .select(*KEY, "date", *(F.col(c).cast(_TYPES[c]) for c in ahead)))


def _load_dims(days: list[date]) -> str:
    return (f"`retail warehouse load-dims --start {days[0]} --days {len(days)}` with the "
            "simulator's --stores, --products and --seed")


def check_published(wh: Warehouse, days: list[date]) -> None:
    """Every day has its ``dim_date`` row (and so its ``store_events``, loaded with it) and
    falls in a week of the promotion calendar (every week has at least one promotion).

    Raises:
        TargetsNotReady: naming the days, the table and the command that publishes them.
    """
    span = {"first": days[0], "last": days[-1]}
    if not wh.query_rows(f"EXISTS TABLE {PROMOTIONS}")[0][0]:
        raise TargetsNotReady(
            f"{wh.database} has no {PROMOTIONS} table (migration 0016): apply the migrations "
            f"(`retail warehouse migrate`), then publish it ({_load_dims(days)})")
    dated = {r[0] for r in wh.query_rows(
        "SELECT date FROM dim_date FINAL WHERE date BETWEEN {first:Date} AND {last:Date}",
        span)}
    undated = [str(d) for d in days if d not in dated]
    if undated:
        raise TargetsNotReady(
            f"dim_date in {wh.database} has no row for {', '.join(undated)}: load the "
            f"calendar of the days forecast ({_load_dims(days)})")
    weeks = wh.query_rows(
        f"SELECT DISTINCT start_date, end_date FROM {PROMOTIONS} FINAL "
        "WHERE start_date <= {last:Date} AND end_date >= {first:Date}", span)
    unplanned = [str(d) for d in days if not any(s <= d <= e for s, e in weeks)]
    if unplanned:
        raise TargetsNotReady(
            f"{PROMOTIONS} in {wh.database} has no plan for {', '.join(unplanned)}: publish "
            f"it ({_load_dims(days)}; the load publishes {AHEAD_DAYS} days past its range)")


def promotions(wh: Warehouse, days: list[date]) -> pa.Table:
    """The published promotions that overlap ``days``: product_key, start_date, end_date,
    discount."""
    return wh.query_arrow(
        f"SELECT product_key, start_date, end_date, discount FROM {PROMOTIONS} FINAL "
        "WHERE start_date <= {last:Date} AND end_date >= {first:Date}",
        {"first": days[0], "last": days[-1]})


def planned_prices(pairs: pa.Table, promos: pa.Table, days: list[date]) -> pa.Table:
    """``pairs`` (store_key, product_key, regular_price at the end of D) on each of ``days``
    with the promotion planned for it: ``on_promotion``, ``shelf_price`` (the regular price
    at the discount, to the cent) and ``discount_depth`` = 1 - shelf / regular, as the
    feature store derives it from the price changes (0 without a regular price)."""
    regular = pairs["regular_price"].to_numpy(zero_copy_only=False).astype(float)
    parts = []
    for t in days:
        running = pc.and_(pc.less_equal(promos["start_date"], pa.scalar(t, pa.date32())),
                          pc.greater_equal(promos["end_date"], pa.scalar(t, pa.date32())))
        week = promos.filter(running)
        at = pc.index_in(pairs["product_key"], value_set=week["product_key"])
        discount = pc.fill_null(pc.take(week["discount"], at), 0.0).to_numpy()
        shelf = discounted(regular, discount)
        with np.errstate(invalid="ignore", divide="ignore"):
            depth = np.where(regular > 0, 1.0 - shelf / regular, 0.0)
        parts.append(pa.table({
            "store_key": pairs["store_key"], "product_key": pairs["product_key"],
            "date": pa.array([t] * pairs.num_rows, pa.date32()),
            "on_promotion": pc.is_valid(at),
            "discount_depth": pa.array(depth, pa.float64()),
            "shelf_price": pa.array(shelf, pa.float64(), from_pandas=True),  # NaN: null
        }))
    return pa.concat_tables(parts)
