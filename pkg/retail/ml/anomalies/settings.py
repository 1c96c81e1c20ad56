"""Settings of the anomaly detector. Environment: ``RETAIL_ANOMALIES__*``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnomalySettings(BaseModel):
    """The Isolation Forest's training window and what a manager is shown."""

    model_config = {"extra": "forbid", "frozen": True}

    # Anomalies a manager reviews per store and day: the top-k by score.
    top_k: int = Field(5, ge=1, le=1000)
