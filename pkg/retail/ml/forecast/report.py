"""The backtest's report: every model's errors per horizon and overall, at store x product x
day and at store x category x week, on all rows and on the statistical baseline's sample;
each model's WAPE as a ratio to seasonal naive's and to the oracle's; and the conformal
intervals' quantiles and coverage on the last origin."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from retail.ml.forecast.metrics import (coverage, metrics_by, residual_quantiles,
                                        rmsse_scale, with_intervals)

SERIES = ["store_id", "product_id"]
WEEKLY = ["store_id", "category"]
BASE_MODELS = ["forecast", "seasonal_naive", "mean_28"]
NAMES = {"forecast": "gbt"}  # the model's column is "forecast" in the scored rows


def scales(history: pd.DataFrame, first_origin: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RMSSE scales from the demand before the first origin: daily per store x product, and
    weekly (7-day blocks ending the day before it) per store x category."""
    before = history[history["date"] < first_origin]
    daily = rmsse_scale(before, SERIES, "date", "demand")
    block = before.assign(week=[(first_origin - d).days // 7 for d in before["date"]])
    weekly = block.groupby([*WEEKLY, "week"], observed=True)["demand"].sum().reset_index()
    weekly = weekly.assign(week=-weekly["week"])  # ascending in time
    return daily, rmsse_scale(weekly, WEEKLY, "week", "demand")


def _levels(frame: pd.DataFrame, models: list[str], sample: str, daily: pd.DataFrame,
            weekly: pd.DataFrame) -> list[dict]:
    out = []
    for by in (["horizon"], []):
        for row in metrics_by(frame, models, by, SERIES, daily):
            out.append({"level": "store_product_day", "sample": sample,
                        "horizon": row.pop("horizon", None), **row})
    complete = frame.dropna(subset=models)
    week = complete.groupby([*WEEKLY, "origin"], observed=True)[["actual", *models]].sum()
    for row in metrics_by(week.reset_index(), models, [], WEEKLY, weekly):
        out.append({"level": "store_category_week", "sample": sample, "horizon": None, **row})
    for row in out:
        row["model"] = NAMES.get(row["model"], row["model"])
    return out


def error_report(scored: pd.DataFrame, history: pd.DataFrame, ets: pd.DataFrame | None,
                 oracle: pd.DataFrame | None) -> tuple[list[dict], dict, pd.DataFrame]:
    """(metrics rows, WAPE ratios per model, the scored rows with every model's column).

    ``scored`` holds the GBT's and the simple baselines' forecasts of every origin;
    ``ets`` the statistical baseline's on its sample; ``oracle`` the simulator's expected
    demand (``date``, ``store_id``, ``product_id``, ``expected_demand``)."""
    models = list(BASE_MODELS)
    frame = scored.copy()
    if oracle is not None:
        expected = oracle.rename(columns={"date": "target_date", "expected_demand": "oracle"})
        frame = frame.merge(expected[[*SERIES, "target_date", "oracle"]],
                            on=[*SERIES, "target_date"], how="left")
        models.append("oracle")
    daily, weekly = scales(history, min(frame["origin"]))
    rows = _levels(frame, models, "all", daily, weekly)
    if ets is not None and not ets.empty:
        frame = frame.merge(ets, on=[*SERIES, "origin", "target_date"], how="left")
        sampled = frame[frame["ets"].notna()]
        rows += _levels(sampled, [*models, "ets"], "ets_sample", daily, weekly)
    return rows, wape_ratios(rows), frame


def wape_ratios(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Each model's overall store x product x day WAPE over seasonal naive's and the
    oracle's on the same rows (the statistical baseline's on its sample)."""
    overall = {(r["sample"], r["model"]): r["wape"] for r in rows
               if r["level"] == "store_product_day" and r["horizon"] is None}
    out = {}
    for (sample, model), wape in overall.items():
        if sample == "ets_sample" and model != "ets":
            continue
        naive = overall.get((sample, "seasonal_naive"), np.nan)
        oracle = overall.get((sample, "oracle"), np.nan)
        out[model] = {"wape": wape, "to_seasonal_naive": wape / naive,
                      "to_oracle": wape / oracle if oracle else np.nan}
    return out


def intervals(scored: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """(the quantile table from every origin's residuals, the coverage on the last origin of
    the intervals calibrated on the origins before it)."""
    last = max(scored["origin"])
    calibration = residual_quantiles(scored[scored["origin"] < last])
    covered = coverage(with_intervals(scored[scored["origin"] == last], calibration))
    return residual_quantiles(scored), covered


def weeks_of(origin_list: list[date], horizon: int) -> list[dict]:
    """The backtest's folds as plain dicts: origin, first and last target day."""
    return [{"origin": str(o), "scored_from": str(o),
             "scored_to": str(o + timedelta(days=horizon - 1))} for o in origin_list]
