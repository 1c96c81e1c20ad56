"""Training sets from the feature store: the features of each day D beside the demand of
D + horizon (:func:`retail.transforms.features.training_set`, which sees nothing later than
D but the label and the target day's calendar)."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.build import TABLE, select_columns
from retail.features.definitions import COLUMNS, KNOWN_AHEAD
from retail.features.sources import arrow_for_spark
from retail.io.warehouse import Warehouse
from retail.transforms.features import training_set


# the series sample's hash buckets (read_store's max_series): a series is kept when its
# cityHash64(store_id, product_id) falls in the first ``keep`` of them
SERIES_BUCKETS = 1_000_000


def read_store(spark: SparkSession, wh: Warehouse, first: date, last: date, *,
               max_series: int | None = None,
               columns: tuple[str, ...] | None = None) -> DataFrame:
    """The feature store's rows of ``first``..``last`` (one per key: read FINAL).

    Args:
        columns: only these of the store's columns, in their declared types (None: all).
        max_series: None: every store x product. Else about this many of the series of
            ``first``..``last``, chosen by a hash of ``(store_id, product_id)`` in the
            warehouse's query: the same series in every run and on every day, and a
            smaller sample a subset of a larger one (the series beyond it are never read).
    """
    keep = series_buckets(wh, first, last, max_series)
    params: dict = {"first": first, "last": last}
    sample = ""
    if keep is not None:
        sample = " AND cityHash64(store_id, product_id) % {buckets:UInt64} < {keep:UInt64}"
        params |= {"buckets": SERIES_BUCKETS, "keep": keep}
    chosen = [c for c in COLUMNS if columns is None or c.name in columns]
    # the column names are ours (definitions), never data
    rows = wh.query_arrow(
        f"SELECT {', '.join(c.name for c in chosen)} FROM {TABLE} FINAL "
        "WHERE date BETWEEN {first:Date} AND {last:Date}" + sample, params)
    frame = spark.createDataFrame(arrow_for_spark(rows))
    if columns is None:
        return select_columns(frame)
    return frame.select(*(F.col(c.name).cast(c.type) for c in chosen))


def series_buckets(wh: Warehouse, first: date, last: date, max_series: int | None
                   ) -> int | None:
    """How many of :data:`SERIES_BUCKETS` keep about ``max_series`` of the store's series
    of ``first``..``last``; None: every series (no sample asked, or no more than asked)."""
    if max_series is None:
        return None
    if max_series < 1:
        raise ValueError(f"max_series must be at least 1, not {max_series}")
    total = wh.query_arrow(
        f"SELECT uniqExact(store_id, product_id) AS n FROM {TABLE} "
        "WHERE date BETWEEN {first:Date} AND {last:Date}",
        {"first": first, "last": last}).column("n")[0].as_py()
    if total <= max_series:
        return None
    return -(-max_series * SERIES_BUCKETS // total)


def load_training_set(spark: SparkSession, wh: Warehouse, first: date, last: date, *,
                      horizon: int) -> DataFrame:
    """Rows of days ``first``..``last`` labelled with the demand ``horizon`` days later (a
    day whose target is not in the store yet has no row).

    Raises:
        ValueError: ``horizon`` outside 1..7.
    """
    store = read_store(spark, wh, first, last + timedelta(days=horizon))
    rows = training_set(store, horizon=horizon, known_ahead=KNOWN_AHEAD)
    return rows.filter(F.col("date") <= F.lit(last))
