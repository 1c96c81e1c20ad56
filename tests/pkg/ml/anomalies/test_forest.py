"""The Isolation Forests fitted and applied from Spark: a row far from its category's others
scores highest, a category without a forest of its own is scored by the chain-wide one, and
the saved folder scores exactly as the fitted forests."""

from __future__ import annotations

import numpy as np
import pytest

from retail.ml.anomalies import forest
from retail.transforms.anomaly_signals import FEATURES

PARAMS = forest.ForestParams(n_estimators=30, max_samples=64, seed=3, min_category_rows=50)


@pytest.fixture(scope="module")
def rows(spark):
    rng = np.random.default_rng(5)
    n = len(FEATURES)
    data = [("dairy" if i < 120 else "toys", f"P{i}", *map(float, rng.normal(0, 0.3, n)))
            for i in range(150)]
    data.append(("dairy", "odd", 3.0, 2.0, *[-4.0] * (n - 2)))
    data.append(("garden", "new", *[0.1] * n))  # a category never trained
    schema = "category string, product_id string, " + ", ".join(f"{f} double" for f in FEATURES)
    return spark.createDataFrame(data, schema)


@pytest.fixture(scope="module")
def fitted(rows):
    return forest.fit(rows.filter(rows.category != "garden"), PARAMS)


def test_a_forest_per_big_enough_category_and_a_chain_wide_one(fitted):
    assert set(fitted.models) == {"dairy", forest.ALL}  # toys: 30 rows < 50
    median, spread = fitted.scales["demand_log_ratio"]
    assert abs(median) < 0.2 and 0.1 < spread < 1.0


def test_the_odd_row_scores_highest_and_every_row_is_scored(rows, fitted, tmp_path):
    scored = {r.product_id: r.score for r in forest.score(rows, fitted).collect()}
    assert len(scored) == rows.count() and all(0 < s <= 1 for s in scored.values())
    assert max(scored, key=scored.get) == "odd"
    assert scored["new"] < scored["odd"]  # garden: the chain-wide forest
    again = forest.Forests.load(fitted.save(tmp_path / "forests"))
    assert again.scales == fitted.scales and again.params == PARAMS
    assert again.features == FEATURES
    reloaded = {r.product_id: r.score for r in forest.score(rows, again).collect()}
    assert reloaded == scored


def test_no_rows_to_learn_from_says_so(rows):
    with pytest.raises(ValueError, match="no store x product day to train"):
        forest.fit(rows.filter(rows.category == "none"), PARAMS)
