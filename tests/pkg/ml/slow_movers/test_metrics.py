"""The slow-mover figures by hand: average precision (ties one step), precision / recall /
F1, and the flags' enrichment in faded products."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retail.ml.slow_movers.metrics import at_threshold, average_precision, fade_enrichment


def test_average_precision_by_hand():
    # ranked: 0.9 (1), 0.8 (0), 0.7 (1), 0.1 (0): precisions at the positives 1 and 2/3
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])) == (
        pytest.approx((1 + 2 / 3) / 2))
    assert average_precision(np.array([0.1, 0.2]), np.array([1, 1])) == 1.0
    assert math.isnan(average_precision(np.array([0.3]), np.array([0])))


def test_tied_scores_are_one_step():
    # a constant score ranks nothing: its average precision is the positives' share
    assert average_precision(np.full(4, 5.0), np.array([1, 0, 0, 0])) == pytest.approx(0.25)


def test_precision_recall_f1():
    got = at_threshold(np.array([True, True, False, False]), np.array([1, 0, 1, 0]))
    assert got == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert at_threshold(np.array([False, False]), np.array([1, 0]))["f1"] == 0.0


def test_fade_enrichment_counts_fades_started_by_the_rows_day():
    frame = pd.DataFrame({
        "product_id": ["P1", "P1", "P2", "P3"],
        "date": [date(2026, 6, 1), date(2026, 6, 8), date(2026, 6, 8), date(2026, 6, 8)],
        "flag": [True, True, False, True]})
    # P1 fades from June 5: its June 1 row had not faded yet
    fades = pd.DataFrame({"product_id": ["P1"], "fade_start": [date(2026, 6, 5)]})
    got = fade_enrichment(frame, fades, flag="flag")
    assert got["faded_share"] == 0.25
    assert got["flag_faded_share"] == pytest.approx(1 / 3)
    assert got["enrichment"] == pytest.approx(4 / 3)
    assert got["recall_faded"] == 1.0
