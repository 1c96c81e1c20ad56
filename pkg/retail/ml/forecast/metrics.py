"""Forecast errors and split-conformal intervals, over the backtest's scored rows (pandas:
a backtest is pairs x 7 days x a few origins, small enough for one process).

* WAPE = sum |forecast - actual| / sum actual; MAE = mean |forecast - actual|;
  bias = sum (forecast - actual) / sum actual (above 0: over-forecast).
* RMSSE = the mean over series of sqrt(mean squared error / scale), the scale being the
  series' mean squared day-to-day change before the first origin (M5's); a series that never
  changed has no scale and is left out.
* Intervals: the residuals actual - forecast of the backtest, per horizon and demand level
  (the forecast's deciles, :data:`LEVELS`), give the 2.5, 10, 90 and 97.5 % quantiles; a
  forecast's 80 % and 95 % intervals are forecast + those quantiles, never below 0 (split
  conformal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Demand levels of the interval table: the forecast's deciles per horizon. Terciles put a
# tenfold spread of forecasts under one residual quantile; deciles of the benchmark's three
# calibration origins still hold about 870 residuals each.
LEVELS = 10
BOUNDS = {"lower_95": 0.025, "lower_80": 0.10, "upper_80": 0.90, "upper_95": 0.975}
NOMINAL = {"80": ("lower_80", "upper_80"), "95": ("lower_95", "upper_95")}


def point_metrics(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """WAPE, MAE and bias of ``forecast`` against ``actual`` (NaN where undefined)."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    error = forecast - actual
    total = actual.sum()
    return {"wape": float(np.abs(error).sum() / total) if total > 0 else float("nan"),
            "mae": float(np.abs(error).mean()) if len(error) else float("nan"),
            "bias": float(error.sum() / total) if total > 0 else float("nan")}


def rmsse_scale(history: pd.DataFrame, series: list[str], time: str, value: str
                ) -> pd.DataFrame:
    """Per series, the mean squared change between consecutive ``time`` steps of ``value``
    (``series`` columns + ``scale``); series whose value never changed are left out."""
    ordered = history.sort_values([*series, time])
    change = ordered.groupby(series, observed=True)[value].diff()
    scale = (change ** 2).groupby([ordered[c] for c in series], observed=True).mean()
    scale = scale.rename("scale").reset_index()
    return scale[scale["scale"] > 0]


def rmsse(frame: pd.DataFrame, forecast: str, series: list[str], scale: pd.DataFrame,
          actual: str = "actual") -> float:
    """Mean over the series of ``frame`` with a scale of sqrt(MSE / scale)."""
    rows = frame.merge(scale, on=series, how="inner")
    if rows.empty:
        return float("nan")
    rows = rows.assign(_se=(rows[forecast] - rows[actual]) ** 2 / rows["scale"])
    return float(np.sqrt(rows.groupby(series, observed=True)["_se"].mean()).mean())


def metrics_by(frame: pd.DataFrame, models: list[str], by: list[str], series: list[str],
               scale: pd.DataFrame | None, actual: str = "actual") -> list[dict]:
    """One dict per model and group of ``by`` (none: overall): the group's values, ``model``,
    ``rows``, ``wape``, ``mae``, ``bias`` and ``rmsse``; rows without the model's forecast
    are left out of its figures."""
    out = []
    groups = frame.groupby(by, observed=True) if by else [((), frame)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        for model in models:
            rows = part[part[model].notna()]
            figures = point_metrics(rows[actual].to_numpy(), rows[model].to_numpy())
            figures["rmsse"] = (rmsse(rows, model, series, scale, actual)
                                if scale is not None else float("nan"))
            out.append({**{c: _plain(v) for c, v in zip(by, key)}, "model": model,
                        "rows": len(rows), **figures})
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def residual_quantiles(frame: pd.DataFrame, forecast: str = "forecast",
                       actual: str = "actual") -> pd.DataFrame:
    """The interval table: per ``horizon`` and demand ``level`` (0 = lowest of the
    :data:`LEVELS` quantile bands of the horizon's forecasts), ``forecast_from`` (the
    level's lowest forecast; level 0 from 0) and the residual quantile of each of
    :data:`BOUNDS`, a lower one at most 0 and an upper one at least 0: every interval holds
    its own forecast (a level whose backtest errors all lean one way widens on that side
    instead of leaving the forecast outside its interval)."""
    rows = []
    for horizon, part in frame.groupby("horizon"):
        edges = _edges(part[forecast].to_numpy())
        level = np.searchsorted(edges, part[forecast].to_numpy(), side="right") - 1
        residual = (part[actual] - part[forecast]).to_numpy()
        for k, start in enumerate(edges):
            r = residual[level == k]
            if not len(r):
                continue
            rows.append({"horizon": int(horizon), "level": k, "forecast_from": float(start),
                         **{b: _toward_zero(float(np.quantile(
                             r, q, method="lower" if q < 0.5 else "higher")), q)
                            for b, q in BOUNDS.items()}})
    return pd.DataFrame(rows)


def _toward_zero(value: float, q: float) -> float:
    """A lower bound's residual (q < 0.5) at most 0, an upper one's at least 0."""
    return min(value, 0.0) if q < 0.5 else max(value, 0.0)


def _edges(forecasts: np.ndarray) -> np.ndarray:
    """Level starts: 0, then the forecasts' :data:`LEVELS`-quantile cut points (distinct;
    a cut at the lowest forecast would start an empty level and is left out)."""
    cuts = np.quantile(forecasts, [k / LEVELS for k in range(1, LEVELS)], method="higher")
    return np.unique(np.concatenate([[0.0], cuts[cuts > max(forecasts.min(), 0)]]))


def with_intervals(frame: pd.DataFrame, quantiles: pd.DataFrame,
                   forecast: str = "forecast") -> pd.DataFrame:
    """``frame`` with the :data:`BOUNDS` columns: forecast + the quantile of its horizon and
    level (the last level whose ``forecast_from`` it reaches), at least 0."""
    out = frame.copy()
    for b in BOUNDS:
        out[b] = np.nan
    for horizon, table in quantiles.groupby("horizon"):
        table = table.sort_values("forecast_from")
        mine = out["horizon"] == horizon
        k = np.searchsorted(table["forecast_from"].to_numpy(), out.loc[mine, forecast],
                            side="right") - 1
        k = np.clip(k, 0, len(table) - 1)
        for b in BOUNDS:
            out.loc[mine, b] = np.maximum(out.loc[mine, forecast] + table[b].to_numpy()[k], 0)
    return out


def coverage(frame: pd.DataFrame, actual: str = "actual") -> dict[str, float]:
    """Share of rows whose actual lies in its 80 % and 95 % interval."""
    return {n: float(((frame[actual] >= frame[lo]) & (frame[actual] <= frame[hi])).mean())
            for n, (lo, hi) in NOMINAL.items()}
