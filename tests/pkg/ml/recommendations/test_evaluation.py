"""The cross-sell evaluation's pieces on inline rows: the held-out split with and without the
exclusion rule, the recovery of known pairs, ALS's parameters from a run, the ratios."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from retail.ml.recommendations.evaluation import holdout_split, pair_recovery
from retail.ml.recommendations.model import als_params
from retail.ml.recommendations.registered import TrainingResult
from retail.ml.recommendations.settings import RecommendationSettings

LINES = ("transaction_id string, customer_id string, store_id string, product_id string, "
         "quantity int, event_time timestamp")


@pytest.fixture(scope="module")
def lines(spark):
    # C1 comes back for P1 and tries P3; C2's last basket holds only what it bought before
    return spark.createDataFrame([
        ("T1", "C1", "S1", "P1", 1, datetime(2026, 3, 1)),
        ("T2", "C1", "S1", "P1", 1, datetime(2026, 3, 2)),
        ("T2", "C1", "S1", "P3", 1, datetime(2026, 3, 2)),
        ("T3", "C2", "S1", "P2", 1, datetime(2026, 3, 1)),
        ("T4", "C2", "S1", "P2", 1, datetime(2026, 3, 3))], LINES)


def test_with_the_exclusion_only_new_products_are_relevant(lines):
    split = holdout_split(lines, min_baskets=2, exclude_purchased=True)
    assert sorted(tuple(r) for r in split.relevant.collect()) == [("C1", "P3")]
    assert (split.held_out_baskets, split.judged_customers) == (2, 1)
    assert sorted(tuple(r) for r in split.owned.collect()) == [("C1", "P1"), ("C2", "P2")]


def test_without_the_exclusion_every_held_out_product_is_relevant(lines):
    split = holdout_split(lines, min_baskets=2, exclude_purchased=False)
    assert sorted(tuple(r) for r in split.relevant.collect()) == [
        ("C1", "P1"), ("C1", "P3"), ("C2", "P2")]
    assert split.owned is None and split.judged_customers == 2


def test_pair_recovery_counts_each_direction_in_the_anchors_top_k(spark):
    partners = spark.createDataFrame(
        [("A", "B", 1), ("A", "X", 2), ("B", "X", 1), ("B", "A", 3), ("C", "X", 1)],
        "product_id string, other_product_id string, rank int")
    planted = pa.table({"product_id": ["A", "B", "D", "C"],
                        "other_product_id": ["B", "A", "E", "D"]})
    got = pair_recovery(partners, planted, k=2)
    # A->B found; B->A at rank 3 missed; D never sold; C->D missed
    assert got == {"pairs": 4, "found": 1, "share": 0.25, "share_of_sold": 1 / 3}


def test_als_parameters_come_back_from_a_runs_strings():
    logged = {"rank": "64", "reg_param": "1.0", "alpha": "5.0", "max_iter": "10",
              "seed": "19", "window_days": "90"}
    assert als_params(logged) == als_params(RecommendationSettings())
    assert als_params({**logged, "rank": "16"})["rank"] == 16
    with pytest.raises(ValueError, match="alpha"):
        als_params({k: v for k, v in logged.items() if k != "alpha"})


def test_ratios_divide_by_the_baselines_figures_that_are_not_0():
    result = TrainingResult(model=None, partners=pa.table({}),
                            metrics={"recall_at_10": 0.3, "precision_at_10": 0.05,
                                     "judged_customers": 10},
                            baseline={"recall_at_10": 0.2, "precision_at_10": 0.0})
    assert result.ratios == {"recall_at_10_to_popularity": pytest.approx(1.5)}
