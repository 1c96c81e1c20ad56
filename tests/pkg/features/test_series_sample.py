"""``read_store(max_series=N)``: about N of the store's series, chosen in the warehouse's
query by a hash of (store_id, product_id): the same every time, a subset of every series
with all their days, and a smaller sample inside a larger one."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest

from retail.features.build import TABLE
from retail.features.training import read_store

pytestmark = pytest.mark.clickhouse_server

FIRST, DAYS, STORES, PRODUCTS = date(2026, 3, 2), 3, 20, 50  # 1,000 series


@pytest.fixture()
def store(migrated):
    """STORES x PRODUCTS series over DAYS days (the other columns at their defaults)."""
    rows = [(FIRST + timedelta(days=d), s, p) for d in range(DAYS)
            for s in range(STORES) for p in range(PRODUCTS)]
    migrated.insert_arrow(TABLE, pa.table({
        "date": [r[0] for r in rows],
        "date_key": pa.array([int(f"{r[0]:%Y%m%d}") for r in rows], pa.uint32()),
        "store_key": [r[1] + 1 for r in rows],
        "product_key": [1000 + r[2] for r in rows],
        "store_id": [f"S{r[1]:03d}" for r in rows],
        "product_id": [f"P{r[2]:05d}" for r in rows],
    }))
    return migrated


def series(spark, wh, max_series):
    frame = read_store(spark, wh, FIRST, FIRST + timedelta(days=DAYS - 1),
                       max_series=max_series)
    rows = frame.select("store_id", "product_id", "date").collect()
    days: dict[tuple, int] = {}
    for r in rows:
        days[(r.store_id, r.product_id)] = days.get((r.store_id, r.product_id), 0) + 1
    return days


def test_a_sample_is_about_the_asked_size_the_same_each_time_and_every_day_of_its_series(
        store, spark):
    every = series(spark, store, None)
    assert len(every) == STORES * PRODUCTS
    sample = series(spark, store, 200)
    assert 140 <= len(sample) <= 260  # a hash sample: about 200 of 1,000
    assert set(sample) <= set(every)
    assert set(sample.values()) == {DAYS}  # a sampled series keeps all its days
    assert series(spark, store, 200) == sample  # deterministic


def test_a_smaller_sample_is_inside_a_larger_one_and_enough_asked_reads_all(store, spark):
    small, large = series(spark, store, 100), series(spark, store, 400)
    assert set(small) < set(large)
    assert len(series(spark, store, 5_000)) == STORES * PRODUCTS


def test_a_sample_below_one_series_is_refused(store, spark):
    with pytest.raises(ValueError, match="max_series"):
        read_store(spark, store, FIRST, FIRST, max_series=0)
