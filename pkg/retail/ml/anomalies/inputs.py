"""What the anomaly detector reads from the warehouse, as Spark frames, and its signals.

Every query takes its days as parameters; sums read ``FINAL`` (one row per event). The grid
is every day the chain traded for every pair with stock movements on record (from its first
one), so a day a product did not sell still has a row.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from retail.features.sources import arrow_for_spark
from retail.io.warehouse import Warehouse
from retail.transforms import anomaly_signals as signals
from retail.warehouse.keys import date_key

# days of history read before the first scored day: the 28-day range and the velocity's
# 7 + 28 days
LOOKBACK_DAYS = sum(signals.VELOCITY_DAYS)
_DAY = "YYYYMMDDToDate(date_key) AS date"
_GROUP = "GROUP BY store_id, product_id, date_key"
_QUERIES = {
    # a min and a distinct: a duplicate not yet merged changes neither (no FINAL needed)
    "pairs": (
        "SELECT toString(store_id) AS store_id, product_id, "
        "YYYYMMDDToDate(min(date_key)) AS first_day FROM fact_inventory "
        "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} GROUP BY store_id, product_id"),
    "days": (
        f"SELECT DISTINCT {_DAY} FROM fact_inventory "
        "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32}"),
    "closed": (
        "SELECT count() AS n FROM fact_inventory WHERE record_type = 'snapshot' "
        "AND date_key = {d:UInt32}"),
    # the shelf price charged (before a promotion's discount: a promotion is no pricing error)
    "sales": (
        f"SELECT toString(store_id) AS store_id, product_id, {_DAY}, "
        "toInt64(sumIf(quantity, transaction_type = 'sale')) AS units_sold, "
        "toInt64(-sumIf(quantity, transaction_type = 'return')) AS units_returned, "
        "sumIf(toFloat64(unit_price) * quantity, transaction_type = 'sale') "
        "/ nullIf(sumIf(quantity, transaction_type = 'sale'), 0) AS avg_unit_price "
        "FROM fact_sales FINAL WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} "
        + _GROUP),
    "lost": (
        f"SELECT toString(store_id) AS store_id, product_id, {_DAY}, "
        "toInt64(sum(lost_quantity)) AS lost_units FROM fact_lost_sales FINAL "
        "WHERE date_key BETWEEN {first:UInt32} AND {last:UInt32} " + _GROUP),
    "movements": (
        f"SELECT toString(store_id) AS store_id, product_id, {_DAY}, "
        "toInt64(sum(quantity_change)) AS stock_change, "
        "toInt64(sumIf(quantity_change, reason = 'restock')) AS delivered_units "
        "FROM fact_inventory FINAL WHERE record_type = 'movement' "
        "AND date_key BETWEEN {first:UInt32} AND {last:UInt32} " + _GROUP),
    "products": (
        "SELECT product_id, toString(category) AS category, "
        "toFloat64(list_price) AS reference_price FROM dim_product FINAL"),
    # the newest forecast of each day made the day before (horizon 1), whatever the version
    "forecasts": (
        f"SELECT toString(store_id) AS store_id, product_id, {_DAY}, "
        "argMax(predicted_demand, predicted_at) AS forecast, "
        "argMax(confidence_low, predicted_at) AS forecast_low, "
        "argMax(confidence_high, predicted_at) AS forecast_high "
        "FROM fact_ml_predictions FINAL WHERE horizon = 1 "
        "AND date_key BETWEEN {first:UInt32} AND {last:UInt32} " + _GROUP),
    "alerts": (
        "SELECT toString(a.alert_id) AS alert_id, toString(a.alert_type) AS alert_type, "
        "toString(a.store_id) AS store_id, a.product_id AS product_id, "
        "a.event_time AS event_time, toString(s.timezone) AS timezone "
        "FROM stream_alerts AS a FINAL INNER JOIN dim_store AS s FINAL "
        "ON toString(a.store_id) = s.store_id "
        "WHERE a.event_time BETWEEN {from_utc:DateTime64(3)} AND {to_utc:DateTime64(3)}"),
}


def _frame(spark: SparkSession, wh: Warehouse, name: str, params: dict) -> DataFrame:
    return spark.createDataFrame(arrow_for_spark(wh.query_arrow(_QUERIES[name], params)))


def check_closed(wh: Warehouse, day: date) -> None:
    """The job's day is closed (its end-of-day snapshot is written; days close in order, so
    the days before it are complete too).

    Raises:
        ValueError: it is not, saying how to close it.
    """
    found = wh.query_arrow(_QUERIES["closed"], {"d": date_key(day)}).column("n")[0].as_py()
    if found == 0:
        raise ValueError(f"{day} is not closed: fact_inventory in {wh.database} has no "
                         "end-of-day snapshot of it; close the day first (retail batch "
                         "daily-etl, or close-imported for a day loaded straight into the "
                         "warehouse)")


def read_signals(spark: SparkSession, wh: Warehouse, first: date, last: date, *,
                 range_width: float = 2.0) -> DataFrame:
    """The signals of every store x product day of ``first``..``last`` (history read from
    :data:`LOOKBACK_DAYS` before), with the robust z-score of the baseline: the
    columns of :func:`~retail.transforms.anomaly_signals.daily_demand` and the expected
    range, velocity change, category and reference price, ``robust_z``,
    ``median_demand``."""
    params = {"first": date_key(first - timedelta(days=LOOKBACK_DAYS)),
              "last": date_key(last)}
    read = {name: _frame(spark, wh, name, params)
            for name in ("pairs", "days", "sales", "lost", "movements", "forecasts")}
    grid = signals.pair_days(read["pairs"], read["days"])
    days = signals.daily_demand(grid, read["sales"], read["lost"], read["movements"])
    days = signals.with_expected_range(days, read["forecasts"], width=range_width)
    days = signals.with_velocity_change(days)
    days = signals.with_robust_z(days)
    days = signals.with_reference_price(days, _frame(spark, wh, "products", {}))
    return days.filter((days.date >= first) & (days.date <= last))


def read_alerts(spark: SparkSession, wh: Warehouse, first: date, last: date) -> DataFrame:
    """The stream's alerts that may fall on a store's local day of ``first``..``last``
    (a day either side in UTC: the time zones)."""
    params = {"from_utc": f"{first - timedelta(days=1)} 00:00:00.000",
              "to_utc": f"{last + timedelta(days=2)} 00:00:00.000"}
    table = wh.query_arrow(_QUERIES["alerts"], params)
    if table.num_rows == 0:
        return spark.createDataFrame([], "alert_id string, alert_type string, store_id "
                                         "string, product_id string, event_time timestamp, "
                                         "timezone string")
    return spark.createDataFrame(arrow_for_spark(table))


LABEL_COLUMNS = ("kind", "store_id", "product_id", "start", "end")


def read_labels(spark: SparkSession, path: Path) -> DataFrame:
    """Confirmed incidents (``--labels``): a parquet of ``kind, store_id, product_id,
    start, end`` (days, end inclusive).

    Raises:
        ValueError: the file is missing, lacks a column or names an unknown kind.
    """
    if not Path(path).exists():
        raise ValueError(f"--labels {path}: no such file")
    table = pq.read_table(path)
    missing = [c for c in LABEL_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"--labels {path} lacks the column(s) {', '.join(missing)} (it needs "
                         f"{', '.join(LABEL_COLUMNS)})")
    table = table.select(list(LABEL_COLUMNS)).cast(pa.schema([
        ("kind", pa.string()), ("store_id", pa.string()), ("product_id", pa.string()),
        ("start", pa.date32()), ("end", pa.date32())]))
    unknown = set(table.column("kind").to_pylist()) - set(signals.KINDS)
    if unknown:
        raise ValueError(f"--labels {path}: unknown kind(s) {sorted(map(str, unknown))} "
                         f"(kinds: {', '.join(signals.KINDS)})")
    return spark.createDataFrame(table.to_pandas())
