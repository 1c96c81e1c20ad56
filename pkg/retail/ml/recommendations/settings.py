"""Settings of the cross-sell models. Environment: ``RETAIL_RECOMMENDATIONS__*``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendationSettings(BaseModel):
    """ALS, the basket rules and how many recommendations are written."""

    model_config = {"extra": "forbid", "frozen": True}

    # Recommendations kept per customer, per store and partners per product.
    top_n: int = Field(10, ge=1, le=100)
