"""Duplicates in Spark (late events are judged on the driver: ``retail.streaming.verdicts``).

``drop_duplicate_events`` keeps the first copy of each ``event_id`` (with ``content``, of
each id and content: two versions of one id then both pass, for the stream to judge); in a
stream it remembers ids for a while of processing time, in Spark's state store (so a
restart remembers them too). The content is the parse's ``content_hash``
(:mod:`retail.transforms.parsed`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def is_good() -> Column:
    """Rows that passed every check so far."""
    return F.col("reject_reason").isNull()


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
