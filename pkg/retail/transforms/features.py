"""The feature store's Spark transforms: one row per store x product for a day D, from what
was known at the end of D; several days D1..Dn in one plan, the feature day a column
(``date``), since Spark's fixed cost per plan outweighs a small chain's rows.

Every function drops, for each feature day, whatever its inputs hold after it, so no feature
of D can see a later fact, whatever a caller passes in: the point-in-time guarantee lives
here, not only in the queries that feed it. History is sparse (a day without sales has no
row): demand windows are conditional sums over "days ago", and what holds until it changes
(a price, a stock level) is one sorted array per pair walked day by day, so no dense daily
series is ever joined. A fact's day is a ``date`` column named ``day``, the feature day one
named ``date``; pairs are keyed ``store_key``, ``product_key``. Column names and
meanings: :mod:`retail.features.definitions`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

KEY = ["store_key", "product_key"]
LAGS = (1, 7, 14, 28)
WINDOWS = (7, 14, 30, 90)
HISTORY_DAYS = 90
PRICE_DAYS = 28
STOCKOUT_WINDOWS = (7, 28)
WEATHER_DAYS = 7
MAX_HORIZON = 7


class FeatureInputs(NamedTuple):
    """What the warehouse holds for the days D1..Dn, as Spark frames (see
    retail.features.sources). The windows reach back from D1; nothing is dated after Dn."""

    snapshot: DataFrame  # KEY, day, store_id, product_id, on_hand, on_order, days_of_cover
    stores: DataFrame  # store_key, store_type, square_footage, region
    products: DataFrame  # product_key, category, sub_category, brand, ..., list_price
    history: DataFrame  # store_key, first_day: the store's first day of sales on record
    sales: DataFrame  # KEY, day, units_sold
    lost: DataFrame  # KEY, day, lost_units
    changes: DataFrame  # KEY, day, event_time, change_id, old_price, new_price, change_type
    closing: DataFrame  # KEY, day, on_hand: the closing level of days with stock movements
    opening: DataFrame  # KEY, on_hand: the level before D1's stock-out window
    calendar: DataFrame  # day, day_of_week, week_of_year, month, season, is_weekend,
    #                      is_holiday, is_special_day, days_to_next_holiday, is_payday
    events: DataFrame  # store_key, day, kind
    weather: DataFrame  # region, day, temp_c, precip_mm


def days_frame(like: DataFrame, day: date, last: date | None = None) -> DataFrame:
    """One row per feature day ``day``..``last`` (``day`` alone by default), column ``date``."""
    return like.sparkSession.range(1).select(
        F.explode(F.sequence(F.lit(day), F.lit(last or day))).alias("date"))


def _ago() -> Column:
    """Days from a fact's ``day`` to the feature day ``date``."""
    return F.datediff(F.col("date"), F.col("day"))


def _back(days: int) -> Column:
    """The first day of the ``days`` ending the feature day."""
    return F.date_sub(F.col("date"), days - 1)


def _per_day(rows: DataFrame, days: DataFrame, reach: int) -> DataFrame:
    """``rows`` (with a ``day``) once for each feature day whose ``reach`` days end on or
    after it: no feature day sees a fact dated after it."""
    d = F.broadcast(days)
    return rows.join(d, F.col("day").between(_back(reach), F.col("date")), "inner")


def _on_record(start: Column, window: int) -> Column:
    """Days of the ``window`` ending the feature day on or after ``start``."""
    return F.least(F.lit(window), F.datediff(F.col("date"), start) + 1)


def daily_demand(sales: DataFrame, lost: DataFrame, *, day: date) -> DataFrame:
    """Sparse daily rows up to ``day``: KEY, day, units_sold, lost_units, demand."""
    zero = F.lit(0).cast("long")
    both = sales.select(*KEY, "day", F.col("units_sold").cast("long"),
                        zero.alias("lost_units")).unionByName(
        lost.select(*KEY, "day", zero.alias("units_sold"), F.col("lost_units").cast("long")))
    return (both.filter(F.col("day") <= F.lit(day)).groupBy(*KEY, "day")
            .agg(F.sum("units_sold").alias("units_sold"), F.sum("lost_units").alias("lost_units"))
            .withColumn("demand", F.col("units_sold") + F.col("lost_units")))


def history_start(history: DataFrame, days: DataFrame) -> DataFrame:
    """store_key, date, start: the store's first day on record, at most HISTORY_DAYS before
    each feature day (the feature day itself when nothing earlier is on record)."""
    first = F.least(F.coalesce(F.col("first_day"), F.col("date")), F.col("date"))
    return history.crossJoin(F.broadcast(days)).select(
        "store_key", "date", F.greatest(first, _back(HISTORY_DAYS)).alias("start"))


def demand_features(pairs: DataFrame, daily: DataFrame, starts: DataFrame) -> DataFrame:
    """Demand of the feature day, its lags, rolling means and standard deviations, days since
    the last sale and the share of days without one, per row (KEY, date) of ``pairs``."""
    rows = (pairs.select(*KEY, "date").join(F.broadcast(starts), on=["store_key", "date"],
                                            how="left")
            .withColumn("start", F.coalesce("start", F.col("date")))
            .join(daily, on=KEY, how="left"))
    ago = _ago()
    on_record = F.col("day").between(F.col("start"), F.col("date"))

    def total(column: str, days: int) -> Column:
        in_window = on_record & (ago < days)
        return F.coalesce(F.sum(F.when(in_window, F.col(column))), F.lit(0))

    aggs = [total("units_sold", 1).alias("units_sold"), total("lost_units", 1).alias("lost_units"),
            total("demand", 1).alias("demand")]
    for k in LAGS:
        at_k = F.coalesce(F.sum(F.when(on_record & (ago == k), F.col("demand"))), F.lit(0))
        aggs.append(F.when(F.date_sub(F.col("date"), k) >= F.col("start"), at_k)
                    .cast("long").alias(f"demand_lag_{k}"))
    for w in WINDOWS:
        aggs += [total("demand", w).cast("double").alias(f"_s{w}"),
                 F.coalesce(F.sum(F.when(on_record & (ago < w), F.col("demand").cast("double")
                                         * F.col("demand"))), F.lit(0.0)).alias(f"_q{w}")]
    sold = on_record & (ago < HISTORY_DAYS) & (F.col("units_sold") > 0)
    aggs += [F.max(F.when(sold, F.col("day"))).alias("_last_sale"),
             F.count(F.when(sold, F.col("day"))).alias("_sale_days")]
    out = rows.groupBy(*KEY, "date", "start").agg(*aggs)
    cols = [*KEY, "date", "units_sold", "lost_units", "demand",
            *(f"demand_lag_{k}" for k in LAGS)]
    for w in WINDOWS:
        n, s, q = _on_record(F.col("start"), w), F.col(f"_s{w}"), F.col(f"_q{w}")
        variance = (q - s * s / n) / (n - 1)
        cols += [(s / n).alias(f"demand_mean_{w}"),
                 F.when(n > 1, F.sqrt(F.greatest(variance, F.lit(0.0))))
                 .alias(f"demand_std_{w}")]
    n90 = _on_record(F.col("start"), HISTORY_DAYS)
    cols += [F.datediff(F.col("date"), "_last_sale").alias("days_since_last_sale"),
             (1.0 - F.col("_sale_days") / n90).alias("zero_sales_share"),
             n90.cast("int").alias("history_days")]
    return out.select(*cols)


def _trend(rows: DataFrame, by: str, start: Column) -> DataFrame:
    """Mean daily demand over 7 days over that over 28 days, per ``by`` and feature day."""
    ago, on_record = _ago(), F.col("day").between(start, F.col("date"))
    sums = rows.groupBy(by, "date").agg(
        F.sum(F.when(on_record & (ago < 7), F.col("demand"))).alias("_s7"),
        F.sum(F.when(on_record & (ago < 28), F.col("demand"))).alias("_s28"),
        F.first(start).alias("_start"))
    short = F.coalesce("_s7", F.lit(0)) / _on_record(F.col("_start"), 7)
    long = F.col("_s28") / _on_record(F.col("_start"), 28)
    return sums.select(by, "date", F.when(F.col("_s28") > 0, short / long).alias("trend"))


def trend_features(daily: DataFrame, products: DataFrame, starts: DataFrame,
                   days: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(store_key, date, store_trend_7_28) and (category, date, category_trend_7_28): the
    store's demand over all its products, and the category's over the chain."""
    recent = _per_day(daily, days, 28)
    stores = (recent.groupBy("store_key", "date", "day").agg(F.sum("demand").alias("demand"))
              .join(F.broadcast(starts), on=["store_key", "date"], how="inner"))
    chain_start = starts.groupBy("date").agg(F.min("start").alias("_chain_start"))
    categories = (recent.join(F.broadcast(products.select("product_key", "category")),
                              on="product_key", how="inner")
                  .groupBy("category", "date", "day").agg(F.sum("demand").alias("demand"))
                  .join(F.broadcast(chain_start), on="date", how="inner"))
    store = _trend(stores, "store_key", F.col("start"))
    category = _trend(categories, "category", F.col("_chain_start"))
    return (store.withColumnRenamed("trend", "store_trend_7_28"),
            category.withColumnRenamed("trend", "category_trend_7_28"))


def _at(values: Column, index: int) -> Column:
    """Element ``index`` of an array (1-based, negative from the end); null if absent."""
    return F.try_element_at(values, F.lit(index))


def _median(values: Column, n: int) -> Column:
    """The median of an array of ``n`` numbers (the mean of the middle two when n is even)."""
    ordered, mid = F.array_sort(values), (n + 1) // 2
    if n % 2:
        return F.element_at(ordered, mid)
    return (F.element_at(ordered, mid) + F.element_at(ordered, mid + 1)) / 2


def price_features(pairs: DataFrame, products: DataFrame, changes: DataFrame) -> DataFrame:
    """Shelf and regular price at the end of the feature day, discount depth, promotion flag
    and the shelf price over its median of the PRICE_DAYS days ending it. A day's price is
    the one its last change on or before it set; before a pair's first change, that change's
    old price; a pair without any change keeps its product's list price. Each pair's changes
    up to the feature day are one sorted array (those before the window count from its first
    day), so the whole window costs one shuffle."""
    first = _back(PRICE_DAYS)
    change = F.struct(F.greatest(F.col("day"), first).alias("day"), "event_time",
                      "change_id", "old_price", "new_price", "change_type")
    wanted = pairs.select(*KEY, "date")
    per_pair = (changes.join(wanted, on=KEY, how="inner")
                .filter(F.col("day") <= F.col("date")).groupBy(*KEY, "date")
                .agg(F.array_sort(F.collect_list(change)).alias("_changes")))
    listed = F.broadcast(products.select("product_key", "list_price"))
    rows = (wanted.join(per_pair, on=[*KEY, "date"], how="left")
            .join(listed, on="product_key", how="left"))
    history = F.coalesce(F.col("_changes"), F.array())
    opening = F.coalesce(_at(history, 1)["old_price"], F.col("list_price"))

    def price_on(d: Column) -> Column:
        done = F.filter(history, lambda c: c["day"] <= d)
        return F.coalesce(_at(done, -1)["new_price"], opening)

    last = _at(history, -1)
    promo = F.coalesce(last["change_type"] == "promotion_start", F.lit(False))
    shelf = price_on(F.col("date"))
    regular = F.when(promo, last["old_price"]).otherwise(shelf)
    window = F.transform(F.sequence(first, F.col("date")), price_on)
    return rows.select(
        *KEY, "date", shelf.alias("shelf_price"), regular.alias("regular_price"),
        F.when(regular > 0, 1.0 - shelf / regular).otherwise(0.0).alias("discount_depth"),
        promo.alias("on_promotion"),
        (shelf / _median(window, PRICE_DAYS)).alias("price_ratio_28"))


def stock_features(pairs: DataFrame, closing: DataFrame, opening: DataFrame,
                   daily: DataFrame, *, day: date) -> DataFrame:
    """On hand, on order and days of cover at the end of the feature day (its snapshot, the
    rows of ``pairs``), and the days of its last 7 and 28 that closed with nothing on hand or
    lost a sale. ``opening`` is the level before ``day``'s 28 days; a day without stock
    movements closes at the level of the day before."""
    first = day - timedelta(days=max(STOCKOUT_WINDOWS) - 1)
    wanted = pairs.select(*KEY, "date")
    known = opening.select(*KEY, F.lit(first - timedelta(days=1)).alias("day"), "on_hand") \
        .unionByName(closing.filter(F.col("day") >= F.lit(first))
                     .select(*KEY, "day", "on_hand")) \
        .join(wanted, on=KEY, how="inner").filter(F.col("day") <= F.col("date"))
    short = (_per_day(daily.filter(F.col("lost_units") > 0), F.broadcast(
        wanted.select("date").distinct()), max(STOCKOUT_WINDOWS))
        .select(*KEY, "date", "day", F.lit(None).cast("long").alias("on_hand")))
    per_pair = known.unionByName(short).groupBy(*KEY, "date").agg(
        F.array_sort(F.collect_list(F.when(F.col("on_hand").isNotNull(),
                                           F.struct("day", "on_hand")))).alias("_levels"),
        F.collect_set(F.when(F.col("on_hand").isNull(), F.col("day"))).alias("_short"))

    # a level holds from its day to the day before the next one (the last one to the
    # feature day)
    levels = F.col("_levels")
    spans = F.transform(levels, lambda x, i: F.struct(
        x["day"].alias("start"), x["on_hand"].alias("on_hand"),
        F.coalesce(F.date_sub(F.try_element_at(levels, i + 2)["day"], 1), F.col("date"))
        .alias("end")))
    empty = F.filter(spans, lambda x: x["on_hand"] <= 0)

    def ran_out(days: int) -> Column:
        """Days of the last ``days`` that closed empty, and the others that lost a sale."""
        lo = _back(days)
        closed_empty = F.aggregate(empty, F.lit(0), lambda n, x: n + F.greatest(
            F.datediff(x["end"], F.greatest(x["start"], lo)) + 1, F.lit(0)))
        lost = F.filter("_short", lambda d: (d >= lo) & ~F.exists(
            empty, lambda x: d.between(x["start"], x["end"])))
        return closed_empty + F.size(lost)

    counts = per_pair.select(*KEY, "date", *(ran_out(w).alias(f"stockout_days_{w}")
                                             for w in STOCKOUT_WINDOWS))
    held = pairs.select(*KEY, "date", F.col("on_hand").cast("int"),
                        F.col("on_order").cast("int"), F.col("days_of_cover").cast("double"))
    return (held.join(counts, on=[*KEY, "date"], how="left")
            .fillna(0, [f"stockout_days_{w}" for w in STOCKOUT_WINDOWS]))


def weather_features(stores: DataFrame, weather: DataFrame, days: DataFrame) -> DataFrame:
    """Temperature and precipitation of the feature day in the store's region and their means
    over the WEATHER_DAYS days ending it (days on record)."""
    on_day = F.col("day") == F.col("date")
    per_region = _per_day(weather, days, WEATHER_DAYS).groupBy("region", "date").agg(
        F.max(F.when(on_day, F.col("temp_c"))).alias("temp_c"),
        F.max(F.when(on_day, F.col("precip_mm"))).alias("precip_mm"),
        F.avg("temp_c").alias("temp_c_mean_7"), F.avg("precip_mm").alias("precip_mm_mean_7"))
    return (stores.select("store_key", "region").crossJoin(F.broadcast(days))
            .join(F.broadcast(per_region), on=["region", "date"], how="left").drop("region"))


def calendar_features(stores: DataFrame, calendar: DataFrame, events: DataFrame,
                      days: DataFrame) -> DataFrame:
    """The calendar of each feature day (dim_date) and the store's local event of it, per
    store."""
    today = calendar.withColumnRenamed("day", "date").join(F.broadcast(days), on="date")
    event = events.select("store_key", F.col("day").alias("date"),
                          F.col("kind").alias("local_event_kind"))
    return (stores.select("store_key").crossJoin(F.broadcast(today))
            .join(F.broadcast(event), on=["store_key", "date"], how="left")
            .withColumn("has_local_event", F.col("local_event_kind").isNotNull()))


def build_features(inputs: FeatureInputs, *, day: date, last: date | None = None
                   ) -> DataFrame:
    """Every feature of each day ``day``..``last`` (``day`` alone by default) for each pair
    of that day's snapshot (the pairs with stock on record), keys and ``date`` first; the
    caller selects the store's columns from the definitions. A day's rows are the same
    whether it is built alone or with others."""
    i, last = inputs, last or day
    days = days_frame(i.snapshot, day, last)
    pairs = (i.snapshot.withColumnRenamed("day", "date")
             .filter(F.col("date").between(F.lit(day), F.lit(last))))
    # read by the demand, stock and trend features: computed once, not three times (the
    # caller clears the cache once the rows are collected)
    daily = daily_demand(i.sales, i.lost, day=last).cache()
    starts = history_start(i.history, days)
    store_trend, category_trend = trend_features(daily, i.products, starts, days)
    products = i.products.drop("list_price")
    keys = [*KEY, "date"]
    return (pairs.select(*keys, "store_id", "product_id")
            .join(demand_features(pairs, daily, starts), on=keys, how="left")
            .join(price_features(pairs, i.products, i.changes), on=keys, how="left")
            .join(stock_features(pairs, i.closing, i.opening, daily, day=day), on=keys,
                  how="left")
            .join(F.broadcast(calendar_features(i.stores, i.calendar, i.events, days)),
                  on=["store_key", "date"], how="left")
            .join(F.broadcast(weather_features(i.stores, i.weather, days)),
                  on=["store_key", "date"], how="left")
            .join(F.broadcast(store_trend), on=["store_key", "date"], how="left")
            .join(F.broadcast(i.stores), on="store_key", how="left")
            .join(F.broadcast(products), on="product_key", how="left")
            .join(F.broadcast(category_trend), on=["category", "date"], how="left")
            .withColumn("date_key", F.date_format("date", "yyyyMMdd").cast("int")))


def training_set(features: DataFrame, *, horizon: int, known_ahead: tuple[str, ...] = ()
                 ) -> DataFrame:
    """Rows of the feature store with the demand ``horizon`` days later as ``label``.

    Each row keeps the features of its own day D, nothing later, plus ``target_date``,
    ``horizon``, ``label`` (demand on D + horizon) and, for each column of ``known_ahead``
    (the calendar, known in advance), ``target_<column>`` of the target day. Days whose
    target is not in ``features`` yet have no row.

    Raises:
        ValueError: ``horizon`` outside 1..MAX_HORIZON.
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be 1 to {MAX_HORIZON} days, got {horizon}")
    ahead = [f"target_{c}" for c in known_ahead]
    target = features.select(*KEY, F.col("date").alias("target_date"),
                             F.col("demand").alias("label"),
                             *(F.col(c).alias(t) for c, t in zip(known_ahead, ahead)))
    return (features.withColumn("target_date", F.date_add("date", horizon))
            .withColumn("horizon", F.lit(horizon))
            .join(target, on=[*KEY, "target_date"], how="inner")
            .select(*features.columns, "target_date", "horizon", "label", *ahead))
