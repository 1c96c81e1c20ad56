"""Settings of the slow-mover classifier. Environment: ``RETAIL_SLOW_MOVERS__*``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SlowMoverSettings(BaseModel):
    """The classifier's horizon and the markdown rules."""

    model_config = {"extra": "forbid", "frozen": True}

    # Non-perishables must sell their stock within this many days (perishables: shelf life).
    max_horizon_days: int = Field(60, ge=7, le=365)
