"""The cross-sell models: MLlib ALS (implicit feedback) on loyal customers' basket counts,
in a ``PipelineModel`` with the indexers of customer and product ids (registered whole in
MLflow's Spark flavor), and MLlib FPGrowth's association rules on baskets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StringIndexer
from pyspark.ml.fpm import FPGrowth
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail.ml.recommendations.settings import RecommendationSettings
from retail.transforms.baskets import basket_sets, purchase_counts

# ALS's parameters a run logs and a champion is refitted with
ALS_PARAMS = ("rank", "reg_param", "alpha", "max_iter", "seed")


def als_params(source: RecommendationSettings | Mapping[str, Any]) -> dict[str, Any]:
    """ALS's parameters from the settings or from a run's logged parameters (strings)."""
    get = source.get if isinstance(source, Mapping) else lambda k: getattr(source, k)
    kinds = {"rank": int, "reg_param": float, "alpha": float, "max_iter": int, "seed": int}
    missing = [k for k in ALS_PARAMS if get(k) is None]
    if missing:
        raise ValueError(f"ALS parameters missing: {', '.join(missing)}")
    return {k: kinds[k](get(k)) for k in ALS_PARAMS}


def fit_als(lines: DataFrame, params: Mapping[str, Any]) -> PipelineModel:
    """The ALS pipeline fitted on ``lines``' loyal customer x product basket counts."""
    counts = purchase_counts(lines)
    # ALS's default of 10 blocks is 10 tasks a stage in each of its iterations: as many as
    # the session's cores do the same work with a fifth of the tasks on a local[2] master
    blocks = max(1, lines.sparkSession.sparkContext.defaultParallelism)
    pipeline = Pipeline(stages=[
        StringIndexer(inputCol="customer_id", outputCol="user", handleInvalid="skip",
                      stringOrderType="alphabetAsc"),
        StringIndexer(inputCol="product_id", outputCol="item", handleInvalid="skip",
                      stringOrderType="alphabetAsc"),
        ALS(userCol="user", itemCol="item", ratingCol="baskets", implicitPrefs=True,
            rank=params["rank"], regParam=params["reg_param"], alpha=params["alpha"],
            maxIter=params["max_iter"], seed=params["seed"], coldStartStrategy="drop",
            numUserBlocks=blocks, numItemBlocks=blocks)])
    return pipeline.fit(counts)


def _labels(model: PipelineModel) -> tuple[list[str], list[str]]:
    customers, products = model.stages[0], model.stages[1]
    return list(customers.labels), list(products.labels)


def als_scores(model: PipelineModel, customers: DataFrame, *, k: int) -> DataFrame:
    """Each of ``customers`` (``customer_id``) the model knows: its ``k`` best products,
    ``customer_id, product_id, score``; a customer the model never saw gets none."""
    spark = customers.sparkSession
    users, items = _labels(model)
    known = model.stages[0].transform(customers.select("customer_id").distinct())
    wanted = known.select(F.col("user").cast("int").alias("user"), "customer_id")
    recs = model.stages[-1].recommendForUserSubset(wanted.select("user"), k)
    item_ids = spark.createDataFrame(list(enumerate(items)), "item int, product_id string")
    exploded = recs.select("user", F.explode("recommendations").alias("r")).select(
        "user", F.col("r.item").alias("item"), F.col("r.rating").cast("double").alias("score"))
    return (exploded.join(wanted, on="user", how="inner")
            .join(F.broadcast(item_ids), on="item", how="inner")
            .select("customer_id", "product_id", "score"))


def item_factors(model: PipelineModel) -> DataFrame:
    """The ALS item factors by product: ``product_id, features``."""
    factors = model.stages[-1].itemFactors
    _, items = _labels(model)
    item_ids = factors.sparkSession.createDataFrame(list(enumerate(items)),
                                                    "id int, product_id string")
    return factors.join(F.broadcast(item_ids), on="id", how="inner").select(
        "product_id", "features")


def fit_rules(lines: DataFrame, settings: RecommendationSettings) -> DataFrame:
    """FPGrowth's association rules on the baskets of ``lines`` (every basket, anonymous
    ones too): ``antecedent, consequent, confidence, lift, support``."""
    growth = FPGrowth(itemsCol="items", minSupport=settings.min_support,
                      minConfidence=settings.min_confidence)
    return growth.fit(basket_sets(lines).select("items")).associationRules
