"""The closed-loop experiment: one simulated chain, two arms, the same customers.

- *baseline*: the chain orders by its own fixed policy
  (:func:`retail.sim.supply.fixed_policy`) every day;
- *platform*: the same chain, through the warm-up by the fixed policy too (so both arms
  enter the compared period with the same stock), then by the platform's recommendations:
  each day's events go into the warehouse as the stream would write them, the jobs run on
  the closed day (:class:`~retail.business.platform_arm.PlatformJobs`) and the stores
  order their recommendations the next day
  (:class:`~retail.business.platform.PlatformOrders`).

Both arms draw the same demand day by day (common random numbers: the simulator draws a
day's baskets before anything that depends on stock), expiry is on and planted anomalies
are off (a planted count discrepancy depends on stock). The ledgers of the compared days
(:mod:`retail.business.ledger`) give each arm's metrics. The baseline arm, which depends on
nothing of the platform's, is simulated first, a forecast horizon past the last day: its
recorded expectations are what the attribution's oracles know
(:mod:`retail.business.oracle`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pyarrow as pa

from retail.business.ledger import with_ledgers
from retail.business.metrics import arm_metrics
from retail.business.oracle import Truth, check_parts, variant_name
from retail.business.platform import PlatformOrders
from retail.business.platform_arm import PlatformJobs
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.supply import fixed_policy
from retail.simulate import WarehouseSink
from retail.warehouse.load import AHEAD_DAYS, load_dimensions


@dataclass(frozen=True)
class Experiment:
    """The chain and the periods. ``start`` is a Monday; the trainings run on Sundays."""

    stores: int = 10
    products: int = 200
    seed: int = 42
    rate: float = 4.0  # events per minute per store
    start: date = date(2026, 1, 5)
    warmup_weeks: int = 12
    compare_weeks: int = 8
    # the days of features the first training reads (the warm-up's last days)
    feature_days: int = 56
    # the parts of the platform's chain replaced by the truth (retail.business.oracle)
    oracle: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_parts(self.oracle)
        problems = [m for bad, m in (
            (self.start.weekday() != 0, f"start must be a Monday, got {self.start:%A %Y-%m-%d}"),
            (self.warmup_weeks < 4, f"warmup_weeks must be >= 4, got {self.warmup_weeks}"),
            (self.compare_weeks < 1, f"compare_weeks must be >= 1, got {self.compare_weeks}"),
            (not 35 <= self.feature_days <= 7 * self.warmup_weeks,
             f"feature_days must be in 35 .. {7 * self.warmup_weeks} (the warm-up), "
             f"got {self.feature_days}"),
        ) if bad]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def first_compared(self) -> date:
        return self.start + timedelta(weeks=self.warmup_weeks)

    @property
    def days(self) -> int:
        return 7 * (self.warmup_weeks + self.compare_weeks)

    @property
    def variant(self) -> str:
        """'' for the platform as it is, else which parts the oracle replaced."""
        return variant_name(self.oracle)

    def config(self) -> SimConfig:
        return SimConfig(seed=self.seed, rate=self.rate, start=self.start, days=self.days,
                         expiry=True, anomaly_rate=0.0)


class FromDay:
    """The chain's fixed policy before ``first``, the platform's from it on."""

    def __init__(self, first: date, platform: PlatformOrders):
        self.first, self.platform = first, platform
        self.name = f"platform-from-{first:%Y%m%d}"

    def __call__(self, sim, ctx, p0, p1):
        policy = self.platform if ctx.day >= self.first else fixed_policy
        return policy(sim, ctx, p0, p1)


@dataclass
class Arm:
    name: str
    ledgers: list[pa.Table] = field(default_factory=list)

    @property
    def ledger(self) -> pa.Table:
        return pa.concat_tables(self.ledgers)

    def metrics(self) -> dict[str, float]:
        return arm_metrics(self.ledger)


@dataclass
class Outcome:
    experiment: Experiment
    baseline: Arm
    platform: Arm
    jobs: PlatformJobs
    expected: pa.Table  # the simulator's expected demand (the oracle), every day
    # the same recorded by the baseline arm's simulator (a horizon longer): the oracles'
    baseline_expected: pa.Table


class ExperimentRun:
    """The experiment in steps (:meth:`warm_up`, :meth:`compare`; :func:`run` runs both):
    the platform arm's warehouse is ``jobs.wh`` (migrated, empty) and its registry
    ``jobs.registry`` (no champions yet). ``on_day`` hears of each simulated day of both
    arms (``2 x days`` in all: what ``"baseline"``, ``"warm-up"``, ``"compared"``) and of
    the longer steps."""

    def __init__(self, exp: Experiment, jobs: PlatformJobs,
                 on_day: Callable[[date, str], None] = lambda day, what: None):
        self.exp, self.jobs, self.on_day = exp, jobs, on_day
        self.catalog = generate_catalog(exp.stores, exp.products, exp.seed)
        # the baseline arm runs the forecast horizon past the last day: the oracle knows the
        # expectations of the days the last recommendations plan for
        self.ahead = jobs.settings.forecast.horizon_days
        self.orders = PlatformOrders(self.catalog)
        self.platform_sim = Simulator(self.catalog, exp.config(), record_expected=True,
                                      order_policy=FromDay(exp.first_compared, self.orders))
        self.baseline_sim = Simulator(self.catalog, replace(exp.config(), days=exp.days + self.ahead),
                                      record_expected=True)
        self.sink = WarehouseSink(jobs.wh, self.catalog,
                                  run_id=f"business-{self.platform_sim.fingerprint}")
        self.baseline, self.platform = Arm("baseline"), Arm("platform")
        self.warm_up_ledgers: list[pa.Table] = []  # the baseline arm's
        self._days = list(self.platform_sim.days())

    def _simulate_baseline(self) -> None:
        first, end = self.exp.first_compared, self._days[-1][1]
        for batch, ledger in with_ledgers(self.baseline_sim):
            if batch.day > end:
                continue
            (self.baseline.ledgers if batch.day >= first else self.warm_up_ledgers).append(ledger)
            if batch.stores[1] == self.catalog.n_stores:
                self.on_day(batch.day, "baseline")

    def _simulate(self, d: int, day: date) -> None:
        compared = day >= self.exp.first_compared
        for batch, ledger in with_ledgers(self.platform_sim, self.platform_sim.run_day(d, day)):
            for event_type, table in batch.tables.items():
                self.sink.write(event_type, table, f"{batch.day:%Y%m%d}-{batch.stores[0]:05d}")
            if compared:
                self.platform.ledgers.append(ledger)
        self.on_day(day, "compared" if compared else "warm-up")

    def warm_up(self) -> None:
        """The baseline arm, the platform arm's warm-up days (by the fixed policy too), then
        its history closed and featurized, its first trainings and the last warm-up day's
        recommendations."""
        exp, first = self.exp, self.exp.first_compared
        load_dimensions(self.jobs.wh, self.catalog, exp.start, exp.days + AHEAD_DAYS,
                        seed=exp.seed)
        self._simulate_baseline()
        if exp.oracle:
            self.jobs.oracle = (Truth.from_simulation(
                self.catalog, self.baseline_sim.expected,
                pa.concat_tables(self.warm_up_ledgers)), exp.oracle)
        for d, day in self._days:
            if day < first:
                self._simulate(d, day)
        last = first - timedelta(days=1)
        history = [last - timedelta(days=k) for k in range(exp.feature_days - 1, -1, -1)]
        self.on_day(last, f"closing and featurizing {len(history)} days of history")
        self.jobs.close_days(history)
        self.jobs.train(last)
        self.jobs.recommend(last)
        self.orders.load(self.jobs.wh, last)

    def compare(self) -> Outcome:
        """The compared days: each simulated, then (but the last) closed and recommended
        for, with the weekly trainings on Sundays."""
        last = self._days[-1][1]
        for d, day in self._days:
            if day < self.exp.first_compared:
                continue
            self._simulate(d, day)
            if day < last:
                self.jobs.close_days([day])
                if day.weekday() == 6:
                    self.jobs.train(day)
                self.jobs.recommend(day)
                self.orders.load(self.jobs.wh, day)
        return Outcome(self.exp, self.baseline, self.platform, self.jobs,
                       self.platform_sim.expected_demand(), self.baseline_sim.expected_demand())


def run(exp: Experiment, jobs: PlatformJobs,
        on_day: Callable[[date, str], None] = lambda day, what: None) -> Outcome:
    """Both arms over the experiment's days (see :class:`ExperimentRun`)."""
    steps = ExperimentRun(exp, jobs, on_day)
    steps.warm_up()
    return steps.compare()
