"""The whole build on a day's inputs: every declared column comes out in its declared type,
and no fact dated after D reaches a feature of D, whatever the inputs hold."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from pyspark.sql.types import StructType
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from retail.features.build import select_columns
from retail.features.definitions import COLUMNS, spark_schema
from retail.transforms.features import FeatureInputs, build_features

D = date(2024, 3, 31)
KEY = "store_key long, product_key long"
CALENDAR = ("day date, day_of_week int, week_of_year int, month int, season string, "
            "is_weekend boolean, is_holiday boolean, is_special_day boolean, "
            "days_to_next_holiday int, is_payday boolean")


def ago(n: int) -> date:
    return D - timedelta(days=n)


def inputs(spark, later: int, today: int = 0) -> FeatureInputs:
    """Day D's inputs, the way retail.features.sources types them. Every input also holds
    rows after D whose values are ``later`` (0 or not): they must not matter. ``today``
    changes a sale of D, which must."""
    def df(rows, ddl):
        return spark.createDataFrame(rows, ddl)

    after = ago(-1)
    stamp = datetime(2024, 4, 1, 8)
    return FeatureInputs(
        snapshot=df([(1, 1, D, "S1", "P1", 4, 2, 1.5), (1, 2, D, "S1", "P2", 0, 0, None),
                     (1, 1, after, "S1", "P1", 4 + later, 2, 1.5),
                     (1, 2, after, "S1", "P2", later, later, None)],
                    f"{KEY}, day date, store_id string, product_id string, on_hand int, "
                    "on_order int, days_of_cover double"),
        stores=df([(1, "supermarket", 20000, "West")],
                  "store_key long, store_type string, square_footage int, region string"),
        products=df([(1, "Dairy", "Milk", "Acme", 10, 2.5, 1.99),
                     (2, "Toys", "Puzzles", "Bo", 365, None, 9.99)],
                    "product_key long, category string, sub_category string, brand string, "
                    "shelf_life_days int, lead_time_days double, list_price double"),
        history=df([(1, ago(30))], "store_key long, first_day date"),
        sales=df([(1, 1, ago(n), 3 + n + (today if n == 0 else 0)) for n in (0, 1, 5, 20)]
                 + [(1, 1, after, 5 + later), (1, 2, ago(-3), 1 + later)],
                 f"{KEY}, day date, units_sold long"),
        lost=df([(1, 1, ago(2), 1), (1, 2, after, 2 + later)], f"{KEY}, day date, lost_units long"),
        changes=df([(1, 1, ago(3), datetime(2024, 3, 28), "PC1", 2.0, 1.5, "promotion_start"),
                    (1, 1, after, stamp, "PC2", 1.5, 1.0 + later, "promotion_end"),
                    (1, 2, after, stamp, "PC3", 9.99, 5.0 + later, "promotion_start")],
                   f"{KEY}, day date, event_time timestamp, change_id string, "
                   "old_price double, new_price double, change_type string"),
        closing=df([(1, 1, ago(10), 5), (1, 2, ago(4), 0), (1, 1, after, 9 + later),
                    (1, 2, after, later)], f"{KEY}, day date, on_hand long"),
        opening=df([(1, 1, 6)], f"{KEY}, on_hand long"),
        calendar=df([(D, 7, 13, 3, "spring", True, False, False, 1, False),
                     (after, later % 7 + 1, 14, 4, "spring", False, later > 0, False, 0,
                      True)], CALENDAR),
        events=df([(1, after, ["festival", "concert"][later % 2])],
                  "store_key long, day date, kind string"),
        weather=df([("West", ago(n), 10.0 + n, 0.5) for n in range(8)]
                   + [("West", after, 30.0 + later, 9.0 + later)],
                   "region string, day date, temp_c double, precip_mm double"),
    )


def built(spark, later: int = 0, today: int = 0) -> list:
    return select_columns(build_features(inputs(spark, later, today), day=D)).collect()


@pytest.fixture(scope="module")
def honest(spark) -> list:
    return built(spark)


def test_the_build_gives_every_declared_column_in_its_declared_type(spark, honest):
    frame = build_features(inputs(spark, 0), day=D)
    assertSchemaEqual(frame.select(*(c.name for c in COLUMNS)).schema,
                      StructType.fromDDL(spark_schema()))
    row = next(r for r in honest if r["product_key"] == 1)
    assert (row["demand"], row["demand_lag_1"], row["on_promotion"], row["shelf_price"],
            row["temp_c"], row["date_key"]) == (3, 4, True, 1.5, 10.0, 20240331)


def test_no_fact_after_d_changes_a_feature_of_d(spark, honest):
    assertDataFrameEqual(built(spark, later=77), honest)


def test_d_built_with_the_day_after_in_one_plan_is_d_built_alone(spark, honest):
    """The day after D, built in the same plan from facts of its own, leaves D's rows as
    they are; and its own rows are there, dated."""
    both = select_columns(build_features(inputs(spark, 77), day=D, last=ago(-1))).collect()
    assertDataFrameEqual([r for r in both if r["date"] == D], honest)
    after = [r for r in both if r["date"] == ago(-1)]
    assert len(after) == 2 and {r["date_key"] for r in after} == {20240401}
    assert next(r for r in after if r["product_key"] == 1)["demand"] == 5 + 77


def test_a_fact_of_d_itself_does_change_them(spark, honest):
    """The check above can fail: the same inputs with one sale of D changed differ."""
    assert [r["demand"] for r in built(spark, today=10)] != [r["demand"] for r in honest]
