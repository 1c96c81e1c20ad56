"""``daily_etl``: close a store-local business day.

For day D it reads every event the lake holds in the UTC partitions around D and the
records the stream quarantined as late, checks them all with the stream's own parse and
contracts, keeps the events of D (by each store's local day), one per ``event_id``, and:

* writes the cleaned day to the processed zone (``<processed>/<event_type>/date=D/``);
* completes the day in the warehouse: the facts gain exactly the events they lack (the late
  ones, anything a stream crash lost), with a deduplication token, and the materialized
  views add exactly those to the daily aggregates. A closed day is completed, never deleted
  and re-inserted (see docs/batch.md), so a second run, or a run after the stream, finds
  nothing missing and changes nothing;
* writes the day's end-of-day inventory snapshot (:mod:`retail.batch.snapshot`);
* reconciles each event type: events in the lake, late ones, rejected (by reason),
  duplicates, the day's distinct events, the facts before and after. A day whose facts do
  not hold exactly its distinct events does not balance: the job fails and names the type.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from retail.batch.snapshot import snapshot_day
from retail.batch.sources import day_window, lake_day_files, lake_records, \
    late_records
from retail.io.lake import filesystem
from retail.io.warehouse import Warehouse
from retail.settings import LakeSettings, Settings
from retail.streaming.batch_tables import event_tables, quarantine_rows
from retail.streaming.reference import Reference
from retail.transforms.daily import day_counts, keep_day, one_per_event_id, \
    with_local_date_key
from retail.transforms.validate import event_columns, parse_events
from retail.warehouse.keys import date_key
from retail.warehouse.load import FACTS, fact_tables

JOB = "daily_etl"


@dataclass
class Reconciliation:
    """One event type's day, counted at every step."""

    event_type: str
    fact: str
    lake: int = 0
    late: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    in_day: int = 0
    facts_before: int = 0
    inserted: int = 0
    facts_after: int = 0

    @property
    def balanced(self) -> bool:
        return self.facts_after == self.in_day

    def problem(self) -> str:
        extra = self.facts_after - self.in_day
        return (f"{self.fact} holds {self.facts_after:,} {self.event_type} events of the day, "
                f"the lake and the late ones {self.in_day:,}: {abs(extra):,} "
                f"{'more in the facts than in the lake' if extra > 0 else 'missing'}")


@dataclass
class DayReport:
    day: date
    topics: list[Reconciliation]
    processed: list[str]
    snapshot_rows: int = 0
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return all(t.balanced for t in self.topics)

    def as_details(self) -> dict:
        return {"day": str(self.day), "seconds": round(self.seconds, 2),
                "balanced": self.balanced, "snapshot_rows": self.snapshot_rows,
                "topics": [{**t.__dict__, "balanced": t.balanced} for t in self.topics]}


def processed_root(settings: LakeSettings) -> tuple[object, str]:
    """The processed zone: the processed bucket (``RETAIL_LAKE__PROCESSED_BUCKET``) on the
    lake's object store, or a folder of that name in a directory lake (as ``retail lake
    init`` lays it out)."""
    fs, base = filesystem(settings)
    return fs, (settings.processed_bucket if settings.is_s3
                else f"{base}/{settings.processed_bucket}")


def _fact_ids(wh: Warehouse, fact: str, day_key: int) -> pa.Array:
    # ``fact`` comes from retail.warehouse.load.FACTS (our names), never from data
    movement = " AND record_type = 'movement'" if fact == "fact_inventory" else ""
    rows = wh.query_arrow(f"SELECT DISTINCT toString(event_id) AS id FROM {fact} "
                          f"WHERE date_key = {{d:UInt32}}{movement}", {"d": day_key})
    return pc.cast(rows["id"], pa.string()) if rows.num_rows else pa.array([], pa.string())


def run_day(spark: SparkSession, settings: Settings, wh: Warehouse, day: date) -> DayReport:
    """Close business day ``day``; see the module docstring. Raises
    :class:`retail.batch.sources.LakeDayMissing` if the lake holds nothing for it."""
    started = time.monotonic()
    ref = Reference.load(wh)
    lake = lake_day_files(settings.lake, day, list(FACTS))
    records = lake_records(spark, settings.lake, lake,
                           day_window(day, [float(h) for h in ref.store_offset]))
    late = late_records(wh, day)
    if late.num_rows:  # a few records: through the driver
        records = records.unionByName(spark.createDataFrame(late, schema=records.schema))
    parsed = parse_events(records, max_bytes=settings.stream.max_event_bytes,
                          max_future_minutes=settings.stream.max_future_minutes)
    stores = spark.createDataFrame(pa.table({
        "store_id": ref.stores["store_id"],
        "offset_hours": pa.array(ref.store_offset, pa.int32())}))
    # On disk, as the day's distinct events below: cached in memory, a day of the design's
    # size (2.5M events) ran Spark's local heap out of memory at 1, 2 and 4 GB
    # (tests/bench/bench_batch.py).
    dated = with_local_date_key(parsed, stores).persist(StorageLevel.DISK_ONLY)
    try:
        report = _complete(wh, settings, day, dated, ref, lake.rows)
    finally:
        dated.unpersist()
    if report.balanced:  # the closing stock of a complete day
        report.snapshot_rows = snapshot_day(wh, ref, day)
    report.seconds = time.monotonic() - started
    return report


def _complete(wh: Warehouse, settings: Settings, day: date, dated, ref: Reference,
              lake_rows: dict[str, int]) -> DayReport:
    key = date_key(day)
    counts = day_counts(dated, date_key=key).collect()  # one Spark job for every count
    rejected, per_type, late = Counter(), Counter(), Counter()
    for r in counts:
        if r["reject_reason"] is not None:
            rejected[r["event_type"], r["reject_reason"]] += r["count"]
        elif r["in_day"]:
            per_type[r["event_type"]] += r["count"]
            late[r["event_type"]] += r["count"] if r["late"] else 0
    day_rows = keep_day(dated, date_key=key)
    good = one_per_event_id(day_rows).select("event_type", "event_time", "data").persist(
        StorageLevel.DISK_ONLY)
    if any(r["reject_reason"] is not None and not r["late"] for r in counts):
        _quarantine(wh, dated, day)  # the lake holds rows the contracts refuse
    tables = {}  # one event type at a time: the driver holds one type's day, not all
    for event_type in sorted(per_type):
        fields = F.struct(*[F.col("data")[c].alias(c) for c in event_columns(event_type)])
        tables.update(event_tables(good.filter(F.col("event_type") == event_type).select(
            "event_type", "event_time", fields.alias("data")).toArrow()))
    good.unpersist()
    facts = fact_tables(tables, ref)
    processed = _write_processed(settings.lake, day, tables)
    topics = []
    for event_type, (fact, _) in FACTS.items():
        rec = Reconciliation(event_type, fact, lake=lake_rows.get(event_type, 0),
                             late=late.get(event_type, 0),
                             rejected={reason: n for (t, reason), n in rejected.items()
                                       if t == event_type},
                             in_day=tables[event_type].num_rows if event_type in tables else 0)
        rec.duplicates = per_type.get(event_type, 0) - rec.in_day
        present = _fact_ids(wh, fact, key)
        rec.facts_before = len(present)
        rows = facts.get(fact)
        if rows is not None and rows.num_rows:
            ids = pc.cast(rows["event_id"], pa.string())
            missing = rows.filter(pc.invert(pc.is_in(ids, value_set=present)))
            if missing.num_rows:
                digest = hashlib.sha256("\n".join(sorted(
                    pc.cast(missing["event_id"], pa.string()).to_pylist())).encode())
                wh.insert_arrow(fact, missing,
                                dedup_token=f"{JOB}:{key}:{fact}:{digest.hexdigest()[:32]}")
                rec.inserted = missing.num_rows
        rec.facts_after = len(_fact_ids(wh, fact, key))
        topics.append(rec)
    return DayReport(day, topics, processed)


def _quarantine(wh: Warehouse, dated, day: date) -> None:
    """Lake rows the contracts now refuse go to quarantine (source ``batch``), once."""
    bad = dated.filter(F.col("reject_reason").isNotNull() & (F.col("partition") < 0))
    rows = bad.drop("date_key").toArrow()
    if rows.num_rows:
        table = quarantine_rows(rows)
        table = table.set_column(table.column_names.index("source"), "source",
                                 pa.array(["batch"] * table.num_rows))
        wh.insert_arrow("quarantine_events", table, dedup_token=f"{JOB}:{day}:quarantine")


def _write_processed(settings: LakeSettings, day: date, tables: dict[str, pa.Table]
                     ) -> list[str]:
    """The cleaned day per event type, replacing what an earlier run wrote."""
    fs, root = processed_root(settings)
    paths = []
    for event_type, table in sorted(tables.items()):
        folder = f"{root}/{event_type}/date={day}"
        fs.create_dir(folder, recursive=True)
        path = f"{folder}/part-0.parquet"
        pq.write_table(table, path, filesystem=fs, compression="zstd")
        paths.append(path)
    return paths
