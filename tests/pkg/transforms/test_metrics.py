"""``sales_window_metrics``: partial sums per sliding 5-minute window (1-minute slide)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from retail.transforms.metrics import sales_window_metrics

SALES_DDL = ("store_id string, product_id string, quantity int, revenue decimal(18,2), "
             "event_time timestamp")
METRICS_DDL = ("window_start timestamp, window_end timestamp, store_id string, "
               "product_id string, units long, revenue decimal(18,2), lines long, "
               "velocity_per_hour double, revenue_per_hour decimal(18,2)")


def t(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 3, 1, 10, minute, second, tzinfo=UTC)


def windows_of(minute: int, store: str, product: str, units: int, revenue: str,
               lines: int) -> list[tuple]:
    """The five windows [start, start + 5 min) holding a time in minute ``minute``."""
    return [(t(start), t(start + 5), store, product, units, Decimal(revenue), lines,
             units * 12.0, Decimal(revenue) * 12)
            for start in range(minute - 4, minute + 1)]


def test_one_sale_counts_in_each_of_the_five_windows_that_contain_it(spark):
    sales = spark.createDataFrame(
        [("S00001", "P000001", 3, Decimal("13.50"), t(12, 30))], SALES_DDL)

    assertDataFrameEqual(sales_window_metrics(sales), spark.createDataFrame(
        windows_of(12, "S00001", "P000001", 3, "13.50", 1)
        + windows_of(12, "S00001", "", 3, "13.50", 1), METRICS_DDL))


def test_the_windows_have_the_documented_columns_and_types(spark):
    sales = spark.createDataFrame(
        [("S00001", "P000001", 3, Decimal("13.50"), t(12, 30))], SALES_DDL)

    assertSchemaEqual(sales_window_metrics(sales).schema,
                      T.StructType.fromDDL(METRICS_DDL))


def test_per_store_rows_add_up_every_product_of_the_store(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", 2, Decimal("10.00"), t(12, 0)),
        ("S00001", "P000001", 1, Decimal("5.00"), t(12, 40)),
        ("S00001", "P000002", 4, Decimal("7.96"), t(12, 20)),
        ("S00002", "P000001", 1, Decimal("5.00"), t(12, 10)),
    ], SALES_DDL)

    window = sales_window_metrics(sales).where(F.col("window_start") == t(10))

    assertDataFrameEqual(window, spark.createDataFrame([
        (t(10), t(15), "S00001", "P000001", 3, Decimal("15.00"), 2, 36.0, Decimal("180.00")),
        (t(10), t(15), "S00001", "P000002", 4, Decimal("7.96"), 1, 48.0, Decimal("95.52")),
        (t(10), t(15), "S00001", "", 7, Decimal("22.96"), 3, 84.0, Decimal("275.52")),
        (t(10), t(15), "S00002", "P000001", 1, Decimal("5.00"), 1, 12.0, Decimal("60.00")),
        (t(10), t(15), "S00002", "", 1, Decimal("5.00"), 1, 12.0, Decimal("60.00")),
    ], METRICS_DDL))


def test_a_sale_only_counts_in_windows_that_contain_it_and_a_window_end_is_exclusive(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", 1, Decimal("1.00"), t(10, 0)),  # first instant of [10, 15)
        ("S00001", "P000001", 2, Decimal("2.00"), t(15, 0)),  # end of [10, 15): not in it
        ("S00001", "P000001", 4, Decimal("4.00"), t(14, 59)),
    ], SALES_DDL)

    window = sales_window_metrics(sales).where(
        (F.col("window_start") == t(10)) & (F.col("product_id") == "P000001"))

    assertDataFrameEqual(window, spark.createDataFrame([
        (t(10), t(15), "S00001", "P000001", 5, Decimal("5.00"), 2, 60.0, Decimal("60.00")),
    ], METRICS_DDL))


def test_a_return_nets_out_of_units_and_revenue_but_still_counts_as_a_line(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", 3, Decimal("30.00"), t(12, 0)),
        ("S00001", "P000001", -1, Decimal("-10.00"), t(12, 30)),
    ], SALES_DDL)

    window = sales_window_metrics(sales).where(F.col("window_start") == t(12))

    assertDataFrameEqual(window, spark.createDataFrame([
        (t(12), t(17), "S00001", "P000001", 2, Decimal("20.00"), 2, 24.0, Decimal("240.00")),
        (t(12), t(17), "S00001", "", 2, Decimal("20.00"), 2, 24.0, Decimal("240.00")),
    ], METRICS_DDL))


def test_a_window_with_only_a_return_has_negative_units_and_revenue(spark):
    sales = spark.createDataFrame([
        ("S00001", "P000001", -2, Decimal("-9.98"), t(12, 0)),
    ], SALES_DDL)

    window = sales_window_metrics(sales).where(
        (F.col("window_start") == t(8)) & (F.col("product_id") == ""))

    assertDataFrameEqual(window, spark.createDataFrame([
        (t(8), t(13), "S00001", "", -2, Decimal("-9.98"), 1, -24.0, Decimal("-119.76")),
    ], METRICS_DDL))
