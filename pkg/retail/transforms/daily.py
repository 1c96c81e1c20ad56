"""The daily batch's Spark transforms: a closed store-local day from parsed events.

Inputs are :func:`retail.transforms.validate.parse_events` rows (the stream's own parse and
contract checks), whatever they came from: the lake's copy of the stream, or the records
the stream quarantined as late.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def with_local_date_key(events: DataFrame, stores: DataFrame) -> DataFrame:
    """Add ``date_key`` (``YYYYMMDD``, int) of each event's time in its store's standard
    time, the warehouse's business day; null for a store not in ``stores``.

    ``stores`` has ``store_id`` and ``offset_hours`` (the standard-time UTC offset). Days
    are counted from the epoch in integers, so the session time zone plays no part.
    """
    offsets = stores.select("store_id", F.col("offset_hours").cast("long").alias("_offset_h"))
    local_s = F.unix_seconds(F.col("event_time")) + F.col("_offset_h") * 3600
    day = F.date_add(F.lit("1970-01-01").cast("date"), F.floor(local_s / 86400).cast("int"))
    return (events.join(F.broadcast(offsets), on="store_id", how="left")
            .withColumn("date_key", F.date_format(day, "yyyyMMdd").cast("int"))
            .drop("_offset_h"))


def keep_day(events: DataFrame, *, date_key: int) -> DataFrame:
    """The good events of business day ``date_key`` (rejected ones are kept apart)."""
    return events.filter(F.col("reject_reason").isNull() & (F.col("date_key") == date_key))


def one_per_event_id(events: DataFrame) -> DataFrame:
    """One row per ``event_id``: the same event read twice (the lake and the quarantine, a
    producer's retry) counts once. Copies are identical; of differing versions the one
    with the smallest payload text is kept, so every run keeps the same one."""
    first = Window.partitionBy("event_id").orderBy(F.col("payload").asc_nulls_last(),
                                                    F.col("topic"), F.col("offset"))
    return (events.withColumn("_n", F.row_number().over(first))
            .filter(F.col("_n") == 1).drop("_n"))


def day_counts(events: DataFrame, *, date_key: int) -> DataFrame:
    """Every count the day's reconciliation needs, in one pass: rows per ``event_type``
    (null if unreadable), ``reject_reason`` (null for a good row), ``in_day`` (the row's
    business day is ``date_key``; null if it has none) and ``late`` (the row is one of the
    stream's late records, ``partition >= 0``, rather than the lake's, ``-1``)."""
    return events.groupBy(
        "event_type", "reject_reason", (F.col("date_key") == date_key).alias("in_day"),
        (F.col("partition") >= 0).alias("late")).count()
