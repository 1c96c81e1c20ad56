"""The rolling-origin backtest: for each weekly origin O, fit on the rows whose target day is
before O and forecast the 7 days from O with the features of O - 1. Nothing else: no
random split and no random folds (a time series' future must never train its past)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from itertools import product

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail.ml.forecast import model as gbt
from retail.ml.settings import ForecastSettings

SCORED = ["origin", "store_id", "product_id", "category", "date", "target_date", "horizon",
          "actual", "forecast", "seasonal_naive", "mean_28"]


def origins(as_of: date, count: int, horizon: int) -> list[date]:
    """The last ``count`` weekly origins whose ``horizon`` days end by ``as_of``, oldest
    first."""
    last = as_of - timedelta(days=horizon - 1)
    return [last - timedelta(weeks=k) for k in range(count - 1, -1, -1)]


def fold(rows: DataFrame, origin: date) -> tuple[DataFrame, DataFrame]:
    """(train, test) of ``origin``: the rows whose target is before it, and the rows of the
    day before it (one per horizon: targets ``origin`` .. ``origin + horizon - 1``)."""
    before = F.col("target_date") < F.lit(origin)
    scored_day = F.col("date") == F.lit(origin - timedelta(days=1))
    return rows.filter(before), rows.filter(scored_day)


def candidates(settings: ForecastSettings) -> list[dict]:
    """Every combination of the tuning grid, as GBTRegressor parameters."""
    return [{"maxDepth": d, "maxIter": i, "stepSize": s, "subsamplingRate": r}
            for d, i, s, r in product(settings.max_depth, settings.max_iter,
                                      settings.step_size, settings.subsampling_rate)]


def gbt_params(values: dict) -> dict:
    """The GBT parameters of ``values`` (a tuning row or a run's logged parameters, whose
    values may be strings), typed as :func:`candidates` types them."""
    try:
        return {"maxDepth": int(values["maxDepth"]), "maxIter": int(values["maxIter"]),
                "stepSize": float(values["stepSize"]),
                "subsamplingRate": float(values["subsamplingRate"])}
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not the forecast's GBT parameters ({exc}): {values}") from None


def mean_wape(scored: pd.DataFrame) -> float:
    """The mean over the origins of each origin's WAPE (the tuning's and the promotion's
    score)."""
    wapes = [(g["forecast"] - g["actual"]).abs().sum() / g["actual"].sum()
             for _, g in scored.groupby("origin")]
    return float(sum(wapes) / len(wapes))


def run(rows: DataFrame, at: list[date], params: dict, settings: ForecastSettings,
        on_step: Callable[[str], None] = lambda _: None) -> pd.DataFrame:
    """The scored rows (:data:`SCORED`) of every origin in ``at`` for one candidate."""
    parts = []
    for origin in at:
        train, test = fold(rows, origin)
        on_step(f"origin {origin}: fitting {params}")
        fitted = gbt.fit(train, params, per_horizon=settings.strategy == "per_horizon",
                         fraction=settings.train_fraction)
        scored = fitted.transform(test).select(
            F.lit(origin).alias("origin"), "store_id", "product_id", "category", "date",
            "target_date", F.col("horizon").cast("int").alias("horizon"),
            F.col("label").cast("double").alias("actual"), "forecast",
            F.when(F.col("same_weekday_last") >= 0, F.col("same_weekday_last"))
            .alias("seasonal_naive"), F.col("demand_mean_28").alias("mean_28"))
        parts.append(scored.toPandas())
    return pd.concat(parts, ignore_index=True)


def sample_series(keys: pd.DataFrame, count: int) -> pd.DataFrame:
    """``count`` store x product series, the same ones for the same keys (by a hash)."""
    digest = (keys["store_id"] + "|" + keys["product_id"]).map(
        lambda k: hashlib.blake2b(k.encode(), digest_size=8).hexdigest())
    return keys.assign(_h=digest).sort_values("_h").head(count).drop(columns="_h")


def ets_forecasts(history: pd.DataFrame, at: list[date], horizon: int, count: int
                  ) -> pd.DataFrame:
    """statsforecast AutoETS (weekly season) on ``count`` sampled series, fitted per origin
    on the demand before it: ``store_id``, ``product_id``, ``origin``, ``target_date``,
    ``ets``."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    keys = history[["store_id", "product_id"]].drop_duplicates()
    chosen = sample_series(keys, count)
    if chosen.empty:
        return pd.DataFrame(columns=["store_id", "product_id", "origin", "target_date", "ets"])
    series = history.merge(chosen, on=["store_id", "product_id"], how="inner")
    series = series.assign(unique_id=series["store_id"] + "|" + series["product_id"],
                           ds=pd.to_datetime(series["date"]), y=series["demand"].astype(float))
    parts = []
    for origin in at:
        seen = series[series["ds"] < pd.Timestamp(origin)][["unique_id", "ds", "y"]]
        seen = seen[seen.groupby("unique_id")["y"].transform("size") >= 14]
        if seen.empty:
            continue
        # AutoETS estimates each candidate's variance with n - p - 1 degrees of freedom, 0 for
        # some candidates on a short series: numpy warns of the division by zero, AutoETS
        # goes on without that candidate; nothing for a user to act on
        with np.errstate(divide="ignore", invalid="ignore"):
            out = StatsForecast(models=[AutoETS(season_length=7)], freq="D",
                                n_jobs=1).forecast(df=seen, h=horizon).reset_index()
        # a series whose last day on record is before O - 1 is forecast from that day
        out = out[out["ds"] >= pd.Timestamp(origin)]
        key = out["unique_id"].str.split("|", n=1, expand=True)
        parts.append(pd.DataFrame({
            "store_id": key[0], "product_id": key[1], "origin": origin,
            "target_date": out["ds"].dt.date, "ets": out["AutoETS"].clip(lower=0)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["store_id", "product_id", "origin", "target_date", "ets"])
