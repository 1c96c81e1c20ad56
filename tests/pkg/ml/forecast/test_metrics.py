"""Each metric against a hand computation, and the split-conformal intervals on a residual
set built so their quantiles are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from retail.ml.forecast.metrics import (coverage, metrics_by, point_metrics,
                                        residual_quantiles, rmsse, rmsse_scale,
                                        with_intervals)


def test_wape_mae_and_bias_by_hand():
    # errors +2, -1, 0, +3 on actuals 10, 5, 0, 5 (sum 20)
    m = point_metrics(np.array([10, 5, 0, 5]), np.array([12, 4, 0, 8]))
    assert m["wape"] == pytest.approx(6 / 20)
    assert m["mae"] == pytest.approx(6 / 4)
    assert m["bias"] == pytest.approx(4 / 20)


def test_wape_and_bias_are_undefined_without_demand():
    m = point_metrics(np.array([0, 0]), np.array([1, 0]))
    assert math.isnan(m["wape"]) and math.isnan(m["bias"]) and m["mae"] == 0.5


def test_rmsse_scale_is_the_mean_squared_day_to_day_change():
    history = pd.DataFrame({"s": ["a"] * 4 + ["b"] * 3 + ["c"] * 2,
                            "t": [3, 1, 2, 4, 1, 2, 3, 1, 2],
                            "y": [4, 1, 2, 8, 5, 5, 5, 1, 3]})
    scale = rmsse_scale(history, ["s"], "t", "y").set_index("s")["scale"]
    # a in time order: 1, 2, 4, 8 -> changes 1, 2, 4; b never changes: left out
    assert scale.to_dict() == {"a": pytest.approx((1 + 4 + 16) / 3), "c": 4.0}


def test_rmsse_is_the_mean_over_series_of_the_scaled_root_mean_square_error():
    frame = pd.DataFrame({"s": ["a", "a", "c", "b"], "actual": [1.0, 3.0, 2.0, 9.0],
                          "f": [2.0, 5.0, 2.0, 0.0]})
    scale = pd.DataFrame({"s": ["a", "c"], "scale": [2.5, 4.0]})
    # a: mean(1, 4) / 2.5 = 1 -> 1; c: 0; b has no scale
    assert rmsse(frame, "f", ["s"], scale) == pytest.approx(0.5)


def test_metrics_by_group_and_overall_leave_out_rows_a_model_lacks():
    frame = pd.DataFrame({"horizon": [1, 1, 2, 2], "s": ["a", "b", "a", "b"],
                          "actual": [10.0, 10.0, 10.0, 10.0],
                          "m1": [12.0, 8.0, 10.0, 10.0], "m2": [10.0, np.nan, 20.0, np.nan]})
    scale = pd.DataFrame({"s": ["a", "b"], "scale": [1.0, 4.0]})
    rows = {(r.get("horizon"), r["model"]): r
            for by in (["horizon"], []) for r in metrics_by(frame, ["m1", "m2"], by, ["s"],
                                                            scale)}
    assert rows[(1, "m1")]["wape"] == pytest.approx(4 / 20)
    assert rows[(1, "m1")]["bias"] == pytest.approx(0.0)
    assert rows[(None, "m1")]["wape"] == pytest.approx(4 / 40)
    assert rows[(None, "m2")]["rows"] == 2 and rows[(None, "m2")]["wape"] == pytest.approx(0.5)
    # m1 overall: a: sqrt(mean(4, 0) / 1), b: sqrt(mean(4, 0) / 4)
    assert rows[(None, "m1")]["rmsse"] == pytest.approx((math.sqrt(2) + math.sqrt(0.5)) / 2)
    assert isinstance(rows[(1, "m1")]["horizon"], int)


def _residual_set() -> pd.DataFrame:
    """Horizon 1: forecasts 10 (low), 100 (mid) and 1,000 (high), 200 rows each; the
    residuals of level k are k+1 times the integers -100 .. 99 over 10."""
    base = np.arange(-100, 100) / 10
    parts = [pd.DataFrame({"horizon": 1, "forecast": f, "actual": f + (k + 1) * base})
             for k, f in enumerate((10.0, 100.0, 1000.0))]
    return pd.concat(parts, ignore_index=True)


def test_residual_quantiles_per_horizon_and_level():
    table = residual_quantiles(_residual_set())
    assert table["level"].tolist() == [0, 1, 2]
    assert table["forecast_from"].tolist() == [0.0, 100.0, 1000.0]
    low, high = table.iloc[0], table.iloc[2]
    # level 0: residuals -10 .. 9.9 by 0.1; the 10 % quantile (lower) is -8.0, 90 % 8.0
    assert low["lower_80"] == pytest.approx(-8.0, abs=0.11)
    assert low["upper_80"] == pytest.approx(8.0, abs=0.11)
    assert high["lower_95"] == pytest.approx(3 * -9.5, abs=0.31)
    assert high["upper_95"] == pytest.approx(3 * 9.5, abs=0.31)


def test_intervals_use_their_levels_quantiles_and_cover_what_they_promise():
    data = _residual_set()
    table = residual_quantiles(data)
    scored = with_intervals(data, table)
    mid = scored[scored["forecast"] == 100.0].iloc[0]
    assert mid["upper_80"] == pytest.approx(100 + table.iloc[1]["upper_80"])
    covered = coverage(scored)
    assert 0.8 <= covered["80"] <= 0.815  # the quantiles are conservative (inclusive)
    assert 0.95 <= covered["95"] <= 0.965


def test_intervals_never_go_below_zero():
    table = pd.DataFrame([{"horizon": 1, "level": 0, "forecast_from": 0.0, "lower_95": -50.0,
                           "lower_80": -5.0, "upper_80": 5.0, "upper_95": 50.0}])
    out = with_intervals(pd.DataFrame({"horizon": [1], "forecast": [3.0], "actual": [0.0]}),
                         table)
    assert out.iloc[0][["lower_95", "lower_80", "upper_80", "upper_95"]].tolist() == [
        0.0, 0.0, 8.0, 53.0]


def test_an_interval_holds_its_forecast_when_every_error_leans_one_way():
    """A band whose backtest always under-forecast (every residual 2 to 6) keeps its lower
    bounds at the forecast and widens above; one that always over-forecast, the reverse."""
    under = pd.DataFrame({"horizon": 1, "forecast": 10.0,
                          "actual": 10.0 + np.linspace(2.0, 6.0, 50)})
    over = pd.DataFrame({"horizon": 2, "forecast": 10.0,
                         "actual": 10.0 - np.linspace(2.0, 6.0, 50)})
    table = residual_quantiles(pd.concat([under, over]))
    scored = with_intervals(pd.concat([under, over]), table)
    for _, row in scored.iterrows():
        assert row["lower_95"] <= row["lower_80"] <= row["forecast"] <= row["upper_80"] \
            <= row["upper_95"]
    up, down = table[table["horizon"] == 1].iloc[0], table[table["horizon"] == 2].iloc[0]
    assert (up["lower_95"], up["lower_80"]) == (0.0, 0.0) and up["upper_80"] > 5.0
    assert (down["upper_80"], down["upper_95"]) == (0.0, 0.0) and down["lower_80"] < -5.0
