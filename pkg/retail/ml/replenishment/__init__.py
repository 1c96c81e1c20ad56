"""Replenishment: the settings applied to the rules of
:mod:`retail.transforms.replenishment`, and the lead-time regression
(:mod:`retail.ml.replenishment.lead_time`). docs/models.md, Replenishment.

A job's flow (the wiring lives in ``jobs/optimize_stock.py``): ABC classes from revenue
(:func:`abc_classes`); lead times from the shipments (``lead_time_rows`` ->
``fit_lead_time`` -> ``predict_lead_times``); shelf capacity from the snapshots
(:func:`shelf_capacity`); the positions of D joined from the snapshot, the dimensions and
those; then :func:`plan_orders`.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame

from retail.ml.settings import ReplenishmentSettings
from retail.transforms.replenishment import (classify_abc, derive_shelf_capacity,
                                             recommend_orders, summarize_forecast)


def service_levels(settings: ReplenishmentSettings) -> dict[str, float]:
    """The service level of each ABC class."""
    return {"A": settings.service_level_a, "B": settings.service_level_b,
            "C": settings.service_level_c}


def abc_classes(revenue: DataFrame, settings: ReplenishmentSettings) -> DataFrame:
    """:func:`~retail.transforms.replenishment.classify_abc` at the settings' cut-offs."""
    return classify_abc(revenue, a_share=settings.abc_a_share, b_share=settings.abc_b_share)


def shelf_capacity(snapshots: DataFrame, settings: ReplenishmentSettings) -> DataFrame:
    """:func:`~retail.transforms.replenishment.derive_shelf_capacity` with the settings'
    headroom."""
    return derive_shelf_capacity(snapshots, headroom=settings.capacity_headroom)


def plan_orders(forecasts: DataFrame, positions: DataFrame, settings: ReplenishmentSettings,
                *, as_of: date) -> DataFrame:
    """Recommendations of D = ``as_of`` from the forecasts of D+1.. and the positions at the
    end of D (:mod:`retail.transforms.replenishment`'s contract)."""
    return recommend_orders(summarize_forecast(forecasts), positions,
                            service_levels=service_levels(settings),
                            review_period_days=settings.review_period_days,
                            promo_uplift=settings.promo_uplift, as_of=as_of)
