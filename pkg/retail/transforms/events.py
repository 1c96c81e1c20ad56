"""Event-time hygiene: late events and duplicates.

``mark_late`` routes good events older than the watermark to quarantine (reason ``late``)
instead of dropping them the way Spark's stateful operators do. ``drop_duplicate_events``
keeps the first copy of each ``event_id`` (with ``content``, of each id and content: two
versions of one id then both pass, for the stream to judge); in a stream it remembers ids
for a while of processing time, in Spark's state store (so a restart remembers them too).
``with_content_hash`` adds that content: a hash of the parsed fields, so a copy sent with
other key order or spacing still hashes alike.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def is_good() -> Column:
    """Rows that passed every check so far."""
    return F.col("reject_reason").isNull()


def mark_late(events: DataFrame, *, watermark: datetime | None) -> DataFrame:
    """Reject good events whose ``event_time`` is before ``watermark`` as ``late``."""
    if watermark is None:
        return events
    late = is_good() & (F.col("event_time") < F.lit(watermark))
    message = F.concat(F.lit("event_time "), F.date_format("event_time", "yyyy-MM-dd HH:mm:ss"),
                       F.lit(f" is behind the watermark {watermark:%Y-%m-%d %H:%M:%S}"))
    return (events
            .withColumn("reject_field", F.when(late, "event_time")
                        .otherwise(F.col("reject_field")))
            .withColumn("reject_error", F.when(late, message).otherwise(F.col("reject_error")))
            .withColumn("reject_reason", F.when(late, "late").otherwise(F.col("reject_reason"))))


def with_content_hash(events: DataFrame) -> DataFrame:
    """Add ``content_hash``: xxhash64 of the typed ``data`` struct (every contract field)."""
    return events.withColumn("content_hash", F.xxhash64(F.col("data")))


def dedup_key(content: str | None = None) -> Column:
    """``event_id`` (and ``content``, if named) for a good event; the Kafka coordinates for
    anything else (never merged)."""
    coordinates = F.concat_ws(":", F.col("topic"), F.col("partition").cast("string"),
                              F.col("offset").cast("string"))
    key = F.col("event_id") if content is None else \
        F.concat_ws(":", F.col("event_id"), F.col(content).cast("string"))
    return F.when(is_good() & F.col("event_id").isNotNull(), key) \
        .otherwise(F.concat(F.lit("record:"), coordinates))


def drop_duplicate_events(events: DataFrame, *, within_minutes: float,
                          content: str | None = None) -> DataFrame:
    """Keep one row per event id, or per event id and ``content`` column if named.

    In a streaming query ids are remembered for ``within_minutes`` of processing time
    (a watermark on the time each row is seen); a batch DataFrame is deduplicated whole.
    """
    keyed = events.withColumn("_dedup_key", dedup_key(content))
    if not events.isStreaming:
        return keyed.dropDuplicates(["_dedup_key"]).drop("_dedup_key")
    kept = (keyed.withColumn("_seen_at", F.current_timestamp())
            .withWatermark("_seen_at", f"{int(within_minutes * 60)} seconds")
            .dropDuplicatesWithinWatermark(["_dedup_key"]))
    return kept.drop("_dedup_key", "_seen_at")
