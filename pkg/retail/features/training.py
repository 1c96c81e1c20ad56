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


def read_store(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """The feature store's rows of ``first``..``last`` (one per key: read FINAL)."""
    # the column names are ours (definitions), never data
    rows = wh.query_arrow(
        f"SELECT {', '.join(c.name for c in COLUMNS)} FROM {TABLE} FINAL "
        "WHERE date BETWEEN {first:Date} AND {last:Date}", {"first": first, "last": last})
    return select_columns(spark.createDataFrame(arrow_for_spark(rows)))


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
