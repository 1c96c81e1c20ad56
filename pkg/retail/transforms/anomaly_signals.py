"""The anomaly detector's daily store x product signals, its kind attribution, the top-k a
manager reviews, the deduplication against the stream's alerts and the robust z-score
baseline (docs/anomalies.md). Nothing here reads IO.

Every windowed signal looks at the days *before* the scored one (a day never explains
itself), by calendar day (``rangeBetween`` on the day number), so a missing day is a gap,
not a shifted window.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

PAIR = ["store_id", "product_id"]
KINDS = ("sales_drop", "demand_spike", "inventory_discrepancy", "pricing_error")
# the stream's rule-based alert type that reports the same event as each kind
ALERT_TYPES = {"sales_drop": "sales_drop", "demand_spike": "sales_spike",
               "inventory_discrepancy": "inventory_discrepancy",
               "pricing_error": "suspicious_price_change"}
# the Isolation Forest's inputs, in this order (anomaly_features makes them); the range
# excess and the velocity change as inputs cost recall (docs/anomalies.md): they are values
FEATURES = ("demand_log_ratio", "demand_z", "unexplained_rate", "price_log_ratio")
RANGE_DAYS = 28  # the trailing window of the expected range and of the baseline
VELOCITY_DAYS = (7, 28)  # the last 7 days against the 28 before them
MIN_HISTORY = 7  # days on record before a day has an expected range
MAD_FLOOR = 0.5  # units: a series that never varies still gets a finite z-score


def _day_number() -> Column:
    return F.unix_date(F.col("date"))


def _before(days: int, last: int = 1) -> Window:
    """The ``days`` calendar days ending ``last`` days before the row's (same pair)."""
    return Window.partitionBy(*PAIR).orderBy(_day_number()).rangeBetween(
        -(days + last - 1), -last)


def pair_days(pairs: DataFrame, days: DataFrame) -> DataFrame:
    """The grid of pair-days: every day of ``days`` (``date``: the days the chain traded)
    for every pair of ``pairs`` (``store_id, product_id, first_day``: its first day on
    record) from its first day on, so a day a product did not sell still has a row."""
    grid = pairs.crossJoin(F.broadcast(days.select("date").distinct()))
    return grid.filter(F.col("date") >= F.col("first_day")).select(*PAIR, "date")


def daily_demand(grid: DataFrame, sales: DataFrame, lost: DataFrame,
                 movements: DataFrame) -> DataFrame:
    """One row per closed store x product day with its demand and unexplained stock change.

    Args:
        grid: ``store_id, product_id, date``: the pair-days (:func:`pair_days`).
        sales: ``store_id, product_id, date, units_sold, units_returned, avg_unit_price``.
        lost: ``store_id, product_id, date, lost_units``.
        movements: ``store_id, product_id, date, stock_change, delivered_units``: the sum of
            the day's stock movements and of its deliveries (restocks).

    Returns:
        ``store_id, product_id, date, units_sold, lost_units, demand, stock_change,
        unexplained_stock_change, avg_unit_price``: demand = sold + lost; unexplained =
        stock change - deliveries - returns + sold (< 0: units gone without a sale).
    """
    key = [*PAIR, "date"]
    days = (grid.select(*key).distinct()
            .join(sales.select(*key, "units_sold", "units_returned", "avg_unit_price"),
                  on=key, how="left")
            .join(lost.select(*key, "lost_units"), on=key, how="left")
            .join(movements.select(*key, "stock_change", "delivered_units"), on=key,
                  how="left"))
    sold, returned, lost_units, change, delivered = (
        F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in
        ("units_sold", "units_returned", "lost_units", "stock_change", "delivered_units"))
    return days.select(
        *key, sold.alias("units_sold"), lost_units.alias("lost_units"),
        (sold + lost_units).alias("demand"), change.alias("stock_change"),
        (change - delivered - returned + sold).alias("unexplained_stock_change"),
        F.col("avg_unit_price").cast("double").alias("avg_unit_price"))


def with_expected_range(days: DataFrame, forecasts: DataFrame, *, width: float = 2.0
                        ) -> DataFrame:
    """``days`` with ``expected_demand, expected_low, expected_high``: the forecast of the
    day and its interval when ``forecasts`` (``store_id, product_id, date, forecast,
    forecast_low, forecast_high``: horizon 1) holds one, else the mean of the 28 days
    before ± ``width`` standard deviations (low at least 0); null with fewer than
    :data:`MIN_HISTORY` days before it on record."""
    trailing = _before(RANGE_DAYS)
    mean = F.avg("demand").over(trailing)
    sd = F.coalesce(F.stddev_samp("demand").over(trailing), F.lit(0.0))
    enough = F.count("demand").over(trailing) >= MIN_HISTORY
    key = [*PAIR, "date"]
    ranged = days.select(
        "*", F.when(enough, mean).alias("_mean"),
        F.when(enough, F.greatest(mean - width * sd, F.lit(0.0))).alias("_low"),
        F.when(enough, mean + width * sd).alias("_high"))
    joined = ranged.join(forecasts.select(*key, "forecast", "forecast_low", "forecast_high"),
                         on=key, how="left")
    has_forecast = F.col("forecast").isNotNull()
    return joined.select(
        *days.columns,
        *(F.when(has_forecast, F.col(f)).otherwise(F.col(t)).alias(name) for f, t, name in (
            ("forecast", "_mean", "expected_demand"), ("forecast_low", "_low", "expected_low"),
            ("forecast_high", "_high", "expected_high"))))


def with_velocity_change(days: DataFrame) -> DataFrame:
    """``days`` with ``velocity_change``: ln of the mean units sold per day over the 7 days
    ending the row's day against the 28 before them, each + 0.1 unit/day (a product that
    stops selling stays finite); null until the 28 days are on record."""
    recent, before = VELOCITY_DAYS
    last_7 = Window.partitionBy(*PAIR).orderBy(_day_number()).rangeBetween(-(recent - 1), 0)
    prior = _before(before, last=recent)
    complete = F.count("units_sold").over(prior) >= before
    rate_7 = F.sum("units_sold").over(last_7) / recent + 0.1
    rate_28 = F.sum("units_sold").over(prior) / before + 0.1
    return days.select("*", F.when(complete, F.log(rate_7 / rate_28)).alias("velocity_change"))


def with_reference_price(days: DataFrame, products: DataFrame) -> DataFrame:
    """``days`` with ``category`` and ``reference_price`` from ``products``
    (``product_id, category, reference_price``: the regular list price)."""
    return days.join(products.select("product_id", "category", "reference_price"),
                     on="product_id", how="left")


def _median(values: Column) -> Column:
    """The median of an array of numbers (null when empty)."""
    ordered = F.array_sort(values)
    n = F.size(ordered)
    middle = (F.element_at(ordered, ((n + 1) / 2).cast("int"))
              + F.element_at(ordered, (n / 2 + 1).cast("int"))) / 2
    return F.when(n > 0, middle)


def with_robust_z(days: DataFrame) -> DataFrame:
    """``days`` with the baseline's ``robust_z``: |demand - median| / MAD over the 28 days
    before (MAD at least :data:`MAD_FLOOR` units); null with fewer than :data:`MIN_HISTORY`
    days before it."""
    history = F.collect_list(F.col("demand").cast("double")).over(_before(RANGE_DAYS))
    staged = days.select("*", history.alias("_history"))
    staged = staged.select("*", _median(F.col("_history")).alias("_median"))
    mad = _median(F.transform("_history", lambda x: F.abs(x - F.col("_median"))))
    enough = F.size("_history") >= MIN_HISTORY
    z = F.abs(F.col("demand") - F.col("_median")) / F.greatest(mad, F.lit(MAD_FLOOR))
    return staged.select(*days.columns, F.when(enough, z).alias("robust_z"),
                         F.when(enough, F.col("_median")).alias("median_demand"))


def anomaly_features(signals: DataFrame) -> DataFrame:
    """``signals`` with the :data:`FEATURES` (no nulls), only the days with an expected
    range: ``demand_log_ratio`` = ln((demand + 1) / (expected + 1)); ``demand_z`` = the
    robust z-score signed (+ above the median, - below; 0 while null);
    ``unexplained_rate`` = unexplained stock change / (expected + 1); ``price_log_ratio`` =
    ln(price / reference) (0 without a sale)."""
    expected, demand = F.col("expected_demand"), F.col("demand")
    priced = F.col("avg_unit_price").isNotNull() & (F.col("reference_price") > 0)
    return signals.filter(expected.isNotNull()).select(
        "*",
        F.log((demand + 1.0) / (expected + 1.0)).alias("demand_log_ratio"),
        F.coalesce(F.signum(demand - F.col("median_demand")) * F.col("robust_z"),
                   F.lit(0.0)).alias("demand_z"),
        (F.col("unexplained_stock_change") / (expected + 1.0)).alias("unexplained_rate"),
        F.when(priced, F.log(F.col("avg_unit_price") / F.col("reference_price")))
        .otherwise(0.0).alias("price_log_ratio"))


def with_kind(scored: DataFrame, scales: dict[str, tuple[float, float]]) -> DataFrame:
    """``scored`` with ``kind``: the kind whose signal lies furthest from normal, each
    signal as a robust z against the training days (``scales``: feature -> (median,
    spread)): a demand ratio below normal is a sales drop, above a spike; missing stock an
    inventory discrepancy; a price off its reference either way a pricing error."""
    def z(feature: str) -> Column:
        median, spread = scales[feature]
        return (F.col(feature) - F.lit(median)) / F.lit(max(spread, 1e-6))

    strengths = {"sales_drop": -z("demand_log_ratio"), "demand_spike": z("demand_log_ratio"),
                 "inventory_discrepancy": -z("unexplained_rate"),
                 "pricing_error": F.abs(z("price_log_ratio"))}
    staged = scored.select("*", *(s.alias(f"_k_{k}") for k, s in strengths.items()))
    strongest = F.greatest(*(F.col(f"_k_{k}") for k in KINDS))
    kind = F.lit(KINDS[-1])
    for k in reversed(KINDS[:-1]):  # the first of KINDS wins a tie
        kind = F.when(F.col(f"_k_{k}") == strongest, F.lit(k)).otherwise(kind)
    return staged.select(*scored.columns, kind.alias("kind"))


def baseline_kind() -> Column:
    """The z-score baseline's kind: a spike above the median, a drop below it."""
    return F.when(F.col("demand") >= F.col("median_demand"), F.lit("demand_spike")) \
        .otherwise(F.lit("sales_drop"))


def top_k(scored: DataFrame, *, k: int, score: str = "score") -> DataFrame:
    """The ``k`` highest ``score`` rows of each store and day, with ``rank`` (1 = highest;
    ties broken by product id, so a re-run ranks alike); null scores are never kept."""
    if k < 1:
        raise ValueError(f"top_k needs k >= 1, got {k}")
    order = Window.partitionBy("store_id", "date").orderBy(F.col(score).desc(), "product_id")
    ranked = scored.filter(F.col(score).isNotNull()).select(
        "*", F.row_number().over(order).alias("rank"))
    return ranked.filter(F.col("rank") <= k)


def with_duplicate_alerts(flagged: DataFrame, alerts: DataFrame) -> DataFrame:
    """``flagged`` (``store_id, product_id, date, kind``) with ``duplicate_alert_id``: the
    first (by id) of the stream alerts (``alert_id, alert_type, store_id, product_id,
    event_time, timezone``) of the matching type for the same store, product and store
    local day; null when none."""
    mapping = F.create_map(*(F.lit(v) for pair in ALERT_TYPES.items() for v in pair[::-1]))
    local = alerts.select(
        F.col("alert_id").cast("string").alias("_alert_id"), *PAIR,
        F.to_date(F.from_utc_timestamp("event_time", F.col("timezone"))).alias("date"),
        mapping[F.col("alert_type")].alias("kind"))
    key = [*PAIR, "date", "kind"]
    first = local.filter(F.col("kind").isNotNull()).groupBy(*key).agg(
        F.min("_alert_id").alias("duplicate_alert_id"))
    return flagged.join(first, on=key, how="left").select(*flagged.columns,
                                                          "duplicate_alert_id")


def label_days(labels: DataFrame, first: Column, last: Column) -> DataFrame:
    """One row per labelled store x product x day (``kind, store_id, product_id, date``)
    of ``labels`` (``kind, store_id, product_id, start, end``: inclusive) between ``first``
    and ``last``."""
    start = F.greatest(F.col("start"), first)
    end = F.least(F.col("end"), last)
    spans = labels.filter(start <= end)
    return spans.select("kind", *PAIR, F.explode(F.sequence(start, end)).alias("date")) \
        .distinct()
