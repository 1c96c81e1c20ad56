"""The training-set builder: each day's features beside the demand ``horizon`` days later,
and nothing else from after the day (no peeking)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from retail.transforms.features import training_set

FIRST = date(2024, 3, 1)
DAYS, HORIZON = 10, 3
SCHEMA = ("store_key long, product_key long, date date, demand long, demand_lag_1 long, "
          "shelf_price double, day_of_week int, is_holiday boolean")
KNOWN_AHEAD = ("day_of_week", "is_holiday")


def day(i: int) -> date:
    return FIRST + timedelta(days=i)


def store(spark):
    """Two pairs over DAYS days; demand 10 x day + pair, so every value says where it is from."""
    rows = [(1, p, day(i), 10 * i + p, 10 * (i - 1) + p if i else None, 2.0 + i / 100,
             day(i).isoweekday(), i == 5) for p in (1, 2) for i in range(DAYS)]
    return spark.createDataFrame(rows, SCHEMA)


def tamper_after(frame, d: date, horizon: int):
    """Every value of every row after ``d`` changed, except the label (demand on d + horizon)
    and the target day's calendar (known in advance)."""
    later, label_day = F.col("date") > F.lit(d), F.col("date") == F.lit(d + timedelta(horizon))
    return frame.select(
        "store_key", "product_key", "date",
        F.when(later & ~label_day, F.lit(-999)).otherwise(F.col("demand")).alias("demand"),
        F.when(later, F.lit(-999)).otherwise(F.col("demand_lag_1")).alias("demand_lag_1"),
        F.when(later, F.lit(-9.0)).otherwise(F.col("shelf_price")).alias("shelf_price"),
        "day_of_week", "is_holiday")


def test_the_label_is_the_demand_horizon_days_later_with_the_target_days_calendar(spark):
    got = training_set(store(spark), horizon=HORIZON, known_ahead=KNOWN_AHEAD).select(
        "product_key", "date", "target_date", "horizon", "demand", "label",
        "target_day_of_week", "target_is_holiday")
    assertDataFrameEqual(got, spark.createDataFrame([
        (p, day(i), day(i + HORIZON), HORIZON, 10 * i + p, 10 * (i + HORIZON) + p,
         day(i + HORIZON).isoweekday(), i + HORIZON == 5)
        for p in (1, 2) for i in range(DAYS - HORIZON)  # the last 3 days have no target yet
    ], "product_key long, date date, target_date date, horizon int, demand long, label long, "
       "target_day_of_week int, target_is_holiday boolean"))


@pytest.mark.parametrize("i", [0, 4, DAYS - 1 - HORIZON])
def test_no_row_sees_anything_after_its_day_but_its_label(spark, i):
    features = store(spark)
    honest = training_set(features, horizon=HORIZON, known_ahead=KNOWN_AHEAD)
    tampered = training_set(tamper_after(features, day(i), HORIZON), horizon=HORIZON,
                            known_ahead=KNOWN_AHEAD)
    on_day = F.col("date") == F.lit(day(i))
    assert honest.filter(on_day).count() == 2
    assertDataFrameEqual(tampered.filter(on_day), honest.filter(on_day))


def test_tampering_with_the_label_does_show(spark):
    """The check above can fail: the label day's demand is read."""
    features = store(spark)
    changed = features.withColumn("demand", F.when(F.col("date") == F.lit(day(HORIZON)),
                                                   F.lit(-1)).otherwise(F.col("demand")))
    row = training_set(changed, horizon=HORIZON).filter(F.col("date") == F.lit(day(0))).collect()
    assert {r["label"] for r in row} == {-1}


@pytest.mark.parametrize("horizon", [0, 8, -1])
def test_a_horizon_outside_1_to_7_days_is_refused(spark, horizon):
    with pytest.raises(ValueError, match=f"horizon must be 1 to 7 days, got {horizon}"):
        training_set(store(spark), horizon=horizon)
