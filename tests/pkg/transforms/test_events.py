"""``drop_duplicate_events`` on frames shaped like ``parse_events``'s
output (neither reads ``data``, so it is left out)."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from retail.transforms.events import drop_duplicate_events

EVENTS_DDL = ("event_id string, topic string, partition int, offset long, "
              "event_time timestamp, reject_reason string, reject_error string, "
              "reject_field string")
TOPIC = "retail-sales-transactions"
WATERMARK = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 3, 1, 9 + (minute // 60), minute % 60, second, tzinfo=UTC)


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
