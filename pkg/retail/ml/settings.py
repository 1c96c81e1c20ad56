"""Settings of the models: the MLflow server the jobs talk to, the demand forecast's
training and backtest, and the replenishment rules.

Environment: ``RETAIL_MLFLOW__*``, ``RETAIL_FORECAST__*``, ``RETAIL_REPLENISHMENT__*``
(sections of :class:`retail.settings.Settings`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class _Section(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


class MlflowSettings(_Section):
    """The MLflow tracking server and model registry."""

    # None: the local server `retail local up` starts, http://127.0.0.1:<local.mlflow_port>.
    tracking_uri: str | None = Field(None, pattern=r"^(https?|file|sqlite)://")
    # Experiments and registered models are named <prefix>.<model> (demand_forecast, ...).
    prefix: str = Field("retail", pattern=r"^[a-z][a-z0-9_-]*$")
    request_timeout_s: float = Field(60.0, gt=0)


class ForecastSettings(_Section):
    """The demand forecast: horizon, rolling-origin backtest, intervals."""

    horizon_days: int = Field(7, ge=1, le=28)
    # Weekly origins of the rolling-origin backtest (the last one is the newest week).
    backtest_origins: int = Field(4, ge=4, le=52)


class ReplenishmentSettings(_Section):
    """Service levels per ABC class and the ordering cycle."""

    service_level_a: float = Field(0.98, gt=0.5, lt=1)
    service_level_b: float = Field(0.95, gt=0.5, lt=1)
    service_level_c: float = Field(0.90, gt=0.5, lt=1)
    # Days between two orders of the same store x product (the order-up-to level covers
    # lead time plus this).
    review_period_days: int = Field(7, ge=1, le=90)

    @model_validator(mode="after")
    def _ordered(self) -> ReplenishmentSettings:
        if not self.service_level_a >= self.service_level_b >= self.service_level_c:
            raise ValueError("RETAIL_REPLENISHMENT__SERVICE_LEVEL_A >= ..._B >= ..._C: the "
                             "classes that sell most get the highest service level")
        return self
