"""``build_features``: the feature store's rows of a closed day, into the warehouse and the lake.

For day D: read what the warehouse knew at the end of D (:mod:`retail.features.sources`),
compute every feature in Spark (:mod:`retail.transforms.features`), select the columns of
:mod:`retail.features.definitions`, then

* write to ``feature_store_daily`` only the rows that are new or changed since the last run
  (a ReplacingMergeTree keyed by day, store and product: a changed row replaces the old one,
  a second run writes nothing);
* write the whole day to the lake's features bucket, ``features/date=D/part-0.parquet``
  (``RETAIL_LAKE__FEATURES_BUCKET``; a folder of that name in a directory lake), replacing
  an earlier run's file;
* record the run in ``job_runs`` (``job = 'build_features'``).

Several days (up to 7 within 35) are computed in one Spark plan (:func:`plans`): Spark's fixed cost
per plan and per job, seconds on two cores, outweighs a small chain's rows. Each day is
still written and recorded on its own, and its rows are the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.definitions import COLUMNS
from retail.features.sources import DayNotReady, read_inputs
from retail.io.lake import filesystem
from retail.io.warehouse import Warehouse
from retail.settings import LakeSettings, Settings
from retail.transforms.features import build_features
from retail.batch.runner import each_day
from retail.warehouse.keys import date_key

JOB = "build_features"
TABLE = "feature_store_daily"
DATASET = "features"  # the folder of the day's rows in the features bucket


DAYS_PER_PLAN = 7  # days built in one Spark plan, at most
PLAN_SPAN_DAYS = 35  # from a plan's first day to its last, at most (weekly days: 5 a plan)
ROWS_PER_PLAN = 250_000  # rows one plan computes, at most (a day is never split)


@dataclass
class FeatureDay:
    """What one day's build did."""

    day: date
    rows: int
    written: int  # rows new or changed in the warehouse
    lake_path: str
    seconds: float = 0.0  # its writes, and its share of its plan's Spark time
    plan: str = ""  # the days built in the same Spark plan, first..last

    def as_details(self) -> dict:
        return {"day": str(self.day), "rows": self.rows, "written": self.written,
                "lake_path": self.lake_path, "seconds": round(self.seconds, 2),
                "plan": self.plan}


def select_columns(frame: DataFrame) -> DataFrame:
    """The store's columns, in order and in their declared types (the schema contract)."""
    return frame.select(*(F.col(c.name).cast(c.type) for c in COLUMNS))


def feature_rows(spark: SparkSession, wh: Warehouse, day: date, last: date | None = None
                 ) -> pa.Table:
    """The rows of the days ``day``..``last`` (``day`` alone by default) as Arrow, sorted by
    date, store and product; a day that is not closed has none (see :func:`day_rows`)."""
    frame = select_columns(build_features(read_inputs(spark, wh, day, last), day=day,
                                          last=last))
    try:
        return frame.orderBy("date", "store_key", "product_key").toArrow()
    finally:
        spark.catalog.clearCache()  # the days' demand, which build_features cached


def day_rows(rows: pa.Table, day: date, database: str) -> pa.Table:
    """Day D's rows of :func:`feature_rows`' table.

    Raises:
        DayNotReady: it has none: the day has no end-of-day snapshot (not closed).
    """
    mine = rows.filter(pc.equal(rows["date"], pa.scalar(day, pa.date32())))
    if mine.num_rows == 0:
        raise DayNotReady(f"{day} has no end-of-day snapshot in {database}.fact_inventory: "
                          "close it first (`retail batch daily-etl --date D`)")
    return mine


def plans(wh: Warehouse, days: list[date]) -> list[list[date]]:
    """``days`` in groups each built in one Spark plan, oldest first: at most DAYS_PER_PLAN
    days within PLAN_SPAN_DAYS, and fewer when the chain's pairs times the group's span (the
    plan computes every closed day between its first and last) would make more than
    ROWS_PER_PLAN rows: a chain of the design's size builds one day per plan."""
    keys = [date_key(d) for d in days]
    counts = wh.query_rows(
        "SELECT date_key, count() FROM fact_inventory WHERE record_type = 'snapshot' AND "
        "date_key IN {keys:Array(UInt32)} GROUP BY date_key", {"keys": keys})
    widest = max([int(n) for _, n in counts] + [1])
    groups: list[list[date]] = []
    for day in sorted(days):
        group = groups[-1] if groups else None
        span = (day - group[0]).days + 1 if group else 0
        if group and len(group) < DAYS_PER_PLAN and span <= PLAN_SPAN_DAYS \
                and widest * span <= ROWS_PER_PLAN:
            group.append(day)
        else:
            groups.append([day])
    return groups


def features_root(settings: LakeSettings) -> tuple[object, str]:
    """The features bucket (``RETAIL_LAKE__FEATURES_BUCKET``) on the lake's object store, or
    a folder of that name in a directory lake (as ``retail lake init`` lays it out)."""
    fs, base = filesystem(settings)
    return fs, (settings.features_bucket if settings.is_s3
                else f"{base}/{settings.features_bucket}")


def write_lake(settings: LakeSettings, day: date, rows: pa.Table) -> str:
    """The day's rows as ``features/date=D/part-0.parquet``, replacing an earlier run's."""
    fs, root = features_root(settings)
    folder = f"{root}/{DATASET}/date={day}"
    fs.create_dir(folder, recursive=True)
    path = f"{folder}/part-0.parquet"
    pq.write_table(rows, path, filesystem=fs, compression="zstd")
    return path


def _fingerprints(table: pa.Table) -> pa.Array:
    parts = [pc.fill_null(pc.cast(table[c.name], pa.string()), "\x00") for c in COLUMNS]
    return pc.binary_join_element_wise(*parts, "|")


def write_changed(wh: Warehouse, day: date, rows: pa.Table) -> int:
    """Insert the rows the warehouse does not hold as they are; returns how many."""
    # the column names are ours (definitions), never data
    held = wh.query_arrow(f"SELECT {', '.join(c.name for c in COLUMNS)} FROM {TABLE} FINAL "
                          "WHERE date_key = {d:UInt32}", {"d": date_key(day)})
    changed = rows.filter(pc.invert(pc.is_in(_fingerprints(rows),
                                             value_set=_fingerprints(held))))
    if changed.num_rows:
        wh.insert_arrow(TABLE, changed)
    return changed.num_rows


def run_days(spark: SparkSession, settings: Settings, wh: Warehouse, days: list[date],
             on_day: Callable[[FeatureDay], None] | None = None) -> list[FeatureDay]:
    """Build each day, oldest first, several days per Spark plan (:func:`plans`),
    each written and recorded in ``job_runs`` on its own; stop at the first that fails (its
    row says why). Check the days first with :func:`retail.features.sources.check_ready`."""
    plan_of = {day: group for group in plans(wh, days) for day in group}
    built: dict[date, tuple[pa.Table, float]] = {}

    def run_one(day: date) -> FeatureDay:
        group = plan_of[day]
        if group[0] not in built:
            built.clear()  # the previous plan's rows are written
            started = time.monotonic()
            rows = feature_rows(spark, wh, group[0], group[-1])
            built[group[0]] = rows, (time.monotonic() - started) / len(group)
        rows, share = built[group[0]]
        started = time.monotonic()
        mine = day_rows(rows, day, wh.database)
        written = write_changed(wh, day, mine)
        path = write_lake(settings.lake, day, mine)
        return FeatureDay(day, mine.num_rows, written, path,
                          share + time.monotonic() - started, f"{group[0]}..{group[-1]}")

    return each_day(wh, JOB, sorted(days), run_one,
                    lambda r: ("succeeded", r.rows, r.written, r.as_details()), on_day)
