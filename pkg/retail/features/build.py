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


@dataclass
class FeatureDay:
    """What one day's build did."""

    day: date
    rows: int
    written: int  # rows new or changed in the warehouse
    lake_path: str
    seconds: float = 0.0

    def as_details(self) -> dict:
        return {"day": str(self.day), "rows": self.rows, "written": self.written,
                "lake_path": self.lake_path, "seconds": round(self.seconds, 2)}


def select_columns(frame: DataFrame) -> DataFrame:
    """The store's columns, in order and in their declared types (the schema contract)."""
    return frame.select(*(F.col(c.name).cast(c.type) for c in COLUMNS))


def feature_rows(spark: SparkSession, wh: Warehouse, day: date) -> pa.Table:
    """The day's rows as Arrow, sorted by store and product.

    Raises:
        DayNotReady: the day has no end-of-day snapshot (not closed by the daily ETL).
    """
    frame = select_columns(build_features(read_inputs(spark, wh, day), day=day))
    try:
        rows = frame.orderBy("store_key", "product_key").toArrow()
    finally:
        spark.catalog.clearCache()  # the day's demand, which build_features cached
    if rows.num_rows == 0:
        raise DayNotReady(f"{day} has no end-of-day snapshot in {wh.database}.fact_inventory: "
                          "close it first (`retail batch daily-etl --date D`)")
    return rows


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


def run_day(spark: SparkSession, settings: Settings, wh: Warehouse, day: date) -> FeatureDay:
    """Build day D (see the module docstring)."""
    started = time.monotonic()
    rows = feature_rows(spark, wh, day)
    written = write_changed(wh, day, rows)
    path = write_lake(settings.lake, day, rows)
    return FeatureDay(day, rows.num_rows, written, path, time.monotonic() - started)


def run_days(spark: SparkSession, settings: Settings, wh: Warehouse, days: list[date],
             on_day: Callable[[FeatureDay], None] | None = None) -> list[FeatureDay]:
    """Build each day in turn, oldest first, with a ``job_runs`` row each; stop at the first
    that fails (its row says why). Check the days first with
    :func:`retail.features.sources.check_ready`."""
    return each_day(wh, JOB, days, lambda day: run_day(spark, settings, wh, day),
                    lambda r: ("succeeded", r.rows, r.written, r.as_details()), on_day)
