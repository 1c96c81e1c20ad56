"""Baskets and cross-sell as DataFrame functions: basket sets, loyal customers' purchase
counts and home stores, the held-out last basket, popularity, top-N lists, recall and
precision at k, product partners (association rules, item factors) and the store-level
opportunities (docs/recommendations.md).

Input (the contract; the job reads it, nothing here does IO): ``lines``, one row per sale
line: ``transaction_id, customer_id`` (null or '' = anonymous), ``store_id, product_id,
quantity`` (> 0: sales only, no returns) and ``event_time``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

LINES = ("transaction_id", "customer_id", "store_id", "product_id", "quantity", "event_time")
REASONS = ("not_stocked", "under_ordered")


def _is_loyal() -> Column:
    return F.col("customer_id").isNotNull() & (F.col("customer_id") != "")


def loyal_lines(lines: DataFrame) -> DataFrame:
    """The lines of loyal customers' baskets (a customer id)."""
    return lines.filter(_is_loyal())


def basket_sets(lines: DataFrame) -> DataFrame:
    """One row per basket: ``transaction_id, customer_id, store_id, event_time`` (its first
    line's) and ``items``, its distinct products sorted (FPGrowth's input)."""
    return lines.groupBy("transaction_id").agg(
        F.first("customer_id", ignorenulls=True).alias("customer_id"),
        F.first("store_id").alias("store_id"), F.min("event_time").alias("event_time"),
        F.array_sort(F.collect_set("product_id")).alias("items"))


def split_last_basket(lines: DataFrame, *, min_baskets: int = 2
                      ) -> tuple[DataFrame, DataFrame]:
    """(history, held_out): each loyal customer's last basket (latest ``event_time``, then
    the greatest ``transaction_id``) is held out when the customer has at least
    ``min_baskets`` baskets; every other line (anonymous ones too) stays in the history.
    ``held_out`` has the lines' columns."""
    if min_baskets < 2:
        raise ValueError(f"min_baskets must be at least 2 (one left to learn from), "
                         f"not {min_baskets}")
    baskets = (loyal_lines(lines).groupBy("customer_id", "transaction_id")
               .agg(F.min("event_time").alias("_at")))
    latest = Window.partitionBy("customer_id").orderBy(F.desc("_at"), F.desc("transaction_id"))
    everyone = Window.partitionBy("customer_id")
    last = (baskets.withColumn("_n", F.row_number().over(latest))
            .withColumn("_count", F.count(F.lit(1)).over(everyone))
            .filter((F.col("_n") == 1) & (F.col("_count") >= min_baskets))
            .select("transaction_id", F.lit(True).alias("_held")))
    marked = lines.join(last, on="transaction_id", how="left")
    is_held = F.coalesce(F.col("_held"), F.lit(False))
    return (marked.filter(~is_held).drop("_held"), marked.filter(is_held).drop("_held"))


def purchase_counts(lines: DataFrame) -> DataFrame:
    """Loyal customer x product: ``baskets`` (how many of the customer's baskets hold the
    product: ALS's implicit rating) and ``units``."""
    return loyal_lines(lines).groupBy("customer_id", "product_id").agg(
        F.countDistinct("transaction_id").alias("baskets"),
        F.sum("quantity").cast("long").alias("units"))


def home_stores(lines: DataFrame) -> DataFrame:
    """Each loyal customer's most frequent store (by baskets; a tie goes to the smallest
    store id): ``customer_id, store_id``."""
    visits = loyal_lines(lines).groupBy("customer_id", "store_id").agg(
        F.countDistinct("transaction_id").alias("_baskets"))
    best = Window.partitionBy("customer_id").orderBy(F.desc("_baskets"), "store_id")
    return (visits.withColumn("_n", F.row_number().over(best)).filter(F.col("_n") == 1)
            .select("customer_id", "store_id"))


def popular_products(lines: DataFrame) -> DataFrame:
    """Every product ranked by the baskets holding it (ties: product id): ``product_id,
    score`` (the baskets), ``popularity_rank`` (1 = the most sold)."""
    counted = lines.groupBy("product_id").agg(
        F.countDistinct("transaction_id").cast("double").alias("score"))
    order = Window.orderBy(F.desc("score"), "product_id")
    return counted.withColumn("popularity_rank", F.row_number().over(order))


def popularity_recommendations(customers: DataFrame, popular: DataFrame, owned: DataFrame
                               | None, *, n: int) -> DataFrame:
    """The popularity baseline: for each of ``customers`` (``customer_id``) the ``n`` most
    popular products (:func:`popular_products`), leaving out what ``owned`` holds for the
    customer (``customer_id, product_id``; None: nothing left out). Returns ``customer_id,
    product_id, score, rank``."""
    if owned is None:
        candidates = customers.select("customer_id").crossJoin(
            F.broadcast(popular.filter(F.col("popularity_rank") <= n)))
        return top_n(candidates.select("customer_id", "product_id", "score"), None, n=n)
    # a customer's n best unseen products are among the n + (products it owns) most popular
    owns = owned.groupBy("customer_id").agg(F.count(F.lit(1)).alias("_owned"))
    reach = customers.select("customer_id").join(owns, on="customer_id", how="left").select(
        "customer_id", (F.coalesce(F.col("_owned"), F.lit(0)) + n).alias("_reach"))
    within = F.col("popularity_rank") <= F.col("_reach")
    candidates = reach.join(F.broadcast(popular), on=within, how="inner")
    return top_n(candidates.select("customer_id", "product_id", "score"), owned, n=n)


def top_n(scores: DataFrame, owned: DataFrame | None, *, n: int) -> DataFrame:
    """The ``n`` best products per customer: ``scores`` (``customer_id, product_id,
    score``) without the pairs in ``owned`` (None: none left out), ranked by score (ties:
    product id). Returns ``customer_id, product_id, score, rank``."""
    if owned is not None:
        scores = scores.join(owned.select("customer_id", "product_id"),
                             on=["customer_id", "product_id"], how="left_anti")
    order = Window.partitionBy("customer_id").orderBy(F.desc("score"), "product_id")
    return (scores.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select("customer_id", "product_id", F.col("score").cast("double"), "rank"))


def ranking_metrics(recommended: DataFrame, relevant: DataFrame, *, k: int) -> DataFrame:
    """Recall and precision at ``k``, averaged over the customers with something relevant.

    ``recommended``: ``customer_id, product_id, rank``; ``relevant``: ``customer_id,
    product_id`` (the held-out basket's products, after the same exclusion as the
    recommendations). Per customer, hits = relevant products among its first ``k``;
    recall = hits / relevant, precision = hits / k. Returns one row: ``customers,
    recall_at_k, precision_at_k``.
    """
    truth = relevant.select("customer_id", "product_id").distinct()
    hits = (recommended.filter(F.col("rank") <= k).select("customer_id", "product_id")
            .join(truth, on=["customer_id", "product_id"], how="inner")
            .groupBy("customer_id").agg(F.count(F.lit(1)).alias("_hits")))
    per_customer = (truth.groupBy("customer_id").agg(F.count(F.lit(1)).alias("_relevant"))
                    .join(hits, on="customer_id", how="left")
                    .withColumn("_hits", F.coalesce(F.col("_hits"), F.lit(0))))
    return per_customer.agg(
        F.count(F.lit(1)).alias("customers"),
        F.coalesce(F.avg(F.col("_hits") / F.col("_relevant")), F.lit(0.0)).alias("recall_at_k"),
        F.coalesce(F.avg(F.col("_hits") / F.lit(float(k))), F.lit(0.0)).alias("precision_at_k"))


def rule_partners(rules: DataFrame, *, n: int) -> DataFrame:
    """Product partners from association rules (FPGrowth's ``associationRules``:
    ``antecedent, consequent`` arrays, ``confidence, lift, support``): the one-to-one rules,
    the ``n`` of highest lift per product (ties: confidence, then the partner's id).
    Returns ``product_id, other_product_id, support, confidence, lift, score`` (= lift),
    ``rank``."""
    one_to_one = (F.size("antecedent") == 1) & (F.size("consequent") == 1)
    pairs = rules.filter(one_to_one).select(
        F.col("antecedent")[0].alias("product_id"), F.col("consequent")[0].alias(
            "other_product_id"), F.col("support").cast("double"),
        F.col("confidence").cast("double"), F.col("lift").cast("double"),
        F.col("lift").cast("double").alias("score"))
    order = Window.partitionBy("product_id").orderBy(F.desc("lift"), F.desc("confidence"),
                                                     "other_product_id")
    return pairs.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)


def cosine_partners(factors: DataFrame, *, n: int) -> DataFrame:
    """Product partners by the cosine of their latent factors (``product_id, features``
    array<float>, e.g. ALS's item factors): the ``n`` most similar other products per
    product (ties: the partner's id). Returns ``product_id, other_product_id, score``,
    ``rank``; support, confidence and lift null."""
    norm = F.sqrt(F.aggregate(F.col("features"), F.lit(0.0), lambda acc, x: acc + x * x))
    unit = factors.select("product_id", F.transform(
        "features", lambda x: x / F.when(norm > 0, norm).otherwise(F.lit(1.0))).alias("v"))
    a, b = unit.alias("a"), unit.alias("b")
    different = F.col("a.product_id") != F.col("b.product_id")
    dot = F.aggregate(F.zip_with("a.v", "b.v", lambda x, y: x * y), F.lit(0.0),
                      lambda acc, x: acc + x)
    pairs = a.join(b, on=different, how="inner").select(
        F.col("a.product_id").alias("product_id"),
        F.col("b.product_id").alias("other_product_id"), dot.cast("double").alias("score"))
    order = Window.partitionBy("product_id").orderBy(F.desc("score"), "other_product_id")
    none = F.lit(None).cast("double")
    return (pairs.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select("product_id", "other_product_id", none.alias("support"),
                    none.alias("confidence"), none.alias("lift"), "score", "rank"))


def store_opportunities(lines: DataFrame, partners: DataFrame, stocked: DataFrame,
                        shortfalls: DataFrame, *, anchors: int, min_lift: float,
                        min_lost_share: float, n: int) -> DataFrame:
    """Store-level cross-sell: partners of the store's best sellers it fails to offer.

    Args:
        lines: the stores' sale lines over the window.
        partners: chain-wide product partners (:func:`rule_partners`: ``product_id,
            other_product_id, confidence, lift``).
        stocked: ``store_id, product_id`` the store carried in the window (inventory rows
            or sales).
        shortfalls: ``store_id, product_id, sold_units, lost_units`` over the window.
        anchors: the store's best sellers (by baskets) whose partners are looked at.
        min_lift: a partner counts from this lift on.
        min_lost_share: a stocked partner is under-ordered when lost / (sold + lost) is at
            least this.

    A candidate's score is the share of the store's baskets expected to gain it: the sum
    over the anchors it partners of (the anchor's share of the store's baskets) x
    confidence(anchor -> partner). Reason ``not_stocked`` when the store did not carry it,
    ``under_ordered`` when it did and lost at least ``min_lost_share`` of its demand; any
    other candidate is left out. Returns ``store_id, product_id, score, reason, rank``
    (the ``n`` best per store; ties: product id).
    """
    per_store = lines.groupBy("store_id").agg(
        F.countDistinct("transaction_id").alias("_store_baskets"))
    sellers = lines.groupBy("store_id", "product_id").agg(
        F.countDistinct("transaction_id").alias("_baskets"))
    best = Window.partitionBy("store_id").orderBy(F.desc("_baskets"), "product_id")
    top = (sellers.withColumn("_n", F.row_number().over(best)).filter(F.col("_n") <= anchors)
           .join(per_store, on="store_id", how="inner")
           .select("store_id", F.col("product_id").alias("_anchor"),
                   (F.col("_baskets") / F.col("_store_baskets")).alias("_share")))
    strong = partners.filter(F.col("lift") >= min_lift).select(
        F.col("product_id").alias("_anchor"), F.col("other_product_id").alias("product_id"),
        "confidence")
    candidates = (top.join(strong, on="_anchor", how="inner")
                  .groupBy("store_id", "product_id")
                  .agg(F.sum(F.col("_share") * F.col("confidence")).alias("score")))
    carried = stocked.select("store_id", "product_id").distinct().withColumn(
        "_carried", F.lit(True))
    lost = shortfalls.select("store_id", "product_id", (F.col("lost_units") / F.greatest(
        F.col("sold_units") + F.col("lost_units"), F.lit(1))).alias("_lost_share"))
    judged = (candidates.join(carried, on=["store_id", "product_id"], how="left")
              .join(lost, on=["store_id", "product_id"], how="left"))
    is_carried = F.coalesce(F.col("_carried"), F.lit(False))
    short = F.coalesce(F.col("_lost_share"), F.lit(0.0)) >= min_lost_share
    reason = (F.when(~is_carried, F.lit("not_stocked"))
              .when(short, F.lit("under_ordered")))
    order = Window.partitionBy("store_id").orderBy(F.desc("score"), "product_id")
    return (judged.withColumn("reason", reason).filter(F.col("reason").isNotNull())
            .withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select("store_id", "product_id", F.col("score").cast("double"), "reason",
                    "rank"))
