"""The platform arm's forecast accuracy over the compared period: the champion's WAPE (the
forecasts each day's orders were planned from, as ``fact_ml_predictions`` holds them)
against seasonal naive's (the demand of the same weekday a week before the target), both
against the demand the feature store recorded (units sold + lost), horizons 1 to 7.

The WAPE is ``sum |forecast - actual| / sum actual`` over every store x SKU x target day
x horizon; "forecast accuracy +20 %" (the design's target) is read as a WAPE at most 0.8x
seasonal naive's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from retail.io.warehouse import Warehouse

HORIZONS = 7
# The newest version written for each run date and pair (a promotion during the day writes
# another); the actual demand of the target, and of the target's day a week before.
_ERRORS = """
WITH p AS (
    SELECT run_date, store_key, product_key, date_key, horizon,
           argMax(predicted_demand, predicted_at) AS forecast
    FROM fact_ml_predictions FINAL
    WHERE model_name = 'demand_forecast'
      AND run_date BETWEEN {first_run:Date} AND {last_run:Date}
      AND horizon BETWEEN 1 AND {horizons:UInt16}
    GROUP BY run_date, store_key, product_key, date_key, horizon),
a AS (
    SELECT store_key, product_key, date_key, date, toFloat64(demand) AS actual
    FROM feature_store_daily FINAL
    WHERE date BETWEEN {first:Date} AND {last:Date}),
n AS (
    SELECT store_key, product_key, toYYYYMMDD(date + 7) AS date_key,
           toFloat64(demand) AS naive
    FROM feature_store_daily FINAL
    WHERE date BETWEEN {first:Date} - 7 AND {last:Date} - 7)
SELECT p.horizon AS horizon, count() AS n, sum(a.actual) AS actual,
       sum(abs(p.forecast - a.actual)) AS forecast_error,
       sum(abs(n.naive - a.actual)) AS naive_error
FROM p
INNER JOIN a ON a.store_key = p.store_key AND a.product_key = p.product_key
            AND a.date_key = p.date_key
INNER JOIN n ON n.store_key = p.store_key AND n.product_key = p.product_key
            AND n.date_key = p.date_key
GROUP BY horizon
ORDER BY horizon"""


@dataclass(frozen=True)
class ForecastAccuracy:
    """WAPE of the champion's forecasts and of seasonal naive, per horizon and pooled."""

    rows: list[dict]  # horizon, n, actual, forecast_error, naive_error

    @property
    def forecast_wape(self) -> float:
        actual = sum(r["actual"] for r in self.rows)
        return sum(r["forecast_error"] for r in self.rows) / actual if actual else float("nan")

    @property
    def naive_wape(self) -> float:
        actual = sum(r["actual"] for r in self.rows)
        return sum(r["naive_error"] for r in self.rows) / actual if actual else float("nan")

    @property
    def ratio(self) -> float:
        """The champion's WAPE / seasonal naive's (below 1: the champion is better)."""
        return self.forecast_wape / self.naive_wape


class NoForecastsToScore(ValueError):
    """No forecast of the compared period met its actual demand in the feature store."""


def forecast_accuracy(wh: Warehouse, first: date, last: date) -> ForecastAccuracy:
    """The forecasts made on ``first - 1`` .. ``last - 1`` for targets in ``first`` ..
    ``last`` (the days whose demand the feature store holds), from ``wh`` (the platform
    arm's warehouse)."""
    rows = wh.query_rows(_ERRORS, {
        "first_run": first - timedelta(days=1), "last_run": last - timedelta(days=1),
        "first": first, "last": last, "horizons": HORIZONS})
    out = [dict(zip(("horizon", "n", "actual", "forecast_error", "naive_error"), r))
           for r in rows]
    if not out or not sum(r["actual"] for r in out):
        raise NoForecastsToScore(
            f"no demand forecast made on {first - timedelta(days=1)} .. "
            f"{last - timedelta(days=1)} has a target with demand in feature_store_daily "
            f"({first} .. {last})")
    return ForecastAccuracy(out)
