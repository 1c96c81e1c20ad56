"""predict's intervals in Spark equal the backtest's in pandas (metrics.with_intervals):
the same level per horizon, the same bounds, never below 0, null for an unknown horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from retail.ml.forecast.metrics import BOUNDS, residual_quantiles, with_intervals
from retail.ml.forecast.training import with_interval_bounds


def test_the_spark_bounds_equal_the_backtests(spark):
    rng = np.random.default_rng(5)
    n = 700
    calibration = pd.DataFrame({"horizon": rng.integers(1, 8, n),
                                "forecast": rng.gamma(2.0, 5.0, n)})
    calibration["actual"] = rng.poisson(calibration["forecast"]).astype(float)
    table = residual_quantiles(calibration)
    assert table.groupby("horizon").size().min() > 3  # several levels per horizon
    fresh = pd.DataFrame({"horizon": np.r_[rng.integers(1, 8, 300), [9]],
                          "forecast": np.r_[rng.gamma(2.0, 5.0, 300), [4.0]]})
    fresh.loc[:4, "forecast"] = table["forecast_from"].to_numpy()[:5]  # exactly on a start
    fresh.loc[5, "forecast"] = 0.0
    expected = with_intervals(fresh, table)
    got = with_interval_bounds(spark.createDataFrame(fresh), pa.Table.from_pandas(table)
                               ).toPandas()
    got = got.sort_values(["horizon", "forecast"]).reset_index(drop=True)
    expected = expected.sort_values(["horizon", "forecast"]).reset_index(drop=True)
    known = expected["horizon"] != 9
    for b in BOUNDS:
        assert got.loc[known, b].to_numpy() == pytest.approx(expected.loc[known, b].to_numpy())
        assert (got.loc[known, b] >= 0).all()
    assert got.loc[~known, list(BOUNDS)].isna().all().all()
