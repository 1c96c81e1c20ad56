"""Forecast monitoring: realised accuracy and feature drift of a day (docs/models.md,
"Monitoring").

* **Accuracy** of the forecasts for day D (``fact_ml_predictions``, every horizon that
  forecast D) against the actual demand of D (``feature_store_daily.demand``: units sold +
  lost units), per model version x horizon x product category: WAPE, bias, MAE and the
  coverage of the 80 % and 95 % intervals, into ``model_evaluations``.
* **Drift** of the main features (:data:`MAIN_FEATURES`): the population stability index
  of the recent week (D-6..D) against a reference window (the training window), binned by
  the reference window's deciles, into ``model_drift``.

Both are computed by ClickHouse (query parameters only; feature names come from the
declared list, never from data) and written per (model, version, day): the tables are
ReplacingMergeTrees on that key plus horizon/category or feature, so a re-run replaces.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from retail.io.warehouse import Warehouse
from retail.warehouse.runs import record_run
from retail.warehouse.keys import date_key

JOB = "evaluate_forecasts"

# The features whose drift is watched: demand and its history, price, stock and weather,
# the drivers of the forecast (feature_store_daily columns, see docs/features.md).
MAIN_FEATURES: tuple[str, ...] = (
    "demand", "demand_lag_7", "demand_mean_7", "demand_mean_30", "demand_std_30",
    "zero_sales_share", "discount_depth", "price_ratio_28", "days_of_cover", "temp_c")
RECENT_DAYS = 7
REFERENCE_DAYS = 56  # the default reference: the 8 weeks before the recent week
BINS = 10  # deciles of the reference window
EPSILON = 1e-4  # the share given to an empty bin, so the logarithm stays finite
STABLE_BELOW = 0.1  # PSI < 0.1 stable, 0.1..0.25 moderate, > 0.25 significant
SIGNIFICANT_ABOVE = 0.25


class ActualsNotReady(RuntimeError):
    """The actual demand of the day is not in the feature store yet."""


@dataclass(frozen=True)
class DriftWindows:
    """The two windows a drift compares, inclusive days."""

    reference_from: date
    reference_to: date
    recent_from: date
    recent_to: date


def drift_windows(day: date, *, reference_days: int = REFERENCE_DAYS,
                  reference_from: date | None = None,
                  reference_to: date | None = None) -> DriftWindows:
    """The recent week ending on ``day`` and the reference window: ``reference_from`` ..
    ``reference_to`` when given (the model's training window), else the ``reference_days``
    before the recent week.

    Raises:
        ValueError: only one of ``reference_from``/``reference_to``, an empty window, or a
            reference that overlaps the recent week (the message names the option).
    """
    recent_from = day - timedelta(days=RECENT_DAYS - 1)
    if (reference_from is None) != (reference_to is None):
        raise ValueError("give --reference-from and --reference-to together, or neither")
    if reference_from is None:
        if reference_days < RECENT_DAYS:
            raise ValueError(f"--reference-days must be at least {RECENT_DAYS}, "
                             f"got {reference_days}")
        reference_to = recent_from - timedelta(days=1)
        reference_from = reference_to - timedelta(days=reference_days - 1)
    if reference_to < reference_from:
        raise ValueError(f"--reference-to {reference_to} is before --reference-from "
                         f"{reference_from}")
    if reference_to >= recent_from:
        raise ValueError(f"--reference-to {reference_to} must be before the recent week "
                         f"({recent_from} to {day})")
    return DriftWindows(reference_from, reference_to, recent_from, day)


def psi(reference_counts: Sequence[int], recent_counts: Sequence[int], *,
        epsilon: float = EPSILON) -> float | None:
    """Population stability index of two histograms over the same bins:
    ``sum((q - p) * ln(q / p))`` with ``p``, ``q`` the reference and recent shares, each
    share at least ``epsilon`` (an empty bin). None when a histogram is empty."""
    if len(reference_counts) != len(recent_counts):
        raise ValueError("the histograms must have the same bins")
    ref_total, cur_total = sum(reference_counts), sum(recent_counts)
    if ref_total == 0 or cur_total == 0:
        return None
    total = 0.0
    for r, c in zip(reference_counts, recent_counts, strict=True):
        p, q = max(r / ref_total, epsilon), max(c / cur_total, epsilon)
        total += (q - p) * math.log(q / p)
    return total


def drift_status(value: float | None) -> str:
    """``stable`` below 0.1, ``moderate`` up to 0.25, ``significant`` above; ``no_data``."""
    if value is None:
        return "no_data"
    if value < STABLE_BELOW:
        return "stable"
    return "significant" if value > SIGNIFICANT_ABOVE else "moderate"


# --- accuracy -----------------------------------------------------------------------------
_ACCURACY = """
SELECT model, model_version, horizon, category, n, actual_sum, forecast_sum, abs_error_sum,
       if(actual_sum > 0, abs_error_sum / actual_sum, NULL) AS wape,
       if(actual_sum > 0, (forecast_sum - actual_sum) / actual_sum, NULL) AS bias,
       abs_error_sum / n AS mae, coverage_80, coverage_95
FROM (
    SELECT p.model_name AS model, p.model_version AS model_version, p.horizon AS horizon,
           ifNull(f.category, 'unknown') AS category, toUInt32(count()) AS n,
           sum(toFloat64(f.demand)) AS actual_sum, sum(p.predicted_demand) AS forecast_sum,
           sum(abs(p.predicted_demand - f.demand)) AS abs_error_sum,
           avg(f.demand >= p.confidence_low AND f.demand <= p.confidence_high) AS coverage_80,
           if(countIf(p.confidence_low_95 IS NULL OR p.confidence_high_95 IS NULL) > 0, NULL,
              avg(f.demand >= assumeNotNull(p.confidence_low_95)
                  AND f.demand <= assumeNotNull(p.confidence_high_95))) AS coverage_95
    FROM (SELECT store_key, product_key, horizon, predicted_demand, confidence_low,
                 confidence_high, confidence_low_95, confidence_high_95, model_name,
                 model_version
          FROM fact_ml_predictions FINAL WHERE date_key = {day:UInt32}) AS p
    INNER JOIN (SELECT store_key, product_key, demand, category
                FROM feature_store_daily FINAL WHERE date_key = {day:UInt32}) AS f
        ON p.store_key = f.store_key AND p.product_key = f.product_key
    GROUP BY model, model_version, horizon, category
)
ORDER BY model, model_version, horizon, category
"""


def forecast_accuracy(wh: Warehouse, day: date) -> pa.Table:
    """WAPE, bias (``(forecast - actual) / actual``: > 0 over-forecasts), MAE and interval
    coverage of the forecasts for ``day``, one row per model, version, horizon and category
    (``model_evaluations``' columns, without ``evaluated_at``).

    Raises:
        ActualsNotReady: ``feature_store_daily`` has no row of ``day``.
    """
    params = {"day": date_key(day)}
    if not wh.query_rows("SELECT count() FROM feature_store_daily WHERE date_key = {day:UInt32}",
                         params)[0][0]:
        raise ActualsNotReady(f"the actual demand of {day} is not in feature_store_daily: "
                              f"run `retail features build --date {day}` (build_features) "
                              "first")
    table = wh.query_arrow(_ACCURACY, params)
    n = table.num_rows
    return table.append_column("date", pa.array([day] * n, pa.date32())).append_column(
        "date_key", pa.array([params["day"]] * n, pa.uint32()))


# --- drift --------------------------------------------------------------------------------
_DECILES = ", ".join(f"{i / BINS:.1f}" for i in range(1, BINS))




_WINDOWS = """
FROM (SELECT toFloat64({feature}) AS x, date_key <= {ref_to:UInt32} AS in_ref
      FROM feature_store_daily FINAL
      WHERE (date_key BETWEEN {ref_from:UInt32} AND {ref_to:UInt32}
             OR date_key BETWEEN {cur_from:UInt32} AND {cur_to:UInt32})
        AND {feature} IS NOT NULL)
"""
_STATS = f"""
SELECT arraySort(arrayDistinct(quantilesExactInclusiveIf({_DECILES})(x, in_ref))),
       countIf(in_ref), countIf(NOT in_ref), sumIf(x, in_ref), sumIf(x, NOT in_ref)
{_WINDOWS}"""
_HISTOGRAM = f"""
SELECT in_ref, arrayCount(e -> x > e, {{edges:Array(Float64)}}) AS bin, count()
{_WINDOWS}
GROUP BY in_ref, bin
"""


@dataclass(frozen=True)
class Drift:
    """One feature's drift between the two windows."""

    feature: str
    psi: float | None
    status: str
    bins: int
    reference_rows: int
    recent_rows: int
    reference_mean: float | None
    recent_mean: float | None


def feature_drift(wh: Warehouse, windows: DriftWindows,
                  features: Sequence[str] = MAIN_FEATURES) -> list[Drift]:
    """The PSI of each feature, recent window against reference window. Bins: the reference
    window's deciles (``quantileExactInclusive``, numpy's default), repeated edges merged;
    a value on an edge falls in the bin below it. NULL feature values are left out."""
    unknown = [f for f in features if f not in MAIN_FEATURES]
    if unknown:  # the only identifiers put into SQL are declared names
        raise ValueError(f"{unknown} not monitored features: choose from {MAIN_FEATURES}")
    params = {"ref_from": date_key(windows.reference_from),
              "ref_to": date_key(windows.reference_to),
              "cur_from": date_key(windows.recent_from), "cur_to": date_key(windows.recent_to)}
    out = []
    for feature in features:
        edges, n_ref, n_cur, s_ref, s_cur = wh.query_rows(
            _STATS.replace("{feature}", feature), params)[0]
        edges = list(edges) if n_ref else []
        ref, cur = [0] * (len(edges) + 1), [0] * (len(edges) + 1)
        for in_ref, b, count in wh.query_rows(_HISTOGRAM.replace("{feature}", feature),
                                              {**params, "edges": edges}):
            (ref if in_ref else cur)[b] += count
        value = psi(ref, cur)
        out.append(Drift(feature, value, drift_status(value), len(ref), n_ref, n_cur,
                         s_ref / n_ref if n_ref else None, s_cur / n_cur if n_cur else None))
    return out


# --- writers and the day's run ------------------------------------------------------------
def write_evaluations(wh: Warehouse, accuracy: pa.Table) -> int:
    """Insert :func:`forecast_accuracy`'s rows into ``model_evaluations`` (a re-run for the
    same day replaces them)."""
    now = datetime.now(UTC)
    return wh.insert_arrow("model_evaluations", accuracy.append_column(
        "evaluated_at", pa.array([now] * accuracy.num_rows, pa.timestamp("ms", "UTC"))))


def write_drift(wh: Warehouse, model: str, version: str, day: date, windows: DriftWindows,
                drifts: Sequence[Drift]) -> int:
    """Insert one ``model_drift`` row per feature for (model, version, day)."""
    n = len(drifts)
    rows = {"model": [model] * n, "model_version": [version] * n, "date": [day] * n,
            "date_key": pa.array([date_key(day)] * n, pa.uint32()),
            "feature": [d.feature for d in drifts],
            "psi": pa.array([d.psi for d in drifts], pa.float64()),
            "status": [d.status for d in drifts],
            "reference_from": [windows.reference_from] * n,
            "reference_to": [windows.reference_to] * n,
            "recent_from": [windows.recent_from] * n, "recent_to": [windows.recent_to] * n,
            "bins": pa.array([d.bins for d in drifts], pa.uint8()),
            "reference_rows": pa.array([d.reference_rows for d in drifts], pa.uint64()),
            "recent_rows": pa.array([d.recent_rows for d in drifts], pa.uint64()),
            "reference_mean": pa.array([d.reference_mean for d in drifts], pa.float64()),
            "recent_mean": pa.array([d.recent_mean for d in drifts], pa.float64()),
            "computed_at": pa.array([datetime.now(UTC)] * n, pa.timestamp("ms", "UTC"))}
    return wh.insert_arrow("model_drift", pa.table(rows))


@dataclass
class EvaluationReport:
    """What one day's evaluation found and wrote."""

    day: date
    windows: DriftWindows
    accuracy: pa.Table
    drift: list[Drift] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)  # (model, version)
    evaluations_written: int = 0
    drift_written: int = 0


def evaluate_day(wh: Warehouse, day: date, windows: DriftWindows,
                 features: Sequence[str] = MAIN_FEATURES) -> EvaluationReport:
    """Accuracy of the forecasts for ``day`` and the features' drift, written for every
    (model, version) that forecast ``day``, with a ``job_runs`` row (``evaluate_forecasts``,
    run id ``<day>:<start time>``). No forecast for ``day``: nothing is written (the report
    says so by its empty ``versions``).

    Raises:
        ActualsNotReady: the actual demand of ``day`` is not in the feature store.
    """
    started = datetime.now(UTC)
    run_id = f"{day}:{started:%Y%m%dT%H%M%S}:{uuid.uuid4().hex[:8]}"  # two runs a second apart
    details: dict = {"day": str(day), "reference": [str(windows.reference_from),
                                                    str(windows.reference_to)]}
    record_run(wh, JOB, run_id, "running", started_at=started, details=details)
    try:
        accuracy = forecast_accuracy(wh, day)
        report = EvaluationReport(day, windows, accuracy)
        report.versions = sorted(set(zip(accuracy["model"].to_pylist(),
                                         accuracy["model_version"].to_pylist(), strict=True)))
        if report.versions:
            report.evaluations_written = write_evaluations(wh, accuracy)
            report.drift = feature_drift(wh, windows, features)
            for model, version in report.versions:
                report.drift_written += write_drift(wh, model, version, day, windows,
                                                    report.drift)
    except Exception as exc:
        record_run(wh, JOB, run_id, "failed", started_at=started,
                   finished_at=datetime.now(UTC), details={**details, "error": str(exc)[:2000]})
        raise
    details["versions"] = [f"{m}:{v}" for m, v in report.versions]
    details["significant_drift"] = [d.feature for d in report.drift
                                    if d.status == "significant"]
    record_run(wh, JOB, run_id, "succeeded", started_at=started, finished_at=datetime.now(UTC),
               rows_in=sum(accuracy["n"].to_pylist()),
               rows_out=report.evaluations_written + report.drift_written, details=details)
    return report
