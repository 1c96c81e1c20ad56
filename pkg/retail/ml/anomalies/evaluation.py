"""Precision and recall at top-k against labelled anomalies (the simulator's planted ones in
tests and benchmarks, confirmed incidents in production), per kind and over all kinds.

A flagged row (store, product, day) is a hit when that day lies inside a labelled anomaly.
Recall (per kind: of that kind's labelled days) counts the labelled store x product days
flagged, whatever kind the detector gave them; precision per kind counts the rows flagged as
that kind that fall on a labelled day of the same kind; ``kind_accuracy`` is the share of
the hits whose kind matches a label's.
"""

from __future__ import annotations

import pandas as pd

from retail.transforms.anomaly_signals import KINDS

KEY = ["store_id", "product_id", "date"]


def evaluate(flagged: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """The metrics of ``flagged`` (``store_id, product_id, date, kind``: the top-k rows)
    against ``truth`` (``kind, store_id, product_id, date``: the labelled days of the same
    window), as flat names: ``precision``, ``recall``, ``kind_accuracy``, ``flagged``,
    ``labelled_days`` and ``precision.<kind>``, ``recall.<kind>``, ``hits.<kind>``,
    ``labelled_days.<kind>`` (a kind without labels has no recall; one never flagged no
    precision)."""
    truth = truth[["kind", *KEY]].drop_duplicates()
    flagged = flagged[[*KEY, "kind"]].drop_duplicates(KEY)
    labelled = truth[KEY].drop_duplicates()
    hit = flagged.merge(labelled.assign(_hit=True), on=KEY, how="left")["_hit"].eq(True)
    same_kind = flagged.merge(truth.assign(_same=True), on=[*KEY, "kind"], how="left")
    same_kind = same_kind["_same"].eq(True).to_numpy()
    found = truth.merge(flagged[KEY].assign(_found=True), on=KEY, how="left")
    found["_found"] = found["_found"].eq(True)
    out = {"flagged": float(len(flagged)), "labelled_days": float(len(labelled)),
           "precision": _share(hit.sum(), len(flagged)),
           "recall": _share(labelled.merge(flagged[KEY], on=KEY, how="inner").shape[0],
                            len(labelled)),
           "kind_accuracy": _share(same_kind[hit.to_numpy()].sum(), hit.sum())}
    for kind in KINDS:
        mine = (flagged["kind"] == kind).to_numpy()
        of_kind = found[found["kind"] == kind]
        out[f"labelled_days.{kind}"] = float(len(of_kind))
        out[f"hits.{kind}"] = float(of_kind["_found"].sum())
        out[f"recall.{kind}"] = _share(of_kind["_found"].sum(), len(of_kind))
        out[f"precision.{kind}"] = _share(same_kind[mine].sum(), mine.sum())
    return {k: v for k, v in out.items() if v == v}  # NaN (nothing to divide by) left out


def _share(part: float, whole: float) -> float:
    return float(part) / whole if whole else float("nan")
