"""Settings of the cross-sell models. Environment: ``RETAIL_RECOMMENDATIONS__*``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendationSettings(BaseModel):
    """ALS, the basket rules and how many recommendations are written
    (docs/recommendations.md)."""

    model_config = {"extra": "forbid", "frozen": True}

    # Recommendations kept per customer, per store and partners per product.
    top_n: int = Field(10, ge=1, le=100)
    # Days of sales up to --date the training and the scoring read.
    window_days: int = Field(90, ge=7, le=730)
    # Leave out of a customer's recommendations the products it bought in the window (a
    # cross-sell is something new); the evaluation applies the same rule to the held-out
    # basket and to the popularity baseline.
    exclude_purchased: bool = True
    # ALS (implicit feedback) on loyal customer x product basket counts.
    # rank 64, reg 1, alpha 5: the only set measured above popularity from 300 to 2,000 SKUs
    # and 10 to 200 stores (docs/recommendations.md, "Tuning"); confidence = 1 + alpha x
    # baskets
    rank: int = Field(64, ge=2, le=200)
    reg_param: float = Field(1.0, gt=0)
    alpha: float = Field(5.0, gt=0)
    max_iter: int = Field(10, ge=1, le=100)
    seed: int = 19
    # A customer's last basket is held out for the evaluation when it has this many.
    min_baskets: int = Field(2, ge=2)
    # FPGrowth on baskets: a product set counts from this share of baskets on.
    min_support: float = Field(0.001, gt=0, lt=1)
    min_confidence: float = Field(0.01, ge=0, lt=1)
    # Store level: partners of the store's this many best sellers, from this lift on; a
    # stocked partner is under-ordered when lost units are at least this share of demand.
    store_anchors: int = Field(20, ge=1)
    min_lift: float = Field(1.5, gt=0)
    min_lost_share: float = Field(0.2, gt=0, le=1)
