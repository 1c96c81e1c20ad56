"""The slow-mover classifier's figures: PR-AUC (average precision), precision, recall and F1
at a threshold, and the enrichment of the flags in the products whose demand fades (the
simulator's planted truth, passed in by tests and benchmarks; production never has it)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the precision-recall curve as average precision: the mean, over the
    positives, of the precision at the score of each (tied scores are one step: no order
    within a tie is invented). NaN without a positive."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, float)
    positives = labels.sum()
    if positives == 0:
        return float("nan")
    frame = pd.DataFrame({"s": scores, "y": labels}).groupby("s", sort=True)["y"].agg(
        ["sum", "count"]).iloc[::-1]
    true_pos, flagged = frame["sum"].cumsum(), frame["count"].cumsum()
    return float((frame["sum"] * true_pos / flagged).sum() / positives)


def share_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The probability above which as many rows are flagged as ``labels`` has positives:
    the classifier's threshold, chosen on its training rows (never the evaluated ones)."""
    positives = float(np.mean(np.asarray(labels, float)))
    if positives <= 0:
        return 1.0
    return float(np.quantile(np.asarray(probabilities, float), 1 - positives))


def at_threshold(flags: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean ``flags`` against 0/1 ``labels`` (a ratio with
    nothing under it is 0)."""
    flags, labels = np.asarray(flags, bool), np.asarray(labels, float) > 0.5
    tp = float((flags & labels).sum())
    precision = tp / flags.sum() if flags.sum() else 0.0
    recall = tp / labels.sum() if labels.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def classifier_report(frame: pd.DataFrame, *, score: str, flag: str) -> dict[str, float]:
    """PR-AUC, precision, recall, F1 and the flag share of one scorer over ``frame`` (its
    ``label`` column)."""
    return {"pr_auc": average_precision(frame[score].to_numpy(), frame["label"].to_numpy()),
            **at_threshold(frame[flag].to_numpy(), frame["label"].to_numpy()),
            "flagged_share": float(frame[flag].mean()) if len(frame) else 0.0}


def fade_enrichment(frame: pd.DataFrame, fades: pd.DataFrame, *, flag: str) -> dict[str, float]:
    """How much more often the flags fall on faded products than the rows do.

    Args:
        frame: scored rows: ``product_id``, ``date`` (the origin), ``flag``.
        fades: ``product_id``, ``fade_start`` (the simulator's planted fades).

    Returns:
        faded_share (share of the rows whose product faded by their date), flag_faded_share
        (the same among the flagged rows), enrichment (their ratio; NaN: nothing faded or
        nothing flagged) and recall_faded (share of the faded rows flagged).
    """
    starts = dict(zip(fades["product_id"], pd.to_datetime(fades["fade_start"]).dt.date))
    faded = np.array([p in starts and starts[p] <= (d if isinstance(d, date) else d.date())
                      for p, d in zip(frame["product_id"], frame["date"])], bool)
    flags = frame[flag].to_numpy(bool)
    faded_share = float(faded.mean()) if len(faded) else float("nan")
    flag_faded = float(faded[flags].mean()) if flags.any() else float("nan")
    return {"faded_share": faded_share, "flag_faded_share": flag_faded,
            "enrichment": flag_faded / faded_share if faded_share else float("nan"),
            "recall_faded": float(flags[faded].mean()) if faded.any() else float("nan")}
