"""The platform arm's jobs, run in one process on the embedded stack: the same library code
the daily and weekly jobs run (their ``job_runs`` rows too), one Spark session for all.

After a simulated day D has closed: its end-of-day snapshot (the events went straight into
the facts, so D is closed as an imported day, the daily ETL's last step), D's features, on
the training weekday the demand forecast's and the lead time's training, then D's
forecasts and recommendations; the stores order them on D + 1
(:class:`retail.business.platform.PlatformOrders`). With ``oracle`` set (the attribution,
:mod:`retail.business.oracle`), the parts it names are the truth's instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from retail.batch.imported import close_imported
from retail.business.oracle import Truth
from retail.batch.runner import each_day
from retail.features.build import run_days
from retail.io.warehouse import Warehouse
from retail.ml.forecast.daily import predict_days
from retail.ml.forecast.registered import load_forecaster, train_and_register
from retail.ml.registry import Registry
from retail.ml.replenishment.daily import JOB, load_lead_time, optimize_day, train_lead_time
from retail.settings import Settings


@dataclass
class JobSeconds:
    """Seconds spent per step, summed over the days (the experiment reports them)."""

    steps: dict[str, float] = field(default_factory=dict)

    def add(self, step: str, seconds: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + seconds


class PlatformJobs:
    """The chain's daily and weekly jobs for the platform arm."""

    def __init__(self, spark: SparkSession, settings: Settings, wh: Warehouse,
                 registry: Registry, on_step: Callable[[str], None] = lambda _: None):
        self.spark, self.settings, self.wh, self.registry = spark, settings, wh, registry
        self.on_step = on_step
        self.lead = None
        self.forecaster = None  # the champion, loaded after each training (as the job does)
        self.seconds = JobSeconds()
        self.trainings: list[dict] = []
        self.oracle: tuple[Truth, frozenset[str]] | None = None

    def _timed(self, step: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        out = fn()
        self.seconds.add(step, time.perf_counter() - started)
        return out

    def close_days(self, days: list[date]) -> None:
        """End-of-day snapshots and features of ``days``, oldest first."""
        self._timed("close", lambda: close_imported(self.wh, days))
        self._timed("features", lambda: run_days(self.spark, self.settings, self.wh, days))

    def train(self, as_of: date) -> None:
        """The weekly trainings on the history to ``as_of``; each promotes its model when it
        beats the champion (or there is none), as the jobs do."""
        self.on_step(f"training the demand forecast as of {as_of}")
        forecast = self._timed("train forecast", lambda: train_and_register(
            self.spark, self.wh, self.registry, self.settings.forecast, as_of,
            on_step=self.on_step))
        self.on_step(f"training the lead time as of {as_of}")
        lead = self._timed("train lead time", lambda: train_lead_time(
            self.spark, self.wh, self.registry, self.settings.replenishment, as_of))
        self._load_lead_time()
        self.forecaster = load_forecaster(self.registry)
        self.trainings.append({
            "as_of": as_of, "forecast_version": forecast.training.version,
            "forecast_promoted": forecast.promotion.promoted,
            "forecast_wape": forecast.result.score, "lead_time_promoted": lead.promoted})

    def _load_lead_time(self) -> None:
        truth, parts = self.oracle or (None, frozenset())
        self.lead = (truth.lead_time_model(self.spark) if "lead-time" in parts
                     else load_lead_time(self.spark, self.registry))

    def recommend(self, day: date) -> None:
        """D's forecasts (the champion's) and recommendations."""
        if self.lead is None:
            self._load_lead_time()
        if self.forecaster is None:
            self.forecaster = load_forecaster(self.registry)
        # the champion loaded once a week: it changes only at a training
        self._timed("predict", lambda: predict_days(
            self.spark, self.wh, self.registry, [day],
            horizon=self.settings.forecast.horizon_days, forecaster=self.forecaster))
        truth, parts = self.oracle or (None, frozenset())
        if parts & {"forecast", "safety-stock"}:
            self._timed("oracle", lambda: truth.rewrite_forecasts(self.wh, day, parts))
        self._timed("recommend", lambda: each_day(
            self.wh, JOB, [day],
            lambda d: optimize_day(self.spark, self.wh, self.lead, self.settings.replenishment,
                                   d),
            lambda r: ("succeeded", r.pairs, r.orders, r.as_details())))
