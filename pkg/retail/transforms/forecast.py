"""The demand forecast's Spark transforms: training rows for every horizon, stacked, and the
inputs the model reads.

A row is the feature store's row of a store x product x day D (everything known at the end
of D) labelled with the demand of the target day T = D + h
(:func:`retail.transforms.features.training_set`), plus what is known of T in advance: its
calendar and the promotion and price planned for it (the simulator publishes its promotion
calendar a week ahead, docs/simulator.md), and the demand of the same weekday in the weeks
before T, all on or before D since h <= 7. Nothing here reads IO.
"""

from __future__ import annotations

from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from retail.transforms.features import KEY, training_set

# Known before the target day: its calendar (the feature store's known-ahead columns) and
# its planned promotion and shelf price.
PLANNED = ("on_promotion", "discount_depth", "shelf_price")
HISTORY_WEEKS = 4  # same-weekday weeks averaged for the target's weekday profile
MEAN_DAYS = 28  # the 28-day mean baseline's window
# Demand history the model reads relative to the pair's scale (``rel_<column>``).
RELATIVE = ("demand", "demand_lag_1", "demand_lag_7", "demand_lag_14", "demand_lag_28",
            "demand_mean_7", "demand_mean_14", "demand_mean_30", "demand_mean_90",
            "demand_std_7", "demand_std_30", "same_weekday_last", "same_weekday_mean_4",
            "base_demand_mean_28")


def _day_number(column: str) -> Column:
    return F.datediff(F.col(column), F.lit("1970-01-01"))


def with_demand_history(store: DataFrame) -> DataFrame:
    """Adds, per row of day X, ``demand_mean_28`` (mean demand of the rows of the 28 days
    ending X), ``same_weekday_mean_4`` (mean demand on X, X - 7, X - 14, X - 21, the rows on
    record), and from the same 28 days ``promo_days_28`` (days that ended on promotion) and
    ``base_demand_mean_28`` (mean demand of the days off promotion; null: none), the level
    a promotion in the window does not inflate."""
    days = Window.partitionBy(*KEY).orderBy(_day_number("date"))
    last_28 = days.rangeBetween(-(MEAN_DAYS - 1), 0)
    weekdays = Window.partitionBy(*KEY, F.dayofweek("date")).orderBy(_day_number("date"))
    last_4 = weekdays.rangeBetween(-7 * (HISTORY_WEEKS - 1), 0)
    promoted = F.coalesce(F.col("on_promotion").cast("boolean"), F.lit(False))
    return (store.withColumn("demand_mean_28", F.avg("demand").over(last_28))
            .withColumn("same_weekday_mean_4", F.avg("demand").over(last_4))
            .withColumn("promo_days_28", F.sum(promoted.cast("int")).over(last_28))
            .withColumn("base_demand_mean_28",
                        F.avg(F.when(~promoted, F.col("demand"))).over(last_28)))


def _with_week_before(rows: DataFrame, history: DataFrame) -> DataFrame:
    """``rows`` (with ``target_date``) with the target's same weekday a week before:
    ``same_weekday_last`` (its demand) and ``same_weekday_mean_4`` (mean of 4 weeks)."""
    week_before = history.select(*KEY, F.date_add("date", 7).alias("target_date"),
                                 F.col("demand").alias("same_weekday_last"),
                                 F.col("same_weekday_mean_4").alias("_weekday_mean"))
    return (rows.drop("same_weekday_mean_4")
            .join(week_before, on=[*KEY, "target_date"], how="left")
            .withColumnRenamed("_weekday_mean", "same_weekday_mean_4"))


def stack_horizons(store: DataFrame, *, horizons: range, known_ahead: tuple[str, ...]
                   ) -> DataFrame:
    """Training rows of every horizon in ``horizons``, stacked (``horizon`` a column).

    ``store`` is the feature store's rows; each row of D gains ``label`` (demand of
    T = D + h), ``target_<c>`` for ``known_ahead`` and :data:`PLANNED`,
    ``demand_mean_28`` of D, and of T - 7 (on or before D): ``same_weekday_last`` (its
    demand, the seasonal naive forecast) and ``same_weekday_mean_4``. Days whose target is
    not in ``store`` have no row.
    """
    history = with_demand_history(store)
    ahead = tuple(dict.fromkeys((*known_ahead, *PLANNED)))
    stacked = reduce(DataFrame.unionByName,
                     (training_set(history, horizon=h, known_ahead=ahead) for h in horizons))
    return _with_week_before(stacked, history)


def scoring_rows(store: DataFrame, targets: DataFrame, *, day: date, horizons: range
                 ) -> DataFrame:
    """The rows to forecast D + h from day D = ``day``, shaped as :func:`stack_horizons`
    shapes training rows but without a label.

    ``store`` is the feature store's rows of D and the 27 days before (the history the
    baselines and the weekday profile read); ``targets`` has one row per store x product x
    target day (``store_key``, ``product_key``, ``date``) with what is known of it ahead:
    its calendar columns and its planned ``on_promotion``, ``discount_depth`` and
    ``shelf_price``. A pair without a target row for a day gets no row for that day.
    """
    history = with_demand_history(store.filter(F.col("date") <= F.lit(day)))
    known = [c for c in targets.columns if c not in (*KEY, "date")]
    ahead = targets.select(*KEY, F.col("date").alias("target_date"),
                           *(F.col(c).alias(f"target_{c}") for c in known))
    days = history.sparkSession.createDataFrame([(h,) for h in horizons], "horizon int")
    rows = (history.filter(F.col("date") == F.lit(day)).crossJoin(days)
            .withColumn("target_date", F.expr("date_add(date, horizon)"))
            .join(ahead, on=[*KEY, "target_date"], how="inner"))
    return _with_week_before(rows, history)


def forecast_inputs(rows: DataFrame) -> DataFrame:
    """Adds what the model reads besides the stored columns: ``scale`` (the pair's level:
    its 28-day mean demand, at least 0.5), demand history relative to it (``rel_*``), the
    planned price against today's (``target_price_change``), and booleans as doubles.

    The model forecasts demand / scale, so one model serves series whose levels differ a
    hundredfold."""
    scale = F.greatest(F.coalesce(F.col("demand_mean_28"), F.lit(0.0)), F.lit(0.5))
    out = rows.withColumn("scale", scale)
    for c in RELATIVE:
        out = out.withColumn(f"rel_{c}", F.col(c).cast("double") / F.col("scale"))
    price_now = F.col("shelf_price")
    out = out.withColumn("target_price_change", F.when(
        price_now > 0, F.col("target_shelf_price") / price_now))
    booleans = [f.name for f in rows.schema.fields if f.dataType.typeName() == "boolean"]
    return out.select(*(F.col(c).cast("double").alias(c) if c in booleans else F.col(c)
                        for c in out.columns))
