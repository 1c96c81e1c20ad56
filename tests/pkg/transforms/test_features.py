"""The feature store's transforms, each on a few inline rows with the expected values beside
the input. D is Sunday 2024-03-31; ``ago(n)`` is the day n days before it (negative: after).
Rows after D are in every input, to be ignored."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from statistics import mean, median, stdev

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from retail.transforms.features import (calendar_features, daily_demand, days_frame,
                                        demand_features, history_start, price_features,
                                        stock_features, trend_features, weather_features)

D = date(2024, 3, 31)
KEY = "store_key long, product_key long"


def ago(n: int) -> date:
    return D - timedelta(days=n)


def on_d(frame):
    """Rows of the feature day D (the ``date`` column the transforms key feature days by)."""
    return frame.withColumn("date", F.lit(D))


def of_d(frame):
    """A transform's rows of D, without the feature day's column."""
    assert {r["date"] for r in frame.select("date").collect()} <= {D}
    return frame.drop("date")


def daily_rows(spark, rows):
    return spark.createDataFrame(rows, f"{KEY}, day date, units_sold long, lost_units long, "
                                       "demand long")


def test_daily_demand_is_units_sold_plus_lost_units_up_to_d(spark):
    sales = spark.createDataFrame([(1, 1, ago(0), 5), (1, 1, ago(1), 2), (1, 1, ago(-1), 9)],
                                  f"{KEY}, day date, units_sold long")
    lost = spark.createDataFrame([(1, 1, ago(0), 3), (1, 1, ago(2), 4), (1, 1, ago(-1), 9)],
                                 f"{KEY}, day date, lost_units long")
    assertDataFrameEqual(daily_demand(sales, lost, day=D), daily_rows(spark, [
        (1, 1, ago(0), 5, 3, 8),   # both
        (1, 1, ago(1), 2, 0, 2),   # sold, nothing lost
        (1, 1, ago(2), 0, 4, 4),   # the shelf was empty: all of it lost
    ]))                            # the day after D: dropped


def test_history_starts_at_the_first_day_on_record_at_most_90_days_back(spark):
    history = spark.createDataFrame([(1, ago(10)), (2, ago(400)), (3, None), (4, ago(-3))],
                                    "store_key long, first_day date")
    starts = of_d(history_start(history, days_frame(history, D)))
    assertDataFrameEqual(starts, spark.createDataFrame(
        [(1, ago(10)), (2, ago(89)), (3, D), (4, D)], "store_key long, start date"))


# Store 1's history starts 20 days before D; store 2's on D.
STARTS = [(1, ago(20)), (2, D)]
SERIES = {0: (3, 0), 1: (2, 1), 7: (4, 0), 14: (5, 0), 25: (7, 0), -1: (50, 0)}  # ago: sold, lost


def series(n_days: int) -> list[int]:
    """Store 1 product 1's daily demand, oldest first, over the last ``n_days`` on record."""
    return [sum(SERIES.get(n, (0, 0))) for n in reversed(range(n_days))]


def test_demand_lags_windows_and_intermittency(spark):
    pairs = on_d(spark.createDataFrame([(1, 1), (1, 2), (2, 3)], KEY))
    starts = on_d(spark.createDataFrame(STARTS, "store_key long, start date"))
    daily = daily_rows(spark, [(1, 1, ago(n), s, lost, s + lost)
                               for n, (s, lost) in SERIES.items()] + [(2, 3, ago(0), 0, 2, 2)])
    got = {r["product_key"]: r.asDict() for r in
           of_d(demand_features(pairs, daily, starts)).collect()}
    a = got[1]  # 21 days on record; a day 25 days back is before the store's history
    assert (a["units_sold"], a["lost_units"], a["demand"]) == (3, 0, 3)
    assert [a[f"demand_lag_{k}"] for k in (1, 7, 14, 28)] == [3, 4, 5, None]
    for w in (7, 14, 30, 90):
        on_record = series(min(w, 21))
        assert a[f"demand_mean_{w}"] == pytest.approx(mean(on_record), rel=1e-12)
        assert a[f"demand_std_{w}"] == pytest.approx(stdev(on_record), rel=1e-9)
    assert (a["days_since_last_sale"], a["history_days"]) == (0, 21)
    assert a["zero_sales_share"] == pytest.approx(1 - 4 / 21)  # sold on 4 of 21 days
    b = got[2]  # stocked, never sold: zeros inside the history, null lags beyond it
    assert [b[f"demand_lag_{k}"] for k in (1, 7, 14, 28)] == [0, 0, 0, None]
    assert (b["demand_mean_90"], b["demand_std_90"], b["days_since_last_sale"],
            b["zero_sales_share"]) == (0.0, 0.0, None, 1.0)
    c = got[3]  # the store's first day: one day on record, no spread, no lag
    assert (c["demand"], c["lost_units"], c["demand_mean_7"], c["demand_std_7"],
            c["demand_lag_1"], c["history_days"], c["zero_sales_share"]) == \
        (2, 2, 2.0, None, None, 1, 1.0)


def test_trends_are_the_7_day_over_the_28_day_mean_per_store_and_category(spark):
    products = spark.createDataFrame([(1, "Dairy"), (2, "Dairy"), (3, "Toys")],
                                     "product_key long, category string")
    starts = on_d(spark.createDataFrame([(1, ago(89)), (2, ago(89)), (3, ago(3))],
                                        "store_key long, start date"))
    daily = daily_rows(spark, [
        (1, 1, ago(0), 14, 0, 14), (1, 2, ago(20), 28, 0, 28),  # store 1: 14/7 over 42/28
        (2, 1, ago(2), 7, 0, 7), (2, 1, ago(-1), 99, 0, 99),    # store 2: 7/7 over 7/28
        (3, 3, ago(40), 5, 0, 5),                               # store 3: none in 28 days
    ])
    store, category = trend_features(daily, products, starts, days_frame(daily, D))
    assertDataFrameEqual(of_d(store), spark.createDataFrame(
        [(1, (14 / 7) / (42 / 28)), (2, 1 / (7 / 28))],
        "store_key long, store_trend_7_28 double"))  # store 3: null, and only stores with rows
    assertDataFrameEqual(of_d(category), spark.createDataFrame(
        [("Dairy", (21 / 7) / (49 / 28))], "category string, category_trend_7_28 double"))


CHANGE = f"{KEY}, day date, event_time timestamp, change_id string, old_price double, " \
         "new_price double, change_type string"


def change(pair: int, n: int, old: float, new: float, kind: str, ms: int = 0):
    at = datetime(ago(n).year, ago(n).month, ago(n).day, 8) + timedelta(milliseconds=ms)
    return (1, pair, ago(n), at, f"PC{pair}-{n}-{ms}", old, new, kind)


def test_prices_at_the_end_of_d_and_against_their_28_day_median(spark):
    pairs = on_d(spark.createDataFrame([(1, p) for p in range(1, 8)], KEY))
    products = spark.createDataFrame([(p, 2.99) for p in range(1, 8)],
                                     "product_key long, list_price double")
    changes = spark.createDataFrame([
        change(2, 3, 4.0, 3.0, "promotion_start"),                 # on promotion since D-3
        change(3, 10, 2.5, 2.0, "promotion_start"), change(3, 3, 2.0, 2.5, "promotion_end"),
        change(4, 6, 3.0, 2.4, "promotion_end"),                   # a Monday: end, regular,
        change(4, 6, 2.4, 2.7, "regular", ms=1),                   # new promotion, in the
        change(4, 6, 2.7, 2.0, "promotion_start", ms=2),           # order they took effect
        change(5, 40, 5.0, 6.0, "regular"),                        # before the window
        change(6, 13, 2.0, 4.0, "regular"),                        # 14 days at 2, 14 at 4
        change(7, -1, 2.99, 1.0, "promotion_start"),               # after D: not yet
    ], CHANGE)
    days_2 = [4.0] * 24 + [3.0] * 4
    days_3 = [2.5] * 17 + [2.0] * 7 + [2.5] * 4
    days_4 = [3.0] * 21 + [2.0] * 7
    rows = [  # pair, shelf, regular, discount depth, promotion, price / 28-day median
        (1, 2.99, 2.99, 0.0, False, 1.0),                          # never changed: list price
        (2, 3.0, 4.0, 1 - 3.0 / 4.0, True, 3.0 / median(days_2)),
        (3, 2.5, 2.5, 0.0, False, 2.5 / median(days_3)),
        (4, 2.0, 2.7, 1 - 2.0 / 2.7, True, 2.0 / median(days_4)),
        (5, 6.0, 6.0, 0.0, False, 1.0),
        (6, 4.0, 4.0, 0.0, False, 4.0 / 3.0),                      # median of 2s and 4s: 3
        (7, 2.99, 2.99, 0.0, False, 1.0),
    ]
    assertDataFrameEqual(of_d(price_features(pairs, products, changes)), spark.createDataFrame(
        [(1, *r) for r in rows], f"{KEY}, shelf_price double, regular_price double, "
        "discount_depth double, on_promotion boolean, price_ratio_28 double"))


def test_stock_at_the_end_of_d_and_the_days_that_ran_out(spark):
    # the day's snapshot: pair 3 has none, so no on-hand figures
    pairs = on_d(spark.createDataFrame(
        [(1, 1, 0, 12, None), (1, 2, 10, 0, 2.5), (1, 3, None, None, None)],
        f"{KEY}, on_hand int, on_order int, days_of_cover float"))
    opening = spark.createDataFrame([(1, 1, 5), (1, 2, 0)], f"{KEY}, on_hand long")
    closing = spark.createDataFrame([
        (1, 1, ago(15), 3), (1, 1, ago(2), 0), (1, 1, ago(-1), 0),  # empty from D-2 on
        (1, 2, ago(20), 10), (1, 2, ago(5), 10),                    # empty until D-20
    ], f"{KEY}, day date, on_hand long")
    daily = daily_rows(spark, [(1, 1, ago(10), 1, 2, 3), (1, 1, ago(2), 3, 1, 4),
                               (1, 2, ago(-2), 0, 5, 5), (1, 3, ago(40), 0, 1, 1)])
    rows = [  # pair, on hand, on order, days of cover, stock-out days in 7, in 28
        (1, 0, 12, None, 3, 4),    # closed empty D-2..D, and a sale lost on D-10
        (2, 10, 0, 2.5, 0, 7),     # empty D-27..D-21 (the level before the window was 0)
        (3, None, None, None, 0, 0),  # no snapshot; a sale lost 40 days back is too old
    ]
    assertDataFrameEqual(
        of_d(stock_features(pairs, closing, opening, daily, day=D)),
        spark.createDataFrame([(1, *r) for r in rows],
                              f"{KEY}, on_hand int, on_order int, days_of_cover double, "
                              "stockout_days_7 int, stockout_days_28 int"))


def test_weather_of_the_stores_region_on_d_and_over_7_days(spark):
    stores = spark.createDataFrame([(1, "West"), (2, "Midwest"), (3, "Nowhere")],
                                   "store_key long, region string")
    weather = spark.createDataFrame(
        [("West", ago(n), 10.0 + n, float(n % 3)) for n in range(-1, 9)]
        + [("Midwest", ago(3), -2.0, 4.0)], "region string, day date, temp_c double, "
                                           "precip_mm double")
    week = range(0, 7)
    got = of_d(weather_features(stores, weather, days_frame(stores, D)))
    assertDataFrameEqual(got, spark.createDataFrame([
        (1, 10.0, 0.0, mean(10.0 + n for n in week), mean(float(n % 3) for n in week)),
        (2, None, None, -2.0, 4.0),     # no row for D itself
        (3, None, None, None, None),    # no weather for the region
    ], "store_key long, temp_c double, precip_mm double, temp_c_mean_7 double, "
       "precip_mm_mean_7 double"))


def test_calendar_of_d_and_the_stores_local_event(spark):
    stores = spark.createDataFrame([(1,), (2,)], "store_key long")
    cols = ("day date, day_of_week int, week_of_year int, month int, season string, "
            "is_weekend boolean, is_holiday boolean, is_special_day boolean, "
            "days_to_next_holiday int, is_payday boolean")
    calendar = spark.createDataFrame([
        (ago(1), 6, 13, 3, "spring", True, False, False, 1, True),
        (D, 7, 13, 3, "spring", True, True, False, 0, False),
    ], cols)
    events = spark.createDataFrame([(1, D, "game_day"), (2, ago(-1), "festival")],
                                   "store_key long, day date, kind string")
    assertDataFrameEqual(of_d(calendar_features(stores, calendar, events,
                                                days_frame(stores, D))),
                         spark.createDataFrame([
        (1, 7, 13, 3, "spring", True, True, False, 0, False, "game_day", True),
        (2, 7, 13, 3, "spring", True, True, False, 0, False, None, False),  # event tomorrow
    ], f"store_key long, {cols.split(', ', 1)[1]}, local_event_kind string, "
       "has_local_event boolean"))
