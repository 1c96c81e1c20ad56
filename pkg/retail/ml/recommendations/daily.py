"""Scoring a run date D with a registered version: the customers' ALS recommendations, the
stores' opportunities and the product affinities (FPGrowth's rules and the item factors'
cosine) over the window to D, into ``ml_recommendations`` and ``ml_product_affinity``.

Idempotent per run date and model version: the same inputs give the same rows, and a run
replaces the rows of its day and version (:func:`~retail.ml.outputs.replace_run`), so a
re-run on changed data leaves no customer or pair behind; another version writes beside
them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.sources import arrow_for_spark
from retail.io.warehouse import Warehouse
from retail.ml.outputs import replace_run
from retail.ml.recommendations.data import read_window
from retail.ml.recommendations.evaluation import als_recommendations
from retail.ml.recommendations.model import item_factors
from retail.ml.recommendations.registered import Recommender
from retail.ml.recommendations.settings import RecommendationSettings
from retail.transforms.baskets import (cosine_partners, home_stores, purchase_counts,
                                       store_opportunities)
from retail.warehouse.keys import date_key

RECOMMENDATIONS = "ml_recommendations"
AFFINITY = "ml_product_affinity"

_RECOMMENDATION_SCHEMA = pa.schema([
    ("date_key", pa.uint32()), ("run_date", pa.date32()), ("kind", pa.string()),
    ("store_id", pa.string()), ("customer_id", pa.string()), ("rank", pa.uint16()),
    ("product_id", pa.string()), ("score", pa.float64()), ("reason", pa.string()),
    ("model_version", pa.string())])
_AFFINITY_SCHEMA = pa.schema([
    ("date_key", pa.uint32()), ("run_date", pa.date32()), ("method", pa.string()),
    ("product_id", pa.string()), ("rank", pa.uint16()), ("other_product_id", pa.string()),
    ("support", pa.float64()), ("confidence", pa.float64()), ("lift", pa.float64()),
    ("score", pa.float64()), ("model_version", pa.string())])


@dataclass(frozen=True)
class ScoredDay:
    day: date
    model_version: str
    customer_rows: int
    store_rows: int
    affinity_rows: dict[str, int]  # per method
    seconds: float

    @property
    def rows(self) -> int:
        return self.customer_rows + self.store_rows + sum(self.affinity_rows.values())

    def as_details(self) -> dict:
        return {"day": str(self.day), "model_version": self.model_version, "rows": self.rows,
                "customer_rows": self.customer_rows, "store_rows": self.store_rows,
                "affinity_rows": self.affinity_rows, "seconds": round(self.seconds, 1)}


def _stamped(frame: DataFrame, day: date, version: str, schema: pa.Schema) -> pa.Table:
    """``frame`` with the run date and version, in the table's column types."""
    table = frame.select(
        F.lit(date_key(day)).cast("long").alias("date_key"), F.lit(day).alias("run_date"),
        *frame.columns, F.lit(version).alias("model_version")).toArrow()
    return table.select(schema.names).cast(schema)


def customer_rows(recommender: Recommender, lines: DataFrame, *, n: int,
                  exclude_purchased: bool) -> DataFrame:
    """``kind, store_id, customer_id, rank, product_id, score, reason`` of every loyal
    customer of ``lines`` the model knows (store_id: its home store)."""
    counts = purchase_counts(lines)
    owned = counts.select("customer_id", "product_id") if exclude_purchased else None
    recs = als_recommendations(recommender.model, counts.select("customer_id").distinct(),
                               owned, n=n)
    return recs.join(home_stores(lines), on="customer_id", how="inner").select(
        F.lit("customer").alias("kind"), "store_id", "customer_id",
        "rank", "product_id", "score", F.lit("als").alias("reason"))


def affinity_rows(recommender: Recommender, spark: SparkSession, *, n: int
                  ) -> dict[str, DataFrame]:
    """Per method (``fpgrowth``, ``item_factors``): ``product_id, rank, other_product_id,
    support, confidence, lift, score``."""
    columns = ["product_id", "rank", "other_product_id", "support", "confidence", "lift",
               "score"]
    rules = spark.createDataFrame(arrow_for_spark(recommender.partners)).filter(
        F.col("rank") <= n)
    return {"fpgrowth": rules.select(*columns),
            "item_factors": cosine_partners(item_factors(recommender.model), n=n).select(
                *columns)}


def score_day(spark: SparkSession, wh: Warehouse, recommender: Recommender,
              settings: RecommendationSettings, day: date) -> ScoredDay:
    """Score D and write its rows (see the module docstring).

    Raises:
        NoSales: the window to D holds no sale.
    """
    started = time.monotonic()
    data = read_window(spark, wh, day, settings.window_days)
    lines = data.lines.cache()
    version = recommender.version.version
    n = settings.top_n
    customers = _stamped(customer_rows(recommender, lines, n=n,
                                       exclude_purchased=settings.exclude_purchased),
                         day, version, _RECOMMENDATION_SCHEMA)
    partners = spark.createDataFrame(arrow_for_spark(recommender.partners))
    stores = _stamped(store_opportunities(
        lines, partners, data.stocked, data.shortfalls, anchors=settings.store_anchors,
        min_lift=settings.min_lift, min_lost_share=settings.min_lost_share, n=n).select(
            F.lit("store").alias("kind"), "store_id", F.lit("").alias("customer_id"), "rank",
            "product_id", "score", "reason"), day, version, _RECOMMENDATION_SCHEMA)
    affinities = {method: _stamped(frame.withColumn("method", F.lit(method)), day, version,
                                   _AFFINITY_SCHEMA)
                  for method, frame in affinity_rows(recommender, spark, n=n).items()}
    lines.unpersist()
    replace_run(wh, RECOMMENDATIONS, [customers, stores], date_key=date_key(day),
                model_version=version)
    replace_run(wh, AFFINITY, affinities.values(), date_key=date_key(day),
                model_version=version)
    return ScoredDay(day, version, customers.num_rows, stores.num_rows,
                     {m: t.num_rows for m, t in affinities.items()},
                     time.monotonic() - started)
