"""``train``: the demand forecast's tuning, rolling-origin backtest and final fit; ``predict``:
its forecasts of D + 1 .. D + 7 with 80 % and 95 % intervals. No MLflow here: the registry
client logs what :class:`TrainingResult` holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.features.definitions import KNOWN_AHEAD
from retail.features.training import read_store
from retail.io.warehouse import Warehouse
from retail.ml.forecast import backtest, report
from retail.ml.forecast import model as gbt
from retail.ml.forecast.metrics import BOUNDS
from retail.ml.settings import ForecastSettings
from retail.transforms.forecast import forecast_inputs, stack_horizons


@dataclass
class TrainingResult:
    """What a training produced, as plain values and Arrow tables."""

    model: gbt.ForecastModel  # fitted on every labelled row up to as_of
    params: dict  # the chosen GBT parameters, the strategy, the horizon
    as_of: date
    folds: list[dict]  # origin, scored_from, scored_to
    tuning: list[dict]  # per candidate: its parameters and mean WAPE over the origins
    # level, sample, horizon (None: overall), model, rows, wape, mae, bias, rmsse
    metrics: list[dict]
    ratios: dict[str, dict[str, float]]  # model -> wape, to_seasonal_naive, to_oracle
    quantiles: pa.Table  # horizon, level, forecast_from, lower_95, lower_80, upper_80, upper_95
    coverage: dict[str, float]  # "80", "95": on the last origin, calibrated before it
    feature_importance: list[dict]  # feature, importance; highest first
    backtest: pa.Table = field(repr=False)  # every scored row, every model's forecast
    seconds: float = 0.0
    # the mean WAPE over the origins of the chosen parameters (the promotion's score), and of
    # the champion's parameters refitted on the same origins (None: no champion given)
    score: float = 0.0
    champion_score: float | None = None

    @property
    def origins(self) -> list[str]:
        return [f["origin"] for f in self.folds]


def training_rows(spark: SparkSession, wh: Warehouse, first: date, last: date,
                  horizon: int, *, max_series: int | None = None
                  ) -> tuple[DataFrame, DataFrame]:
    """(the feature store's rows of ``first`` .. ``last``, their training rows of horizons
    1 .. ``horizon``, prepared for the model); ``max_series``: only about that many series,
    a hash sample (:func:`~retail.features.training.read_store`)."""
    store = read_store(spark, wh, first, last, max_series=max_series)
    rows = stack_horizons(store, horizons=range(1, horizon + 1), known_ahead=KNOWN_AHEAD)
    return store, gbt.prepared(forecast_inputs(rows))


def train(spark: SparkSession, wh: Warehouse, settings: ForecastSettings, as_of: date, *,
          oracle: pa.Table | None = None, champion_params: dict | None = None,
          on_step: Callable[[str], None] = lambda _: None) -> TrainingResult:
    """Tune on the rolling origins, report the backtest, fit the final model.

    Args:
        as_of: the training cut-off: no target day after it is read.
        oracle: the simulator's expected demand (``Simulator.expected_demand()``), for the
            error no model can beat; None on a real chain.
        champion_params: the current champion's GBT parameters: refitted and scored on the
            same origins as the candidates (reused when one of them), so the promotion
            compares like with like (:attr:`TrainingResult.champion_score`).
        on_step: called with a line of progress per fit.

    Raises:
        ValueError: the store holds no row to score at the first origin.
    """
    started = time.monotonic()
    h = settings.horizon_days
    store, rows = training_rows(spark, wh, as_of - timedelta(days=settings.history_days),
                                as_of, h, max_series=settings.max_series)
    # read by every fit: computed once and kept as a local checkpoint, so each fit's plans
    # start from its rows, not from the feature store's horizons stacked again
    rows = rows.localCheckpoint()
    at = backtest.origins(as_of, settings.backtest_origins, h)
    if rows.filter(F.col("date") == F.lit(at[0] - timedelta(days=1))).isEmpty():
        raise ValueError(f"nothing to score at the first backtest origin {at[0]}: the "
                         f"feature store needs the days before it (build them with `retail "
                         f"features build --from ... --to {as_of}`)")
    tuning, best = [], None
    for params in backtest.candidates(settings):
        scored = backtest.run(rows, at, params, settings, on_step)
        tuning.append({**params, "mean_wape": backtest.mean_wape(scored)})
        if best is None or tuning[-1]["mean_wape"] < best[0]:
            best = (tuning[-1]["mean_wape"], params, scored)
    score, params, scored = best
    champion_score = None
    if champion_params is not None:
        champion_params = backtest.gbt_params(champion_params)
        same = [t["mean_wape"] for t in tuning
                if backtest.gbt_params(t) == champion_params]
        champion_score = same[0] if same else backtest.mean_wape(
            backtest.run(rows, at, champion_params, settings, on_step))
    history = store.select("store_id", "product_id", "category", "date",
                           "demand").toPandas()
    ets = (backtest.ets_forecasts(history, at, h, settings.ets_series)
           if settings.ets_series else None)
    on_step(f"baselines and metrics over {len(scored):,} scored rows")
    metrics, ratios, frame = report.error_report(
        scored, history, ets, oracle.to_pandas() if oracle is not None else None)
    quantiles, covered = report.intervals(scored)
    on_step(f"final fit up to {as_of} with {params}")
    final = gbt.fit(rows, params, per_horizon=settings.strategy == "per_horizon",
                    fraction=settings.train_fraction)
    return TrainingResult(
        model=final, params={**params, "strategy": settings.strategy, "horizon_days": h},
        as_of=as_of, folds=report.weeks_of(at, h), tuning=tuning, metrics=metrics,
        ratios=ratios, quantiles=pa.Table.from_pandas(quantiles, preserve_index=False),
        coverage=covered, feature_importance=final.feature_importance(),
        backtest=pa.Table.from_pandas(frame, preserve_index=False),
        seconds=time.monotonic() - started, score=score, champion_score=champion_score)


def predict(model: gbt.ForecastModel, features: DataFrame, quantiles: pa.Table) -> DataFrame:
    """Forecasts with their 80 % and 95 % intervals.

    Args:
        features: one row per store x product x day D and horizon h, as
            :func:`retail.transforms.forecast.scoring_rows` makes them from the feature
            store's last 28 days and the target days' calendar and planned prices (or
            :func:`~retail.transforms.forecast.stack_horizons` in a backtest).
        quantiles: :attr:`TrainingResult.quantiles`.

    Returns:
        store_key, product_key, store_id, product_id, date, target_date, horizon, forecast,
        lower_95, lower_80, upper_80, upper_95.
    """
    scored = model.transform(gbt.prepared(forecast_inputs(features)))
    return with_interval_bounds(scored, quantiles).select(
        "store_key", "product_key", "store_id", "product_id", "date", "target_date",
        F.col("horizon").cast("int").alias("horizon"), "forecast", *BOUNDS)


def with_interval_bounds(scored: DataFrame, quantiles: pa.Table) -> DataFrame:
    """``scored`` (``horizon``, ``forecast``) with the :data:`BOUNDS` columns as
    :func:`~retail.ml.forecast.metrics.with_intervals` computes them: forecast + the
    quantile of its horizon and level (the last level whose ``forecast_from`` it reaches),
    at least 0; null for a horizon the table lacks. The level is the count of the horizon's
    level starts at or below the forecast (an array lookup), then a broadcast join: no
    CASE per level and bound, whose generated code outgrew the JVM's 64 KB method limit
    (Spark fell back to interpreting it, with a stack trace in the log)."""
    table = quantiles.to_pandas().sort_values(["horizon", "forecast_from"])
    table["_q_level"] = table.groupby("horizon").cumcount()
    starts = F.create_map(*(v for h, part in table.groupby("horizon") for v in (
        F.lit(int(h)), F.array(*(F.lit(float(x)) for x in part["forecast_from"])))))
    reached = F.size(F.filter(starts[F.col("horizon").cast("int")],
                              lambda start: start <= F.col("forecast")))
    levels = scored.sparkSession.createDataFrame(pd.DataFrame({
        "_q_horizon": table["horizon"].astype(int), "_q_level": table["_q_level"],
        **{f"_q_{b}": table[b].astype(float) for b in BOUNDS}}))
    joined = scored.withColumn("_level", F.greatest(reached - 1, F.lit(0))).join(
        F.broadcast(levels), (F.col("horizon").cast("int") == F.col("_q_horizon"))
        & (F.col("_level") == F.col("_q_level")), how="left")
    return joined.select(
        *scored.columns,
        # greatest() skips a null: a horizon without quantiles stays null, not 0
        *(F.when(F.col(f"_q_{b}").isNotNull(), F.greatest(
            F.col("forecast") + F.col(f"_q_{b}"), F.lit(0.0))).alias(b) for b in BOUNDS))
