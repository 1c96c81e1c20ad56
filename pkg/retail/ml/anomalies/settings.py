"""Settings of the anomaly detector. Environment: ``RETAIL_ANOMALIES__*``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnomalySettings(BaseModel):
    """The Isolation Forest's training window and what a manager is shown."""

    model_config = {"extra": "forbid", "frozen": True}

    # Anomalies a manager reviews per store and day: the top-k by score.
    top_k: int = Field(5, ge=1, le=1000)
    # Days before --date the forests are fitted on (the final fit: the last train_days).
    train_days: int = Field(28, ge=7, le=365)
    # The evaluation: the forests are fitted on the train_days before the last eval_days
    # before --date and scored on those eval_days (time-based, never a random split).
    eval_days: int = Field(14, ge=1, le=90)
    # Without a forecast of the day, the expected range is the 28 days' mean +- this many
    # standard deviations.
    range_width: float = Field(2.0, gt=0, le=10)
    # The forests: trees, rows per tree, seed; a category with fewer training rows than
    # min_category_rows is scored by the chain-wide forest.
    n_estimators: int = Field(200, ge=10, le=2000)
    max_samples: int = Field(256, ge=16, le=100_000)
    seed: int = 7
    min_category_rows: int = Field(200, ge=16)
