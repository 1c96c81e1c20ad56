"""Precision and recall at top-k against labelled days: overall, per kind, and whether the
detector named the kind."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from retail.ml.anomalies.evaluation import evaluate

D = date(2026, 3, 2)


def _frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


def test_hits_count_for_recall_whatever_the_kind_and_for_precision_only_with_the_right_kind():
    truth = _frame([("demand_spike", "S1", "P1", D), ("demand_spike", "S1", "P1",
                                                      D + timedelta(days=1)),
                    ("pricing_error", "S1", "P2", D), ("inventory_discrepancy", "S2", "P1", D)],
                   ["kind", "store_id", "product_id", "date"])
    flagged = _frame([("S1", "P1", D, "demand_spike"),  # a hit, right kind
                      ("S1", "P2", D, "demand_spike"),  # a hit, wrong kind
                      ("S1", "P3", D, "demand_spike"),  # a false alarm
                      ("S2", "P9", D, "sales_drop")],  # a false alarm
                     ["store_id", "product_id", "date", "kind"])
    got = evaluate(flagged, truth)
    assert (got["flagged"], got["labelled_days"]) == (4, 4)
    assert got["precision"] == 0.5 and got["recall"] == 0.5
    assert got["recall.demand_spike"] == 0.5 and got["hits.demand_spike"] == 1
    assert got["recall.pricing_error"] == 1.0 and got["recall.inventory_discrepancy"] == 0.0
    assert got["precision.demand_spike"] == pytest.approx(1 / 3)
    assert got["precision.sales_drop"] == 0.0
    assert got["kind_accuracy"] == 0.5
    # no sales drop labelled: no recall, rather than a made-up 0 or 1
    assert "recall.sales_drop" not in got and "precision.pricing_error" not in got


def test_nothing_flagged_has_zero_recall_and_no_precision():
    truth = _frame([("sales_drop", "S1", "P1", D)], ["kind", "store_id", "product_id", "date"])
    got = evaluate(_frame([], ["store_id", "product_id", "date", "kind"]), truth)
    assert got["recall"] == 0.0 and "precision" not in got
