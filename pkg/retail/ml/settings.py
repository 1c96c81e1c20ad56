"""Settings of the models: the MLflow server the jobs talk to, the demand forecast's
training and backtest, and the replenishment rules.

Environment: ``RETAIL_MLFLOW__*``, ``RETAIL_FORECAST__*``, ``RETAIL_REPLENISHMENT__*``
(sections of :class:`retail.settings.Settings`).
"""

from __future__ import annotations

from pathlib import Path

from typing import Literal

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
    # The local server (`retail local up`, only while tracking_uri is None) runs from a
    # virtualenv of its own, since the full `mlflow` package pins pyarrow<26. None:
    # <repo>/.venv-mlflow/bin/mlflow, which `make install` creates.
    server_bin: Path | None = None
    # Seconds the local server may take to answer /health (about 15 s on a busy machine).
    server_start_timeout_s: float = Field(120.0, gt=0)


class ForecastSettings(_Section):
    """The demand forecast: horizon, rolling-origin backtest, intervals."""

    horizon_days: int = Field(7, ge=1, le=28)
    # Weekly origins of the rolling-origin backtest (the last one is the newest week).
    backtest_origins: int = Field(4, ge=4, le=52)
    # "stacked": one model, the horizon a feature; "per_horizon": one model per horizon.
    strategy: Literal["stacked", "per_horizon"] = "stacked"
    # The tuning grid (every combination is scored on the same rolling origins; the lowest
    # mean WAPE wins). RETAIL_FORECAST__MAX_DEPTH='[4, 6]' and so on.
    max_depth: tuple[int, ...] = Field((6,), min_length=1)
    max_iter: tuple[int, ...] = Field((60,), min_length=1)
    step_size: tuple[float, ...] = Field((0.1,), min_length=1)
    subsampling_rate: tuple[float, ...] = Field((0.8,), min_length=1)
    # Share of the training rows each fit samples (1: all; a big chain trains on fewer).
    train_fraction: float = Field(1.0, gt=0, le=1)
    # Store x product series the training reads (None: all): a hash sample of about this
    # many, chosen in the warehouse's query, so a big chain's training never reads the rest;
    # the backtest, its baselines and the final fit all use it. Predictions cover every
    # series. RETAIL_FORECAST__MAX_SERIES=20000.
    max_series: int | None = Field(None, ge=1)
    # Series the statistical baseline (statsforecast AutoETS) fits in the backtest.
    ets_series: int = Field(50, ge=0)
    # Days of history the training reads before its cut-off.
    history_days: int = Field(400, ge=35)


class ReplenishmentSettings(_Section):
    """Service levels per ABC class, the ABC cut-offs, the ordering cycle and the rules'
    stand-ins for data the warehouse lacks (docs/models.md, Replenishment)."""

    service_level_a: float = Field(0.98, gt=0.5, lt=1)
    service_level_b: float = Field(0.95, gt=0.5, lt=1)
    service_level_c: float = Field(0.90, gt=0.5, lt=1)
    # Days between two orders of the same store x product (the order-up-to level covers
    # lead time plus this).
    review_period_days: int = Field(7, ge=1, le=90)
    # ABC: products sorted by revenue, best first; a product is A while the revenue share
    # of the products before it is below abc_a_share, B below abc_b_share, C after.
    abc_a_share: float = Field(0.80, gt=0, lt=1)
    abc_b_share: float = Field(0.95, gt=0, lt=1)
    # A promotion is ahead when one is planned in the forecast window or a day of it
    # expects at least this many times the pair's recent mean daily demand.
    promo_uplift: float = Field(1.3, gt=1, le=10)
    # Shelf capacity = this x the most the pair held at the end of a day on record (the
    # warehouse has no planogram).
    capacity_headroom: float = Field(1.5, ge=1, le=10)
    # The lead-time regression is scored on the orders of the last this many weeks.
    lead_time_holdout_weeks: int = Field(2, ge=1, le=26)

    @model_validator(mode="after")
    def _ordered(self) -> ReplenishmentSettings:
        if not self.service_level_a >= self.service_level_b >= self.service_level_c:
            raise ValueError("RETAIL_REPLENISHMENT__SERVICE_LEVEL_A >= ..._B >= ..._C: the "
                             "classes that sell most get the highest service level")
        if not self.abc_a_share < self.abc_b_share:
            raise ValueError("RETAIL_REPLENISHMENT__ABC_A_SHARE < ..._ABC_B_SHARE: class B "
                             "starts where class A's revenue share ends")
        return self
