"""The cross-sell evaluation: each loyal customer's last basket held out, ALS trained on the
rest and judged by recall@k and precision@k against the popularity baseline in the same run,
with the same exclusion rule (docs/recommendations.md, "Evaluation"); and the recovery of
known product pairs (the simulator's planted complements: tests and benchmarks only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail.ml.recommendations.model import als_scores, fit_als
from retail.transforms.baskets import (loyal_lines, popular_products,
                                       popularity_recommendations, purchase_counts,
                                       ranking_metrics, split_last_basket, top_n)

K = 10  # recall@10 and precision@10: the promotion's metric is recall@10


@dataclass(frozen=True)
class Split:
    """The held-out evaluation's data, shared by every model judged on it."""

    history: DataFrame  # the lines to learn from
    relevant: DataFrame  # customer_id, product_id: the held-out baskets' (after exclusion)
    owned: DataFrame | None  # customer_id, product_id left out of recommendations
    customers: DataFrame  # customer_id: the customers judged
    held_out_baskets: int
    judged_customers: int


def holdout_split(lines: DataFrame, *, min_baskets: int, exclude_purchased: bool) -> Split:
    """Hold out each loyal customer's last basket (:func:`split_last_basket`). With
    ``exclude_purchased`` the products a customer bought in the history are left out of
    both the held-out truth and every model's recommendations; a customer whose held-out
    basket holds nothing else is not judged."""
    history, held = split_last_basket(lines, min_baskets=min_baskets)
    # Every frame of the split is read by each model's scoring: each is computed once and
    # kept as a local checkpoint, so the plans that read it start from its stored rows. A
    # cached frame keeps its whole lineage in every plan that reads it: planning a metric
    # over the cached split took 8-9 s of a job that runs in 0.4 s on the checkpoints.
    history, held = history.localCheckpoint(), held.localCheckpoint()
    owned = (purchase_counts(history).select("customer_id", "product_id").localCheckpoint()
             if exclude_purchased else None)
    relevant = loyal_lines(held).select("customer_id", "product_id").distinct()
    if owned is not None:
        relevant = relevant.join(owned, on=["customer_id", "product_id"], how="left_anti")
    relevant = relevant.localCheckpoint()
    customers = relevant.select("customer_id").distinct().localCheckpoint()
    held_out = loyal_lines(held).select("transaction_id").distinct().count()
    return Split(history, relevant, owned, customers, held_out, customers.count())


def _max_owned(owned: DataFrame | None) -> int:
    if owned is None:
        return 0
    most = owned.groupBy("customer_id").count().agg(F.max("count")).first()[0]
    return int(most or 0)


def als_recommendations(model: Any, customers: DataFrame, owned: DataFrame | None, *,
                        n: int) -> DataFrame:
    """ALS's ``n`` best products per customer, the ``owned`` ones left out: ``customer_id,
    product_id, score, rank``. It asks ALS for ``n`` + the most any customer owns, so the
    exclusion never leaves a list short."""
    k = n + _max_owned(owned)
    return top_n(als_scores(model, customers, k=k), owned, n=n)


def judge(recommended: DataFrame, split: Split, *, k: int = K) -> dict[str, float]:
    """``recall_at_<k>``, ``precision_at_<k>`` of ``recommended`` on the split."""
    row = ranking_metrics(recommended, split.relevant, k=k).first()
    return {f"recall_at_{k}": float(row.recall_at_k),
            f"precision_at_{k}": float(row.precision_at_k)}


def score_als(split: Split, params: Mapping[str, Any], *, k: int = K) -> dict[str, float]:
    """ALS with ``params`` fitted on the split's history and judged on its held-out baskets
    (a champion's parameters are scored this way on the candidate's split)."""
    model = fit_als(split.history, params)
    return judge(als_recommendations(model, split.customers, split.owned, n=k), split, k=k)


def score_popularity(split: Split, *, k: int = K) -> dict[str, float]:
    """The popularity baseline (the products in most baskets of the history) on the split."""
    popular = popular_products(split.history)
    return judge(popularity_recommendations(split.customers, popular, split.owned, n=k), split,
                 k=k)


def pair_recovery(partners: DataFrame, pairs: pa.Table, *, k: int = K) -> dict[str, Any]:
    """The share of known pairs found among the top ``k`` partners of their anchor.

    Args:
        partners: ``product_id, other_product_id, rank`` (one method's affinity rows).
        pairs: ``product_id`` (the anchor), ``other_product_id``: e.g. the simulator's
            ``planted.affinities()`` (both directions listed, each counted).

    Returns:
        ``pairs``, ``found``, ``share`` (found / pairs) and ``share_of_sold`` (among the
        pairs whose anchor has any partner at all, i.e. sold in the window).
    """
    spark = partners.sparkSession
    known = spark.createDataFrame(
        pairs.select(["product_id", "other_product_id"]).to_pylist(),
        "product_id string, other_product_id string").distinct()
    top = partners.filter(F.col("rank") <= k).select(
        "product_id", "other_product_id", F.lit(True).alias("_found"))
    anchors = partners.select("product_id").distinct().withColumn("_sold", F.lit(True))
    judged = (known.join(top, on=["product_id", "other_product_id"], how="left")
              .join(anchors, on="product_id", how="left"))
    row = judged.agg(
        F.count(F.lit(1)).alias("pairs"),
        F.sum(F.when(F.col("_found"), 1).otherwise(0)).alias("found"),
        F.sum(F.when(F.col("_sold"), 1).otherwise(0)).alias("sold")).first()
    found, total, sold = int(row.found or 0), int(row.pairs), int(row.sold or 0)
    return {"pairs": total, "found": found, "share": found / total if total else 0.0,
            "share_of_sold": found / sold if sold else 0.0}
