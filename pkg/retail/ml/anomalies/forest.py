"""The Isolation Forests (scikit-learn; MLlib has none), one per product category, fitted and
applied from Spark with ``applyInPandas`` (a category's rows are one group), saved as a
folder of pickles (joblib) that the registry stores as the version's ``model/``.

The score is the original paper's anomaly score, ``-score_samples``: 2^(-mean path length /
c(n)), in (0, 1], higher = more anomalous (about 0.5 for an ordinary row).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail.transforms.anomaly_signals import FEATURES

ALL = "__all__"  # the chain-wide forest: the categories without enough rows of their own
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ForestParams:
    """What a fit is decided by (logged as the run's parameters)."""

    n_estimators: int = 200
    max_samples: int = 256
    seed: int = 7
    min_category_rows: int = 200  # fewer: the category is scored by the chain-wide forest

    def as_dict(self) -> dict[str, int]:
        return {"n_estimators": self.n_estimators, "max_samples": self.max_samples,
                "seed": self.seed, "min_category_rows": self.min_category_rows}

    @classmethod
    def from_dict(cls, values: dict) -> ForestParams:
        return cls(**{k: int(values[k]) for k in cls().as_dict() if k in values})


@dataclass
class Forests:
    """The fitted forests by category (and :data:`ALL`), with each feature's median and
    spread (1.4826 x MAD, or the std when the MAD is 0) over the training rows: the kind
    attribution's scales."""

    params: ForestParams
    models: dict[str, bytes] = field(repr=False)  # category -> pickled IsolationForest
    scales: dict[str, tuple[float, float]]
    features: tuple[str, ...] = FEATURES  # the columns the forests were fitted on, in order

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        names = {}
        for i, (category, blob) in enumerate(sorted(self.models.items())):
            names[category] = f"forest_{i:03d}.joblib"
            (folder / names[category]).write_bytes(blob)
        (folder / MANIFEST).write_text(json.dumps({
            "features": list(self.features), "params": self.params.as_dict(), "files": names,
            "scales": {k: list(v) for k, v in self.scales.items()}}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Forests:
        manifest = json.loads((folder / MANIFEST).read_text())
        unknown = set(manifest["features"]) - set(FEATURES)
        if unknown:
            raise ValueError(f"the forests in {folder} were fitted on {sorted(unknown)}, "
                             f"which this code does not make: train a new version")
        return cls(ForestParams.from_dict(manifest["params"]),
                   {c: (folder / f).read_bytes() for c, f in manifest["files"].items()},
                   {k: (float(v[0]), float(v[1])) for k, v in manifest["scales"].items()},
                   tuple(manifest["features"]))


def _dumps(model: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def _fit_one(frame: pd.DataFrame, params: ForestParams, columns: tuple[str, ...]) -> bytes:
    from sklearn.ensemble import IsolationForest

    model = IsolationForest(n_estimators=params.n_estimators,
                            max_samples=min(params.max_samples, len(frame)),
                            random_state=params.seed, n_jobs=1)
    return _dumps(model.fit(frame[list(columns)].to_numpy(dtype=np.float64)))


def feature_scales(frame: pd.DataFrame, columns: tuple[str, ...]
                   ) -> dict[str, tuple[float, float]]:
    """Each feature's (median, robust spread) over ``frame``'s rows."""
    scales = {}
    for f in columns:
        values = frame[f].to_numpy(dtype=np.float64)
        median = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - median))) or float(values.std())
        scales[f] = (median, spread or 1.0)
    return scales


def fit(features: DataFrame, params: ForestParams,
        columns: tuple[str, ...] = FEATURES) -> Forests:
    """One forest per category with at least ``min_category_rows`` rows of ``features``
    (``category`` and the ``columns``), and the chain-wide one (on a sample: a tree
    reads ``max_samples`` rows), fitted in Spark's Python workers in one pass; the scales
    from the chain-wide sample.

    Raises:
        ValueError: ``features`` has no row (nothing to learn what is normal from).
    """
    rows = features.select(F.coalesce("category", F.lit(ALL)).alias("category"), *columns)
    # about 50 trees' worth of rows for the chain-wide forest and the scales
    share = 50.0 * params.max_samples / max(rows.count(), 1)
    chain = (rows.sample(fraction=share, seed=params.seed) if share < 1 else rows) \
        .withColumn("category", F.lit(ALL))

    def fit_group(frame: pd.DataFrame) -> pd.DataFrame:
        category = frame["category"].iloc[0]
        small = category != ALL and len(frame) < params.min_category_rows
        scales = json.dumps(feature_scales(frame, columns)) if category == ALL else ""
        return pd.DataFrame({"category": [category],  # small: no forest (empty)
                             "model": [b"" if small else _fit_one(frame, params, columns)],
                             "scales": [scales]})

    fitted = rows.filter(F.col("category") != F.lit(ALL)).unionByName(chain).groupBy(
        "category").applyInPandas(fit_group,
                                  schema="category string, model binary, scales string").collect()
    chain_wide = [r for r in fitted if r["category"] == ALL]
    if not chain_wide:
        raise ValueError("no store x product day to train the anomaly detector on: the "
                         "window holds no day with 7 days of history before it")
    scales = {k: (float(v[0]), float(v[1]))
              for k, v in json.loads(chain_wide[0]["scales"]).items()}
    return Forests(params, {r["category"]: bytes(r["model"]) for r in fitted if r["model"]},
                   scales, tuple(columns))


def score(features: DataFrame, forests: Forests) -> DataFrame:
    """``features`` with ``score`` (0..1, higher = more anomalous): each row by its
    category's forest, or the chain-wide one."""
    models, inputs = forests.models, list(forests.features)
    columns = features.columns
    schema = features.select("*", F.lit(0.0).alias("score")).schema

    def score_group(frame: pd.DataFrame) -> pd.DataFrame:
        category = frame["category"].iloc[0]
        model = joblib.load(io.BytesIO(models.get(category, models[ALL])))
        values = frame[inputs].to_numpy(dtype=np.float64)
        return frame[columns].assign(score=-model.score_samples(values))

    return features.groupBy("category").applyInPandas(score_group, schema=schema)
