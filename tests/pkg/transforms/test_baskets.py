"""Baskets and cross-sell transforms on a few inline rows each: basket sets, the held-out
last basket, purchase counts and home stores, popularity with and without exclusion, top-N,
recall and precision at k, rule and cosine partners, the store-level rule."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from retail.transforms.baskets import (basket_sets, cosine_partners, home_stores,
                                       popular_products, popularity_recommendations,
                                       purchase_counts, ranking_metrics, rule_partners,
                                       split_last_basket, store_opportunities, top_n)

LINES = ("transaction_id string, customer_id string, store_id string, product_id string, "
         "quantity int, event_time timestamp")


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour)


@pytest.fixture(scope="module")
def lines(spark):
    # C1: three baskets (T3 last), C2: one basket, one anonymous basket
    return spark.createDataFrame([
        ("T1", "C1", "S1", "P1", 2, _at(1)), ("T1", "C1", "S1", "P2", 1, _at(1)),
        ("T2", "C1", "S2", "P1", 1, _at(2)), ("T2", "C1", "S2", "P1", 1, _at(2)),
        ("T3", "C1", "S1", "P3", 1, _at(3)),
        ("T4", "C2", "S2", "P2", 1, _at(3)),
        ("T5", None, "S1", "P1", 4, _at(3)), ("T5", None, "S1", "P4", 1, _at(3)),
    ], LINES)


def test_a_basket_is_the_sorted_set_of_its_products(spark, lines):
    got = basket_sets(lines).filter("transaction_id in ('T1', 'T2', 'T5')")
    assertDataFrameEqual(got.select("transaction_id", "customer_id", "items"), [
        Row(transaction_id="T1", customer_id="C1", items=["P1", "P2"]),
        Row(transaction_id="T2", customer_id="C1", items=["P1"]),
        Row(transaction_id="T5", customer_id=None, items=["P1", "P4"])])


def test_the_last_basket_of_a_customer_with_two_or_more_is_held_out(spark, lines):
    history, held = split_last_basket(lines)
    assert sorted(r.transaction_id for r in held.collect()) == ["T3"]
    # C2's only basket and the anonymous one stay to learn from
    assert sorted({r.transaction_id for r in history.collect()}) == ["T1", "T2", "T4", "T5"]
    assert history.count() + held.count() == lines.count()


def test_a_tie_in_time_holds_out_the_greatest_transaction_id(spark):
    same = spark.createDataFrame([("A", "C1", "S1", "P1", 1, _at(1)),
                                  ("B", "C1", "S1", "P2", 1, _at(1))], LINES)
    _, held = split_last_basket(same)
    assert [r.transaction_id for r in held.collect()] == ["B"]


def test_holding_out_with_fewer_than_two_baskets_is_refused(lines):
    with pytest.raises(ValueError, match="min_baskets"):
        split_last_basket(lines, min_baskets=1)


def test_purchase_counts_count_baskets_not_lines_and_leave_anonymous_out(lines):
    assertDataFrameEqual(purchase_counts(lines), [
        Row(customer_id="C1", product_id="P1", baskets=2, units=4),
        Row(customer_id="C1", product_id="P2", baskets=1, units=1),
        Row(customer_id="C1", product_id="P3", baskets=1, units=1),
        Row(customer_id="C2", product_id="P2", baskets=1, units=1)])


def test_the_home_store_is_the_most_visited_one(spark, lines):
    tie = spark.createDataFrame([("X", "C3", "S9", "P1", 1, _at(1)),
                                 ("Y", "C3", "S4", "P1", 1, _at(2))], LINES)
    assertDataFrameEqual(home_stores(lines.unionByName(tie)), [
        Row(customer_id="C1", store_id="S1"), Row(customer_id="C2", store_id="S2"),
        Row(customer_id="C3", store_id="S4")])


def test_popularity_ranks_products_by_baskets(lines):
    got = popular_products(lines).orderBy("popularity_rank").collect()
    assert [(r.product_id, r.score) for r in got] == [
        ("P1", 3.0), ("P2", 2.0), ("P3", 1.0), ("P4", 1.0)]


def test_the_popularity_baseline_skips_what_the_customer_owns(spark, lines):
    popular = popular_products(lines)
    customers = spark.createDataFrame([("C1",), ("C9",)], "customer_id string")
    owned = spark.createDataFrame([("C1", "P1"), ("C1", "P3")],
                                  "customer_id string, product_id string")
    got = popularity_recommendations(customers, popular, owned, n=2)
    assertDataFrameEqual(got.select("customer_id", "product_id", "rank"), [
        Row(customer_id="C1", product_id="P2", rank=1),
        Row(customer_id="C1", product_id="P4", rank=2),
        Row(customer_id="C9", product_id="P1", rank=1),
        Row(customer_id="C9", product_id="P2", rank=2)])
    plain = popularity_recommendations(customers, popular, None, n=1)
    assert {(r.customer_id, r.product_id) for r in plain.collect()} == {("C1", "P1"),
                                                                         ("C9", "P1")}


def test_top_n_ranks_by_score_then_product_and_drops_owned(spark):
    scores = spark.createDataFrame([("C1", "B", 0.5), ("C1", "A", 0.5), ("C1", "C", 0.9),
                                    ("C1", "D", 0.1)],
                                   "customer_id string, product_id string, score double")
    owned = spark.createDataFrame([("C1", "C")], "customer_id string, product_id string")
    assertDataFrameEqual(top_n(scores, owned, n=2), [
        Row(customer_id="C1", product_id="A", score=0.5, rank=1),
        Row(customer_id="C1", product_id="B", score=0.5, rank=2)])


def test_recall_and_precision_at_k_average_over_customers_with_a_truth(spark):
    recs = spark.createDataFrame(
        [("C1", "A", 1), ("C1", "B", 2), ("C1", "X", 3), ("C2", "Y", 1), ("C3", "A", 1)],
        "customer_id string, product_id string, rank int")
    truth = spark.createDataFrame([("C1", "A"), ("C1", "X"), ("C2", "Z"), ("C2", "Y"),
                                   ("C2", "W")], "customer_id string, product_id string")
    # C1: hits at 2 = {A} of 2 relevant; C2: {Y} of 3; C3 has no truth, not counted
    got = ranking_metrics(recs, truth, k=2).first()
    assert got.customers == 2
    assert got.recall_at_k == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert got.precision_at_k == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_rule_partners_keep_one_to_one_rules_by_lift(spark):
    rules = spark.createDataFrame([
        (["P1"], ["P2"], 0.5, 3.0, 0.1), (["P1"], ["P3"], 0.6, 3.0, 0.1),
        (["P1"], ["P4"], 0.9, 1.2, 0.2), (["P1", "P2"], ["P3"], 0.9, 9.0, 0.05)],
        "antecedent array<string>, consequent array<string>, confidence double, "
        "lift double, support double")
    got = rule_partners(rules, n=2).orderBy("rank").collect()
    assert [(r.other_product_id, r.rank, r.score) for r in got] == [("P3", 1, 3.0),
                                                                    ("P2", 2, 3.0)]


def test_cosine_partners_rank_the_most_aligned_factors(spark):
    factors = spark.createDataFrame([("A", [1.0, 0.0]), ("B", [2.0, 0.1]), ("C", [0.0, 1.0]),
                                     ("D", [-1.0, 0.0])], "product_id string, features "
                                    "array<float>")
    got = cosine_partners(factors, n=2).filter("product_id = 'A'").orderBy("rank").collect()
    assert [r.other_product_id for r in got] == ["B", "C"]
    assert got[0].score == pytest.approx(2 / (4.01 ** 0.5), rel=1e-6)
    assert got[0].lift is None


def test_store_opportunities_name_missing_and_under_ordered_partners(spark):
    # S1 sells P1 in every basket and P2 in half; partners of P1: P5 (not carried), P6
    # (carried, loses 30 % of its demand), P7 (carried, fine), P8 (lift too low)
    store = spark.createDataFrame([
        ("T1", None, "S1", "P1", 1, _at(1)), ("T1", None, "S1", "P2", 1, _at(1)),
        ("T2", None, "S1", "P1", 1, _at(1)), ("T3", None, "S2", "P5", 1, _at(1))], LINES)
    partners = spark.createDataFrame([
        ("P1", "P5", 0.4, 4.0), ("P1", "P6", 0.2, 3.0), ("P1", "P7", 0.5, 5.0),
        ("P1", "P8", 0.9, 1.1), ("P2", "P5", 0.2, 2.0)],
        "product_id string, other_product_id string, confidence double, lift double")
    stocked = spark.createDataFrame([("S1", "P1"), ("S1", "P2"), ("S1", "P6"), ("S1", "P7"),
                                     ("S2", "P5")], "store_id string, product_id string")
    short = spark.createDataFrame([("S1", "P6", 7, 3), ("S1", "P7", 10, 1)],
                                  "store_id string, product_id string, sold_units long, "
                                  "lost_units long")
    got = store_opportunities(store, partners, stocked, short, anchors=2, min_lift=1.5,
                              min_lost_share=0.25, n=10)
    # P5: 1.0 x 0.4 (via P1) + 0.5 x 0.2 (via P2); P6: 1.0 x 0.2; S2's anchor has no partner
    assertDataFrameEqual(got, [
        Row(store_id="S1", product_id="P5", score=pytest.approx(0.5), reason="not_stocked",
            rank=1),
        Row(store_id="S1", product_id="P6", score=pytest.approx(0.2), reason="under_ordered",
            rank=2)])
