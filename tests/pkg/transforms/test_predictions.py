"""The daily predictions' rows: the stock-out risk over the cumulative horizon, and the
fact_ml_predictions shape (ids stable across re-runs, the 80 % pair as confidence_*)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from statistics import NormalDist

import pytest

from retail.transforms.predictions import prediction_rows, with_stock_out_risk
from retail.transforms.replenishment import Z_95

D = date(2026, 11, 30)
SCHEMA = ("store_key long, product_key long, store_id string, product_id string, "
          "target_date date, horizon int, forecast double, lower_80 double, upper_80 double, "
          "lower_95 double, upper_95 double")


def _rows(spark, pairs):
    """pairs: {(store, product): [(forecast, sd), ...]} for horizons 1..n."""
    rows = []
    for (s, p), days in pairs.items():
        for h, (mean, sd) in enumerate(days, start=1):
            rows.append((s, p, f"S{s}", f"P{p}", D + timedelta(days=h), h, mean,
                         mean - 1.2816 * sd, mean + 1.2816 * sd,
                         mean - Z_95 * sd, mean + Z_95 * sd))
    return spark.createDataFrame(rows, SCHEMA)


def test_the_risk_adds_the_days_means_and_variances_up_to_each_horizon(spark):
    forecasts = _rows(spark, {(1, 1): [(4.0, 1.0), (6.0, 2.0)], (1, 2): [(3.0, 0.0)]})
    stock = spark.createDataFrame([(1, 1, 9), (1, 2, 2)],
                                  "store_key long, product_key long, on_hand int")
    got = {(r.product_key, r.horizon): r.stock_out_risk
           for r in with_stock_out_risk(forecasts, stock).collect()}
    # day 1: P(N(4, 1) > 9); day 2: P(N(10, sqrt 5) > 9)
    assert got[(1, 1)] == pytest.approx(1 - NormalDist(4, 1).cdf(9), abs=1e-6)
    assert got[(1, 2)] == pytest.approx(1 - NormalDist(10, math.sqrt(5)).cdf(9), abs=1e-6)
    assert got[(2, 1)] == 1.0  # a certain demand of 3 against 2 on hand


def test_a_pair_without_stock_holds_nothing(spark):
    forecasts = _rows(spark, {(1, 1): [(0.0, 0.0)], (2, 1): [(2.0, 1.0)]})
    stock = spark.createDataFrame([], "store_key long, product_key long, on_hand int")
    got = {r.store_key: r.stock_out_risk
           for r in with_stock_out_risk(forecasts, stock).collect()}
    assert got == {1: 0.0, 2: pytest.approx(1 - NormalDist(2, 1).cdf(0), abs=1e-6)}


def test_prediction_rows_keep_both_intervals_and_derive_the_id_from_the_key(spark):
    forecasts = with_stock_out_risk(
        _rows(spark, {(1, 1): [(4.0, 1.0)]}),
        spark.createDataFrame([(1, 1, 9)], "store_key long, product_key long, on_hand int"))
    first = prediction_rows(forecasts, model_name="demand_forecast", model_version="3").first()
    again = prediction_rows(forecasts, model_name="demand_forecast", model_version="3").first()
    other = prediction_rows(forecasts, model_name="demand_forecast", model_version="4").first()
    assert first.prediction_id == again.prediction_id != other.prediction_id
    assert len(first.prediction_id) == 36 and first.prediction_id.count("-") == 4
    assert first.date_key == int(f"{D + timedelta(days=1):%Y%m%d}")
    assert (first.confidence_low, first.confidence_high) == pytest.approx(
        (4 - 1.2816, 4 + 1.2816))
    assert (first.confidence_low_95, first.confidence_high_95) == pytest.approx(
        (4 - Z_95, 4 + Z_95))
    assert first.recommended_order_qty == 0 and first.model_version == "3"
