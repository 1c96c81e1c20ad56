"""``sales_window_metrics``: partial sums per sliding 5-minute window (1-minute slide)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.streaming.sales import sales_window_metrics

TS = pa.timestamp("ms", "UTC")
SALES_SCHEMA = pa.schema([
    ("store_id", pa.string()), ("product_id", pa.string()), ("quantity", pa.int32()),
    ("revenue", pa.decimal128(18, 2)), ("event_time", TS)])
METRICS_SCHEMA = pa.schema([
    ("window_start", TS), ("window_end", TS), ("store_id", pa.string()),
    ("product_id", pa.string()), ("units", pa.int64()), ("revenue", pa.decimal128(18, 2)),
    ("lines", pa.int64()), ("velocity_per_hour", pa.float64()),
    ("revenue_per_hour", pa.decimal128(18, 2))])


def t(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 3, 1, 10, minute, second, tzinfo=UTC)


def table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows],
                                schema)


def where(metrics: pa.Table, **equal: object) -> pa.Table:
    """The rows of ``metrics`` whose columns equal the given values."""
    mask = pa.array([True] * metrics.num_rows)
    for name, value in equal.items():
        scalar = pa.scalar(value, metrics.schema.field(name).type)
        mask = pc.and_(mask, pc.equal(metrics[name], scalar))
    return metrics.filter(mask)


def assert_tables_equal(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema == expected.schema
    assert sorted(actual.to_pylist(), key=repr) == sorted(expected.to_pylist(), key=repr)


def windows_of(minute: int, store: str, product: str, units: int, revenue: str,
               lines: int) -> list[tuple]:
    """The five windows [start, start + 5 min) holding a time in minute ``minute``."""
    return [(t(start), t(start + 5), store, product, units, Decimal(revenue), lines,
             units * 12.0, Decimal(revenue) * 12)
            for start in range(minute - 4, minute + 1)]


def test_one_sale_counts_in_each_of_the_five_windows_that_contain_it():
    sales = table([("S00001", "P000001", 3, Decimal("13.50"), t(12, 30))], SALES_SCHEMA)

    assert_tables_equal(sales_window_metrics(sales), table(
        windows_of(12, "S00001", "P000001", 3, "13.50", 1)
        + windows_of(12, "S00001", "", 3, "13.50", 1), METRICS_SCHEMA))


def test_the_windows_have_the_documented_columns_and_types():
    sales = table([("S00001", "P000001", 3, Decimal("13.50"), t(12, 30))], SALES_SCHEMA)

    assert sales_window_metrics(sales).schema == METRICS_SCHEMA


def test_per_store_rows_add_up_every_product_of_the_store():
    sales = table([
        ("S00001", "P000001", 2, Decimal("10.00"), t(12, 0)),
        ("S00001", "P000001", 1, Decimal("5.00"), t(12, 40)),
        ("S00001", "P000002", 4, Decimal("7.96"), t(12, 20)),
        ("S00002", "P000001", 1, Decimal("5.00"), t(12, 10)),
    ], SALES_SCHEMA)

    window = where(sales_window_metrics(sales), window_start=t(10))

    assert_tables_equal(window, table([
        (t(10), t(15), "S00001", "P000001", 3, Decimal("15.00"), 2, 36.0, Decimal("180.00")),
        (t(10), t(15), "S00001", "P000002", 4, Decimal("7.96"), 1, 48.0, Decimal("95.52")),
        (t(10), t(15), "S00001", "", 7, Decimal("22.96"), 3, 84.0, Decimal("275.52")),
        (t(10), t(15), "S00002", "P000001", 1, Decimal("5.00"), 1, 12.0, Decimal("60.00")),
        (t(10), t(15), "S00002", "", 1, Decimal("5.00"), 1, 12.0, Decimal("60.00")),
    ], METRICS_SCHEMA))


def test_a_sale_only_counts_in_windows_that_contain_it_and_a_window_end_is_exclusive():
    sales = table([
        ("S00001", "P000001", 1, Decimal("1.00"), t(10, 0)),  # first instant of [10, 15)
        ("S00001", "P000001", 2, Decimal("2.00"), t(15, 0)),  # end of [10, 15): not in it
        ("S00001", "P000001", 4, Decimal("4.00"), t(14, 59)),
    ], SALES_SCHEMA)

    window = where(sales_window_metrics(sales), window_start=t(10), product_id="P000001")

    assert_tables_equal(window, table([
        (t(10), t(15), "S00001", "P000001", 5, Decimal("5.00"), 2, 60.0, Decimal("60.00")),
    ], METRICS_SCHEMA))


def test_a_return_nets_out_of_units_and_revenue_but_still_counts_as_a_line():
    sales = table([
        ("S00001", "P000001", 3, Decimal("30.00"), t(12, 0)),
        ("S00001", "P000001", -1, Decimal("-10.00"), t(12, 30)),
    ], SALES_SCHEMA)

    window = where(sales_window_metrics(sales), window_start=t(12))

    assert_tables_equal(window, table([
        (t(12), t(17), "S00001", "P000001", 2, Decimal("20.00"), 2, 24.0, Decimal("240.00")),
        (t(12), t(17), "S00001", "", 2, Decimal("20.00"), 2, 24.0, Decimal("240.00")),
    ], METRICS_SCHEMA))


def test_a_window_with_only_a_return_has_negative_units_and_revenue():
    sales = table([
        ("S00001", "P000001", -2, Decimal("-9.98"), t(12, 0)),
    ], SALES_SCHEMA)

    window = where(sales_window_metrics(sales), window_start=t(8), product_id="")

    assert_tables_equal(window, table([
        (t(8), t(13), "S00001", "", -2, Decimal("-9.98"), 1, -24.0, Decimal("-119.76")),
    ], METRICS_SCHEMA))


# --- beyond the Spark tests: Spark's edges the Arrow version reproduces ---------------------

def test_a_slide_that_does_not_divide_the_window_keeps_only_the_windows_holding_the_sale():
    # 5-minute windows every 2 minutes starting at even minutes: 10:12:30 is in [08, 13),
    # [10, 15), [12, 17) and not in [06, 11)
    sales = table([("S00001", "P000001", 1, Decimal("1.00"), t(12, 30))], SALES_SCHEMA)

    metrics = sales_window_metrics(sales, window_minutes=5, slide_minutes=2)

    assert sorted(r["window_start"].minute for r in where(metrics, product_id="").to_pylist()) \
        == [8, 10, 12]


def test_a_sale_without_an_event_time_counts_in_no_window_and_empty_input_gives_none():
    sales = table([("S00001", "P000001", 1, Decimal("1.00"), None)], SALES_SCHEMA)

    assert_tables_equal(sales_window_metrics(sales), METRICS_SCHEMA.empty_table())
    assert_tables_equal(sales_window_metrics(SALES_SCHEMA.empty_table()),
                        METRICS_SCHEMA.empty_table())


def test_revenue_per_hour_rounds_half_up_like_spark_and_a_slide_longer_than_the_window_fails():
    # 0.01 x 7.5 = 0.075 (as a double 0.07499999...): Spark's cast gives 0.08, Arrow's 0.07
    sales = table([("S00001", "P000001", 1, Decimal("0.01"), t(12)),
                   ("S00002", "P000001", -1, Decimal("-0.01"), t(12))], SALES_SCHEMA)

    rows = where(sales_window_metrics(sales, window_minutes=8), window_start=t(12),
                 product_id="").to_pylist()

    assert sorted(r["revenue_per_hour"] for r in rows) == [Decimal("-0.08"), Decimal("0.08")]
    with pytest.raises(ValueError):
        sales_window_metrics(sales, window_minutes=1, slide_minutes=2)


def test_50000_random_sales_add_up_window_by_window_as_summed_by_hand():
    rng = random.Random(22)
    start = t(0)
    rows = [(f"S{rng.randint(1, 5):05d}", f"P{rng.randint(1, 40):06d}",
             rng.randint(-3, 12), Decimal(rng.randint(-5_000, 90_000)) / 100,
             start + timedelta(milliseconds=rng.randint(0, 3 * 3_600_000)))
            for _ in range(50_000)]

    metrics = sales_window_metrics(table(rows, SALES_SCHEMA)).to_pylist()

    product_rows = [m for m in metrics if m["product_id"] != ""]
    store_rows = [m for m in metrics if m["product_id"] == ""]
    for level in (product_rows, store_rows):
        assert sum(m["units"] for m in level) == 5 * sum(r[2] for r in rows)
        assert sum(m["revenue"] for m in level) == 5 * sum(r[3] for r in rows)
        assert sum(m["lines"] for m in level) == 5 * len(rows)
    for store, product in (("S00001", "P000001"), ("S00003", "P000017"), ("S00005", "")):
        by_hand: dict[datetime, list] = defaultdict(lambda: [0, Decimal(0), 0])
        for s, p, quantity, revenue, at in rows:
            if s != store or (product and p != product):
                continue
            minute = at.replace(second=0, microsecond=0)
            for back in range(5):  # the windows [minute - back, minute - back + 5 min)
                sums = by_hand[minute - timedelta(minutes=back)]
                sums[0] += quantity
                sums[1] += revenue
                sums[2] += 1
        got = {m["window_start"]: [m["units"], m["revenue"], m["lines"]] for m in metrics
               if m["store_id"] == store and m["product_id"] == product}
        assert got == dict(by_hand)
        assert all(m["window_end"] - m["window_start"] == timedelta(minutes=5)
                   and m["velocity_per_hour"] == m["units"] * 12.0
                   and m["revenue_per_hour"] == m["revenue"] * 12
                   for m in metrics if m["store_id"] == store)
