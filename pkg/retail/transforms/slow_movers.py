"""Pure DataFrame functions of the slow-mover classifier (docs/slow_movers.md): the horizon,
the sales windows around a run date, the label, the model's features, the category price
elasticity estimated from past promotions, and the markdown suggestion.

Rows are keyed by ``store_key``, ``product_key`` and ``date`` (the run date, or an origin of
the training); daily sales are ``store_key``, ``product_key``, ``date``, ``units`` (units
sold that day; a day without a row sold nothing).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

KEYS = ("store_key", "product_key")
# a pair that sold nothing in 28 days has this cover ratio (stock over 28-day sales over
# the horizon): far above any real one, so the forest and the rule rank it first
NO_SALES_COVER = 1000.0
NO_RESTOCK_DAYS = 91  # "no restock in the 90 days before D"
NO_SALE_DAYS = 91  # the feature store's days_since_last_sale is null past 90 days
NUMERIC = ("rule_score", "cover_ratio", "cover_ratio_7", "velocity_7", "velocity_28",
           "velocity_trend", "demand_mean_90", "zero_sales_share", "days_since_last_sale", "on_hand", "on_order",
           "horizon_days", "shelf_life_days", "days_since_restock", "discount_depth",
           "price_ratio_28", "category_trend_7_28", "store_trend_7_28", "stockout_days_28",
           "elasticity")
CATEGORICAL = ("category", "season")


def with_horizon(rows: DataFrame, *, max_horizon_days: int) -> DataFrame:
    """``rows`` with ``horizon_days``: the shelf life, at most ``max_horizon_days`` (a
    product without a shelf life on record: ``max_horizon_days``)."""
    shelf = F.coalesce(F.col("shelf_life_days"), F.lit(max_horizon_days))
    return rows.withColumn("horizon_days", F.least(shelf, F.lit(max_horizon_days)).cast("int"))


def with_label_window(rows: DataFrame, *, label_days: int) -> DataFrame:
    """``rows`` (with ``horizon_days``) with ``label_window``: the days after D a label is
    judged on, min(horizon, ``label_days``)."""
    window = F.least(F.col("horizon_days"), F.lit(label_days))
    return rows.withColumn("label_window", window.cast("int"))


def with_sales_windows(rows: DataFrame, sums: DataFrame, *,
                       first_day: date | None = None) -> DataFrame:
    """``rows`` with the sales around each row's day D, from ``sums`` (store_key,
    product_key, date, s7, s28, ahead: units sold on the 7 and 28 days ending D and in the
    label window after it; a pair without a row sold nothing): ``velocity_7`` and
    ``velocity_28`` (mean units per day; days before ``first_day``, the first with sales
    on record, are not counted, as in the feature store) and ``sold_ahead``."""
    def days(n: int):
        if first_day is None:
            return F.lit(float(n))
        on_record = F.datediff(F.col("date"), F.lit(first_day)) + 1
        return F.least(F.greatest(on_record, F.lit(1)), F.lit(n)).cast("double")

    return rows.join(sums.select(*KEYS, "date", "s7", "s28", "ahead"),
                     on=[*KEYS, "date"], how="left").select(
        *rows.columns,
        (F.coalesce(F.col("s7"), F.lit(0)) / days(7)).alias("velocity_7"),
        (F.coalesce(F.col("s28"), F.lit(0)) / days(28)).alias("velocity_28"),
        F.coalesce(F.col("ahead"), F.lit(0)).cast("long").alias("sold_ahead"))


def slow_mover_labels(rows: DataFrame, *, observed_through: date) -> DataFrame:
    """The labelled rows: those with stock on hand whose label window ends by
    ``observed_through``, with ``label`` 1.0 when the stock will not sell within the
    horizon, judged on the window: sold_ahead < on_hand x label_window / horizon_days (a
    window shorter than the horizon is judged on its proportional share of the stock)."""
    stocked = F.col("on_hand") > 0
    observed = F.date_add(F.col("date"), F.col("label_window")) <= F.lit(observed_through)
    share = F.col("on_hand") * F.col("label_window") / F.col("horizon_days")
    return rows.filter(stocked & observed).withColumn(
        "label", (F.col("sold_ahead") < share).cast("double"))


def with_restock_age(rows: DataFrame, ages: DataFrame) -> DataFrame:
    """``rows`` with ``days_since_restock`` from ``ages`` (store_key, product_key, date,
    days_since_restock: days from the pair's last restock on or before D to D, the age of
    its newest stock); :data:`NO_RESTOCK_DAYS` for a pair without a row (no restock in the
    90 days before D)."""
    return rows.join(ages.select(*KEYS, "date", F.col("days_since_restock").alias("_age")),
                     on=[*KEYS, "date"], how="left").select(
        *rows.columns,
        F.coalesce(F.col("_age"), F.lit(NO_RESTOCK_DAYS)).cast("int").alias("days_since_restock"))


def slow_mover_features(rows: DataFrame, elasticity: DataFrame) -> DataFrame:
    """The model's inputs (:data:`NUMERIC` with no nulls, :data:`CATEGORICAL`): ``rows``
    (feature-store columns with ``horizon_days``, the sales windows and
    ``days_since_restock``) with ``elasticity`` joined by category (``category``,
    ``elasticity``; a category without one: 0, i.e. unknown), ``cover_ratio`` (stock over
    the 28-day velocity over the horizon; :data:`NO_SALES_COVER` without sales in 28 days),
    ``cover_ratio_7`` (the same on the 7-day velocity), ``rule_score`` (the feature store's
    days of cover over the horizon: the rule's score, :data:`NO_SALES_COVER` when null) and
    ``velocity_trend`` (7-day over 28-day velocity, +0.1 each so a pair without sales is
    1)."""
    def cover(velocity: str):
        return F.when(F.col(velocity) > 0, F.col("on_hand") / F.col(velocity) / F.col(
            "horizon_days")).otherwise(F.lit(NO_SALES_COVER))

    trend = (F.col("velocity_7") + 0.1) / (F.col("velocity_28") + 0.1)
    joined = rows.join(F.broadcast(elasticity.select("category", "elasticity")),
                       on="category", how="left")
    filled = {"days_since_last_sale": float(NO_SALE_DAYS), "price_ratio_28": 1.0,
              "category_trend_7_28": 1.0, "store_trend_7_28": 1.0, "elasticity": 0.0}
    return joined.withColumn("rule_score", _rule_score()).withColumn(
        "cover_ratio", cover("velocity_28")).withColumn(
        "cover_ratio_7", cover("velocity_7")).withColumn("velocity_trend", trend).select(
        *(c for c in joined.columns if c not in NUMERIC and c not in CATEGORICAL),
        *(F.coalesce(F.col(c).cast("double"), F.lit(filled.get(c, 0.0))).alias(c)
          for c in NUMERIC),
        *(F.coalesce(F.col(c), F.lit("unknown")).alias(c) for c in CATEGORICAL))


def _rule_score():
    return F.coalesce(F.col("days_of_cover") / F.col("horizon_days"),
                      F.lit(NO_SALES_COVER)).cast("double")


def rule_flags(rows: DataFrame) -> DataFrame:
    """The baseline rule "days of cover > horizon": ``rule_score`` (the feature store's
    days of cover over the horizon, :data:`NO_SALES_COVER` when it is null: nothing sold)
    and ``rule_flag``."""
    return rows.withColumn("rule_score", _rule_score()).withColumn(
        "rule_flag", F.col("rule_score") > 1.0)


def estimate_elasticity(promo_sales: DataFrame, totals: DataFrame, pairs: DataFrame,
                        promotions: DataFrame, *, first: date, last: date,
                        min_promotions: int) -> DataFrame:
    """Each category's price elasticity (units ~ price ^ elasticity) from its promotions.

    For each stocked pair (``pairs``: store_key, product_key, category) and promotion of its
    product within ``first`` .. ``last`` (``promotions``: product_key, start_date,
    end_date, discount), the units sold during it (``promo_sales``: store_key,
    product_key, p_start, p_end, discount, units, its days clipped to the window; no row:
    none sold) against the pair's regular rate (its mean units per day on the window's
    other days, from ``totals``: store_key, product_key, total_units over the window)
    times the promotion's days: x = log(1 - discount), y = log((promo units + 0.5) /
    (expected units + 0.5)). The category's elasticity is the weighted least-squares slope
    through the origin, sum(w x y) / sum(w x^2), weights the expected units (a slow
    seller's few units say little). Categories with fewer than ``min_promotions`` pair
    promotions get none.

    Returns:
        category, elasticity, promotions (the pair promotions behind it).
    """
    days = (last - first).days + 1
    promos = promotions.select(
        "product_key", "discount",
        F.greatest(F.col("start_date"), F.lit(first)).alias("p_start"),
        F.least(F.col("end_date"), F.lit(last)).alias("p_end")).filter(
        F.col("p_end") >= F.col("p_start")).withColumn(
        "promo_days", F.datediff(F.col("p_end"), F.col("p_start")) + 1)
    pair_promos = pairs.select(*KEYS, "category").join(promos, on="product_key", how="inner")
    promo_units = pair_promos.join(
        promo_sales.select(*KEYS, "p_start", "p_end", "discount", "units"),
        on=[*KEYS, "p_start", "p_end", "discount"], how="left").withColumn(
        "units", F.coalesce(F.col("units"), F.lit(0)))
    promo_totals = promo_units.groupBy(*KEYS).agg(
        F.sum("units").alias("all_promo_units"), F.sum("promo_days").alias("all_promo_days"))
    regular_days = F.lit(days) - F.col("all_promo_days")
    regular_rate = ((F.coalesce(F.col("total_units"), F.lit(0)) - F.col("all_promo_units"))
                    / regular_days)
    rated = promo_units.join(promo_totals, on=list(KEYS), how="inner").join(
        totals, on=list(KEYS), how="left").filter(regular_days > 0).withColumn(
        "expected", regular_rate * F.col("promo_days"))
    x = F.log(1 - F.col("discount"))
    y = F.log((F.col("units") + 0.5) / (F.col("expected") + 0.5))
    w = F.col("expected")
    fitted = rated.filter(w > 0).groupBy("category").agg(
        (F.sum(w * x * y) / F.sum(w * x * x)).alias("elasticity"),
        F.count(F.lit(1)).alias("promotions"))
    return fitted.filter(F.col("promotions") >= min_promotions).select(
        "category", "elasticity", F.col("promotions").cast("long"))


def suggest_markdowns(scored: DataFrame, *, step: float, max_depth: float,
                      default_elasticity: float) -> DataFrame:
    """The markdown of each flagged pair (``is_slow_mover``), at its category's
    ``elasticity`` (null or not negative: ``default_elasticity``).

    At the rate v = min(velocity_7, velocity_28) the pair sells v x H units in its horizon
    H; a discount d multiplies that by (1 - d) ^ e. The depth is the smallest multiple of
    ``step`` (at least one step) with v x H x (1 - d) ^ e >= on_hand, i.e.
    d >= 1 - (on_hand / (v x H)) ^ (1 / e), capped at ``max_depth``; it starts on the run
    date. A pair not flagged gets depth 0, no start and no expected units.

    Returns:
        ``scored`` with ``elasticity_used``, ``markdown_depth``, ``markdown_start``,
        ``expected_units_markdown``.
    """
    steps_max = int(round(max_depth / step))
    e = F.when(F.col("elasticity") < 0, F.col("elasticity")).otherwise(
        F.lit(default_elasticity))
    base = F.least(F.col("velocity_7"), F.col("velocity_28")) * F.col("horizon_days")
    needed = 1 - F.pow(F.col("on_hand") / base, 1 / e)
    # 1e-9: a depth exactly on a step is that step, not the next one
    steps = F.when(base <= 0, F.lit(steps_max)).otherwise(
        F.ceil(needed / step - 1e-9))
    depth = F.least(F.greatest(steps, F.lit(1)), F.lit(steps_max)) * step
    flagged = F.col("is_slow_mover")
    with_e = scored.withColumn("elasticity_used", e)
    return with_e.withColumn(
        "markdown_depth", F.when(flagged, F.round(depth, 6)).otherwise(F.lit(0.0))).withColumn(
        "markdown_start", F.when(flagged, F.col("date"))).withColumn(
        "expected_units_markdown", F.when(flagged, base * F.pow(
            1 - F.col("markdown_depth"), F.col("elasticity_used"))))


def slow_mover_rows(marked: DataFrame, *, model_version: str) -> DataFrame:
    """``ml_slow_movers`` rows of the scored and marked-down pairs (migration 0017)."""
    return marked.select(
        F.date_format("date", "yyyyMMdd").cast("int").alias("date_key"),
        F.col("date").alias("run_date"), "store_id", "product_id", "store_key", "product_key",
        F.col("probability").cast("double"), F.col("is_slow_mover").cast("boolean"),
        F.col("on_hand").cast("int"), F.col("velocity_28").cast("double"),
        F.col("days_of_cover").cast("double"), F.col("horizon_days").cast("int"),
        F.col("markdown_depth").cast("float"), F.col("markdown_start").cast("date"),
        F.col("expected_units_markdown").cast("double"),
        F.col("elasticity_used").cast("float").alias("elasticity"),
        F.lit(model_version).alias("model_version"))
