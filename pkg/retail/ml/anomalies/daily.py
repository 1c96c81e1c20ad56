"""``detect_anomalies --task score --date D``: the champion's forests score every closed store
x product of D; the top-k of each store go to ``ml_anomalies`` with their kind, their values
and the stream alert that already reported them (docs/anomalies.md).

Idempotent per day and model version: the scoring is deterministic (seeded forests, ties
ranked by product) and a run replaces the rows of its day and version
(:func:`~retail.ml.outputs.replace_run`), so a re-run on changed data leaves no pair it no
longer flags behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.io.warehouse import Warehouse
from retail.ml.anomalies.inputs import check_closed, read_alerts, read_signals
from retail.ml.anomalies.registered import MODEL, Detector
from retail.ml.anomalies.settings import AnomalySettings
from retail.ml.anomalies.training import flag
from retail.ml.outputs import replace_run
from retail.transforms import anomaly_signals as signals

TABLE = "ml_anomalies"
VALUES = ("demand", "expected_demand", "expected_low", "expected_high",
          "unexplained_stock_change", "avg_unit_price", "reference_price", "velocity_change")


@dataclass(frozen=True)
class ScoredDay:
    day: date
    model_version: str
    pairs: int  # store x product days scored
    rows: int  # written (top-k per store)
    duplicates: int  # of them, already reported by a stream alert
    kinds: dict[str, int]
    seconds: float

    def as_details(self) -> dict:
        return {"day": str(self.day), "model": MODEL, "model_version": self.model_version,
                "pairs": self.pairs, "rows": self.rows, "duplicates": self.duplicates,
                "kinds": self.kinds, "seconds": round(self.seconds, 1)}


def anomaly_rows(flagged: DataFrame, *, model_version: str) -> DataFrame:
    """``ml_anomalies`` rows of the flagged top-k (with ``duplicate_alert_id``)."""
    return flagged.select(
        "date", F.date_format("date", "yyyyMMdd").cast("int").alias("date_key"),
        "store_id", "product_id", F.col("score").cast("double").alias("score"),
        F.col("rank").cast("int").alias("rank"), "kind",
        *(F.col(c).cast("double").alias(c) for c in VALUES),
        "duplicate_alert_id", F.lit(model_version).alias("model_version"))


def score_day(spark: SparkSession, wh: Warehouse, detector: Detector, day: date,
              settings: AnomalySettings) -> ScoredDay:
    """Score D and write its top-k per store.

    Raises:
        ValueError: D is not closed (no end-of-day snapshot) or no pair has 7 days of
            history before it.
    """
    started = time.monotonic()
    check_closed(wh, day)
    features = signals.anomaly_features(read_signals(
        spark, wh, day, day, range_width=settings.range_width)).cache()
    try:
        pairs = features.count()
        if pairs == 0:
            raise ValueError(f"no store x product of {day} has 7 days of history before it "
                             "in the warehouse: nothing to score")
        flagged = signals.with_duplicate_alerts(
            flag(features, detector.forests, k=settings.top_k),
            read_alerts(spark, wh, day, day))
        table = anomaly_rows(flagged, model_version=detector.version.version).toArrow()
    finally:
        features.unpersist()
    replace_run(wh, TABLE, [table], date_key=int(f"{day:%Y%m%d}"),
                model_version=detector.version.version)
    kinds = table.column("kind").value_counts().to_pylist()
    return ScoredDay(day, detector.version.version, pairs, table.num_rows,
                     table.num_rows - table.column("duplicate_alert_id").null_count,
                     {k["values"]: k["counts"] for k in kinds}, time.monotonic() - started)
