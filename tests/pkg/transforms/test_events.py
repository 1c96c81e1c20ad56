"""``mark_late`` and ``drop_duplicate_events`` on frames shaped like ``parse_events``'s
output (neither reads ``data``, so it is left out)."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from retail.transforms.events import drop_duplicate_events, mark_late, with_content_hash

EVENTS_DDL = ("event_id string, topic string, partition int, offset long, "
              "event_time timestamp, reject_reason string, reject_error string, "
              "reject_field string")
TOPIC = "retail-sales-transactions"
WATERMARK = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 3, 1, 9 + (minute // 60), minute % 60, second, tzinfo=UTC)


# --- mark_late ------------------------------------------------------------------------------

def test_only_good_events_older_than_the_watermark_are_marked_late(spark):
    events = spark.createDataFrame([
        ("old", TOPIC, 0, 1, at(59, 30), None, None, None),
        ("on the mark", TOPIC, 0, 2, at(60), None, None, None),
        ("recent", TOPIC, 0, 3, at(61), None, None, None),
        ("old and bad", TOPIC, 0, 4, at(30), "contract_violation", "quantity < 1",
         "quantity"),
    ], EVENTS_DDL)

    assertDataFrameEqual(mark_late(events, watermark=WATERMARK), spark.createDataFrame([
        ("old", TOPIC, 0, 1, at(59, 30), "late",
         "event_time 2024-03-01 09:59:30 is behind the watermark 2024-03-01 10:00:00",
         "event_time"),
        ("on the mark", TOPIC, 0, 2, at(60), None, None, None),
        ("recent", TOPIC, 0, 3, at(61), None, None, None),
        ("old and bad", TOPIC, 0, 4, at(30), "contract_violation", "quantity < 1",
         "quantity"),
    ], EVENTS_DDL))


def test_without_a_watermark_nothing_is_late(spark):
    events = spark.createDataFrame([
        ("ancient", TOPIC, 0, 1, datetime(2001, 1, 1, tzinfo=UTC), None, None, None),
    ], EVENTS_DDL)

    assertDataFrameEqual(mark_late(events, watermark=None), spark.createDataFrame([
        ("ancient", TOPIC, 0, 1, datetime(2001, 1, 1, tzinfo=UTC), None, None, None),
    ], EVENTS_DDL))


def test_marking_late_events_keeps_the_columns_and_their_types(spark):
    events = spark.createDataFrame([("e", TOPIC, 0, 1, at(0), None, None, None)], EVENTS_DDL)

    assertSchemaEqual(mark_late(events, watermark=WATERMARK).schema, events.schema)


# --- drop_duplicate_events ------------------------------------------------------------------

def test_duplicates_of_a_good_event_collapse_to_one_row_per_event_id(spark):
    events = spark.createDataFrame([
        ("e1", TOPIC, 0, 1, at(0), None, None, None),
        ("e1", TOPIC, 0, 2, at(0), None, None, None),  # the producer's retry
        ("e1", TOPIC, 1, 7, at(0), None, None, None),  # the same id on another partition
        ("e2", TOPIC, 0, 3, at(1), None, None, None),
    ], EVENTS_DDL)

    kept = drop_duplicate_events(events, within_minutes=10)

    assertDataFrameEqual(kept.groupBy("event_id").count(),
                         [Row(event_id="e1", count=1), Row(event_id="e2", count=1)])
    assertDataFrameEqual(kept.where(F.col("event_id") == "e2"), spark.createDataFrame(
        [("e2", TOPIC, 0, 3, at(1), None, None, None)], EVENTS_DDL))


def test_rejected_records_are_never_merged_even_when_they_share_an_event_id(spark):
    events = spark.createDataFrame([
        ("e1", TOPIC, 0, 1, at(0), None, None, None),
        ("e1", TOPIC, 0, 4, at(0), "contract_violation", "quantity < 1", "quantity"),
        ("e3", TOPIC, 0, 5, at(0), "contract_violation", "quantity < 1", "quantity"),
        ("e3", TOPIC, 0, 6, at(0), "contract_violation", "quantity < 1", "quantity"),
        (None, TOPIC, 0, 8, None, "serialization_error", "not valid JSON", None),
        (None, TOPIC, 0, 9, None, "serialization_error", "not valid JSON", None),
        ("e4", TOPIC, 0, 10, at(0), "late", "behind", "event_time"),
        ("e4", TOPIC, 1, 10, at(0), "late", "behind", "event_time"),
    ], EVENTS_DDL)

    # nothing merged: only good events share a key
    assertDataFrameEqual(drop_duplicate_events(events, within_minutes=10), events)


def test_dropping_duplicates_leaves_no_helper_columns_behind(spark):
    events = spark.createDataFrame([("e", TOPIC, 0, 1, at(0), None, None, None)], EVENTS_DDL)

    assertSchemaEqual(drop_duplicate_events(events, within_minutes=10).schema, events.schema)


def test_in_a_stream_duplicates_collapse_and_rejected_records_are_all_kept(spark, tmp_path):
    # how the job uses it: on a streaming DataFrame (here a file source, read in one go)
    spark.createDataFrame([
        ("e1", TOPIC, 0, 1, at(0), None, None, None),
        ("e1", TOPIC, 0, 2, at(0), None, None, None),
        ("e2", TOPIC, 0, 3, at(1), None, None, None),
        ("e3", TOPIC, 0, 5, at(0), "contract_violation", "quantity < 1", "quantity"),
        ("e3", TOPIC, 0, 6, at(0), "contract_violation", "quantity < 1", "quantity"),
        (None, TOPIC, 0, 8, None, "serialization_error", "not valid JSON", None),
        (None, TOPIC, 0, 9, None, "serialization_error", "not valid JSON", None),
    ], EVENTS_DDL).coalesce(1).write.parquet(str(tmp_path / "in"))
    stream = spark.readStream.schema(EVENTS_DDL).parquet(str(tmp_path / "in"))

    query = (drop_duplicate_events(stream, within_minutes=10).writeStream
             .format("memory").queryName("dedup_stream_test")
             .option("checkpointLocation", str(tmp_path / "checkpoint"))
             .trigger(availableNow=True).start())
    query.awaitTermination(60)
    kept = spark.table("dedup_stream_test")

    assertDataFrameEqual(kept.select("event_id", "offset", "reject_reason")
                         .where(F.col("event_id").isNull() | (F.col("event_id") != "e1")), [
        Row(event_id="e2", offset=3, reject_reason=None),
        Row(event_id="e3", offset=5, reject_reason="contract_violation"),
        Row(event_id="e3", offset=6, reject_reason="contract_violation"),
        Row(event_id=None, offset=8, reject_reason="serialization_error"),
        Row(event_id=None, offset=9, reject_reason="serialization_error"),
    ])
    assertDataFrameEqual(kept.where(F.col("event_id") == "e1").select("event_id"),
                         [Row(event_id="e1")])


# --- versions of one event id ---------------------------------------------------------------

DATA_DDL = EVENTS_DDL + ", data struct<quantity: int, store_id: string>"


def test_with_content_hash_identical_copies_collapse_and_other_versions_pass(spark):
    events = spark.createDataFrame([
        ("e1", TOPIC, 0, 1, at(0), None, None, None, (2, "S1")),
        ("e1", TOPIC, 0, 2, at(0), None, None, None, (2, "S1")),  # the producer's retry
        ("e1", TOPIC, 1, 3, at(0), None, None, None, (5, "S1")),  # quantity changed
        ("e2", TOPIC, 0, 4, at(1), None, None, None, (2, "S1")),  # other id, same fields
    ], DATA_DDL)

    hashed = with_content_hash(events)
    kept = drop_duplicate_events(hashed, within_minutes=10, content="content_hash")

    assertDataFrameEqual(kept.groupBy("event_id").count(),
                         [Row(event_id="e1", count=2), Row(event_id="e2", count=1)])
    rows = {(r.offset, r.content_hash) for r in hashed.collect()}
    by_offset = dict(rows)
    assert by_offset[1] == by_offset[2] == by_offset[4] != by_offset[3]
