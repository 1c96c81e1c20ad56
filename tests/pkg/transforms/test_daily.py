"""The daily batch's transforms on frames shaped like ``parse_events``'s output (``data``
left out: none of them reads it), the expected column beside the input."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.testing import assertDataFrameEqual

from retail.transforms.daily import (
    day_counts,
    keep_day,
    one_per_event_id,
    with_local_date_key,
)

DDL = ("event_id string, event_type string, store_id string, topic string, offset long, "
       "payload string, event_time timestamp, reject_reason string")
STORES = [("S-LA", -8), ("S-NY", -5), ("S-BER", 1)]


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def test_the_business_day_is_the_stores_local_standard_day(spark):
    stores = spark.createDataFrame(STORES, "store_id string, offset_hours int")
    rows = [  # (input..., expected date_key)
        ("a", "S-LA", t(2, 5, 59), 20240301),   # 21:59 the evening before in Los Angeles
        ("b", "S-LA", t(2, 8, 0), 20240302),    # 00:00 local
        ("c", "S-NY", t(2, 4, 59), 20240301),   # 23:59 local
        ("d", "S-BER", t(1, 23, 0), 20240302),  # 00:00 in Berlin
        ("e", "S-BER", t(1, 22, 59), 20240301),
        ("f", "S-NOWHERE", t(2, 12), None),     # unknown store: no day
    ]
    events = spark.createDataFrame(
        [(i, "sales_transaction", s, "x", 0, "{}", ts, None) for i, s, ts, _ in rows], DDL)
    got = with_local_date_key(events, stores).select("event_id", "date_key")
    assertDataFrameEqual(got, spark.createDataFrame(
        [(i, key) for i, _, _, key in rows], "event_id string, date_key int"))


def test_keep_day_takes_good_events_of_that_day_only(spark):
    events = spark.createDataFrame([
        ("in", None, 20240302), ("other day", None, 20240301),
        ("rejected", "contract_violation", 20240302), ("no store", None, None),
    ], "event_id string, reject_reason string, date_key int")
    assertDataFrameEqual(keep_day(events, date_key=20240302).select("event_id"),
                         spark.createDataFrame([("in",)], "event_id string"))


def test_one_row_per_event_id_and_always_the_same_one(spark):
    events = spark.createDataFrame([
        ("e1", "sales_transaction", "S", "lake", 5, '{"q":2}', t(2, 9), None),
        ("e1", "sales_transaction", "S", "late", 1, '{"q":2}', t(2, 9), None),  # a copy
        ("e2", "sales_transaction", "S", "lake", 7, '{"q":9}', t(2, 9), None),
        ("e2", "sales_transaction", "S", "lake", 8, '{"q":1}', t(2, 9), None),  # versions
        ("e3", "sales_transaction", "S", "lake", 9, '{"q":3}', t(2, 9), None),
    ], DDL)
    got = one_per_event_id(events).select("event_id", "topic", "payload")
    assertDataFrameEqual(got, spark.createDataFrame([
        ("e1", "lake", '{"q":2}'), ("e2", "lake", '{"q":1}'), ("e3", "lake", '{"q":3}')],
        "event_id string, topic string, payload string"))
    shuffled = one_per_event_id(events.orderBy("offset", ascending=False).repartition(3))
    assertDataFrameEqual(shuffled.select("event_id", "topic", "payload"), got)


def test_one_pass_counts_rows_by_type_reason_day_and_source(spark):
    events = spark.createDataFrame([  # (input..., date_key, partition)
        ("a", "sales_transaction", "S", "x", 0, "{}", t(2, 9), None, 20240302, -1),
        ("b", "sales_transaction", "S", "x", 1, "{}", t(2, 9), None, 20240302, -1),
        ("c", "sales_transaction", "S", "x", 2, "{}", t(2, 9), None, 20240302, 0),  # late
        ("d", "sales_transaction", "S", "x", 3, "{}", t(1, 9), None, 20240301, -1),
        ("e", "sales_transaction", "S", "x", 4, "{}", t(2, 9), "contract_violation",
         20240302, -1),
        ("f", None, None, "x", 5, "?", None, "serialization_error", None, -1),
    ], DDL + ", date_key int, partition int")
    assertDataFrameEqual(day_counts(events, date_key=20240302), spark.createDataFrame([
        ("sales_transaction", None, True, False, 2),
        ("sales_transaction", None, True, True, 1),
        ("sales_transaction", None, False, False, 1),
        ("sales_transaction", "contract_violation", True, False, 1),
        (None, "serialization_error", None, False, 1),
    ], "event_type string, reject_reason string, in_day boolean, late boolean, count long"))
