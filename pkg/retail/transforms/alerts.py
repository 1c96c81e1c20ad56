"""The shape every stream alert takes (the ``stream_alerts`` table, the alert topics)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ALERT_COLUMNS = ("alert_id", "alert_type", "severity", "status", "store_id", "product_id",
                 "metric_value", "threshold", "details", "event_time")


def stable_uuid(*parts: Column) -> Column:
    """A UUID-shaped id from the md5 of ``parts``: the same inputs give the same id, so a
    replayed micro-batch produces the same alerts."""
    h = F.md5(F.concat_ws("|", *[p.cast("string") for p in parts]))
    return F.concat_ws("-", h.substr(1, 8), h.substr(9, 4), h.substr(13, 4), h.substr(17, 4),
                       h.substr(21, 12))


def alert_columns(*, alert_type: str, severity: Column, metric: Column,
                  threshold: Column | float, details: dict[str, Column], status: str = "open",
                  product: Column | None = None) -> list[Column]:
    """The alert columns of a row (one row per alert, with ``store_id`` and ``event_time``).

    Expressions only, bound to no DataFrame: a transform builds them once and selects
    them from each micro-batch (every column built costs round trips to the JVM)."""
    product_id = product if product is not None else F.col("product_id")
    limit = threshold if isinstance(threshold, Column) else F.lit(float(threshold))
    body = F.to_json(F.struct(*[c.alias(k) for k, c in details.items()]))
    return [
        stable_uuid(F.lit(alert_type), F.col("store_id"), product_id, F.col("event_time"),
                    body).alias("alert_id"),
        F.lit(alert_type).alias("alert_type"), severity.alias("severity"),
        F.lit(status).alias("status"), F.col("store_id"), product_id.alias("product_id"),
        metric.cast("double").alias("metric_value"), limit.cast("double").alias("threshold"),
        body.alias("details"), F.col("event_time")]


def as_alerts(df: DataFrame, **how: object) -> DataFrame:
    """Project ``df`` to alerts (see :func:`alert_columns` for ``how``)."""
    return df.select(*alert_columns(**how))
