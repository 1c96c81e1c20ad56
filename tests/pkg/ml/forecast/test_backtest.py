"""The stacked training rows, the rolling-origin folds (never a target day on or after the
origin in training) and the baselines on tiny series."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from retail.ml.forecast import backtest
from retail.ml.settings import ForecastSettings
from retail.transforms.forecast import scoring_rows, stack_horizons

D0 = date(2026, 3, 2)  # a Monday


def _store(spark, days: int = 42, pairs: int = 2):
    """Demand 10 + day index on weekdays, 100 + day index on Saturdays; a promotion on the
    last Monday; pair k's demand is k + 1 times pair 1's."""
    rows = []
    for p in range(pairs):
        for i in range(days):
            d = D0 + timedelta(days=i)
            demand = (p + 1) * ((100 if d.weekday() == 5 else 10) + i)
            promo = d == D0 + timedelta(days=days - 7)
            rows.append((1, p + 1, "S1", f"P{p + 1}", d, demand, d.isoweekday(), promo,
                         0.2 if promo else 0.0, 8.0 if promo else 10.0))
    return spark.createDataFrame(rows, "store_key long, product_key long, store_id string, "
                                 "product_id string, date date, demand long, "
                                 "day_of_week int, on_promotion boolean, "
                                 "discount_depth double, shelf_price double")


def test_stacked_rows_carry_the_label_the_targets_plan_and_the_baselines(spark):
    rows = stack_horizons(_store(spark), horizons=range(1, 8), known_ahead=("day_of_week",))
    d = D0 + timedelta(days=34)  # a Sunday; its horizon 2 is day 36, a Tuesday
    mine = (F.col("date") == d) & (F.col("product_key") == 1)
    got = {r["horizon"]: r for r in rows.filter(mine).collect()}
    assert sorted(got) == list(range(1, 8))
    two = got[2]
    assert two["target_date"] == d + timedelta(days=2) and two["label"] == 10 + 36
    assert two["target_day_of_week"] == 2
    assert two["same_weekday_last"] == 10 + 29  # the Tuesday before the target
    assert two["same_weekday_mean_4"] == pytest.approx(10 + (29 + 22 + 15 + 8) / 4)
    assert two["demand_mean_28"] == pytest.approx(
        np.mean([(100 if (D0 + timedelta(days=i)).weekday() == 5 else 10) + i
                 for i in range(7, 35)]))
    # the target day's planned promotion (day 35, the last Monday) is on the row of day 34
    one = got[1]
    assert (one["target_on_promotion"], one["target_shelf_price"]) == (True, 8.0)
    assert (one["on_promotion"], one["shelf_price"]) == (False, 10.0)
    assert rows.filter(F.col("date") >= D0 + timedelta(days=40)).count() == 2  # day 40, h 1


def test_origins_are_weekly_and_the_last_ends_on_the_cut_off():
    at = backtest.origins(date(2026, 4, 30), 4, 7)
    assert at == [date(2026, 4, 3), date(2026, 4, 10), date(2026, 4, 17), date(2026, 4, 24)]


def test_a_fold_trains_on_targets_before_its_origin_and_scores_the_day_before(spark):
    rows = stack_horizons(_store(spark), horizons=range(1, 8), known_ahead=())
    origin = D0 + timedelta(days=28)
    train, test = backtest.fold(rows, origin)
    assert train.agg({"target_date": "max"}).first()[0] == origin - timedelta(days=1)
    assert {r[0] for r in test.select("date").distinct().collect()} == {
        origin - timedelta(days=1)}
    assert sorted(r[0] for r in test.select("target_date").distinct().collect()) == [
        origin + timedelta(days=k) for k in range(7)]


def test_the_backtest_never_fits_on_a_day_at_or_after_its_origin(spark, monkeypatch):
    rows = stack_horizons(_store(spark), horizons=range(1, 8), known_ahead=())
    seen = []

    class Fitted:
        def transform(self, test):
            return test.withColumn("forecast", F.col("same_weekday_last").cast("double"))

    def fake_fit(train, params, *, per_horizon, fraction):
        seen.append(train.agg({"target_date": "max", "date": "max"}).first())
        return Fitted()

    monkeypatch.setattr(backtest.gbt, "fit", fake_fit)
    rows = rows.withColumn("category", rows.store_id)
    at = backtest.origins(D0 + timedelta(days=41), 4, 7)
    scored = backtest.run(rows, at, {}, ForecastSettings())
    for origin, (max_target, max_day) in zip(at, seen):
        assert max_target < origin and max_day < origin
    assert len(scored) == 4 * 7 * 2
    assert (scored["target_date"] >= scored["origin"]).all()
    # seasonal naive is the same weekday a week before the target
    sat = scored[pd.to_datetime(scored["target_date"]).dt.weekday == 5]
    assert (sat["seasonal_naive"] == sat["actual"] - 7 * (sat["product_id"].str[1:]
                                                          .astype(int))).all()


def test_tuning_candidates_are_the_grid():
    grid = backtest.candidates(ForecastSettings(max_depth=(3, 5), step_size=(0.1, 0.2)))
    assert len(grid) == 4 and {g["maxDepth"] for g in grid} == {3, 5}


def test_the_sample_of_series_is_stable():
    keys = pd.DataFrame({"store_id": ["S1"] * 5, "product_id": [f"P{i}" for i in range(5)]})
    first = backtest.sample_series(keys, 3)
    again = backtest.sample_series(keys.iloc[::-1], 3)
    assert len(first) == 3 and set(first["product_id"]) == set(again["product_id"])


def test_autoets_learns_a_weekly_pattern():
    days = [D0 + timedelta(days=i) for i in range(56)]
    history = pd.DataFrame({"store_id": "S1", "product_id": "P1", "date": days,
                            "demand": [50 if d.weekday() == 5 else 10 for d in days]})
    origin = D0 + timedelta(days=49)
    out = backtest.ets_forecasts(history, [origin], 7, 5)
    assert sorted(out["target_date"]) == [origin + timedelta(days=k) for k in range(7)]
    saturday = out[pd.to_datetime(out["target_date"]).dt.weekday == 5]["ets"].iloc[0]
    others = out[pd.to_datetime(out["target_date"]).dt.weekday != 5]["ets"]
    assert saturday == pytest.approx(50, abs=3) and others.max() < 15


def test_scoring_rows_are_the_training_rows_without_a_label(spark):
    store = _store(spark)
    day = D0 + timedelta(days=34)
    targets = store.filter(F.col("date") > day).select(
        "store_key", "product_key", "date", "day_of_week", "on_promotion", "discount_depth",
        "shelf_price")
    scoring = scoring_rows(
        store.filter(F.col("date") <= day), targets, day=day, horizons=range(1, 8))
    training = stack_horizons(store, horizons=range(1, 8), known_ahead=("day_of_week",))
    columns = [c for c in training.columns if c != "label"]
    want = training.filter(F.col("date") == day).select(*columns)
    assert sorted(map(tuple, scoring.select(*columns).collect())) == sorted(
        map(tuple, want.collect()))


def test_gbt_params_types_logged_strings_and_names_what_is_missing():
    logged = {"maxDepth": "6", "maxIter": "60", "stepSize": "0.1", "subsamplingRate": "0.8",
              "strategy": "stacked", "mean_wape": 0.3}
    assert backtest.gbt_params(logged) == {"maxDepth": 6, "maxIter": 60, "stepSize": 0.1,
                                           "subsamplingRate": 0.8}
    with pytest.raises(ValueError, match="maxIter"):
        backtest.gbt_params({"maxDepth": 6, "stepSize": 0.1, "subsamplingRate": 0.8})


def test_mean_wape_averages_each_origins_wape():
    scored = pd.DataFrame({"origin": ["a", "a", "b"], "actual": [10.0, 10.0, 4.0],
                           "forecast": [12.0, 10.0, 5.0]})
    # origin a: 2 / 20 = 0.1; origin b: 1 / 4 = 0.25 (not the pooled 3 / 24)
    assert backtest.mean_wape(scored) == pytest.approx(0.175)
