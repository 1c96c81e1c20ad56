"""One store x product's forecast and recommendation, as ``retail forecast show`` prints
them: the newest model version's rows of a run date from ``fact_ml_predictions`` and the
run date's row of ``fact_replenishment``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from retail.io.warehouse import Warehouse

_LATEST = """
SELECT max(run_date) FROM fact_ml_predictions
WHERE model_name = 'demand_forecast' AND store_id = {store:String}
  AND product_id = {product:String}"""
_FORECASTS = """
SELECT YYYYMMDDToDate(date_key) AS day, horizon, predicted_demand AS forecast,
       confidence_low AS low_80, confidence_high AS high_80,
       ifNull(confidence_low_95, confidence_low) AS low_95,
       ifNull(confidence_high_95, confidence_high) AS high_95,
       stock_out_risk_score AS risk, model_version
FROM fact_ml_predictions FINAL
WHERE model_name = 'demand_forecast' AND store_id = {store:String}
  AND product_id = {product:String} AND run_date = {day:Date}
ORDER BY predicted_at DESC, horizon"""
_RECOMMENDATION = """
SELECT on_hand, on_order, reorder_point, order_up_to, safety_stock, abc_class,
       lead_time_days, lead_time_sd_days, order_qty, pack_size, order_by_date, reasons,
       stock_out_risk, model_version
FROM fact_replenishment FINAL
WHERE store_id = {store:String} AND product_id = {product:String} AND run_date = {day:Date}
ORDER BY created_at DESC LIMIT 1"""


@dataclass(frozen=True)
class PairForecast:
    run_date: date
    version: str
    forecasts: list[dict]  # day, horizon, forecast, low_80, high_80, low_95, high_95, risk
    recommendation: dict | None


def pair_forecast(wh: Warehouse, store: str, product: str, day: date | None
                  ) -> PairForecast | None:
    """The pair's forecasts made on ``day`` (None: the latest run date) by the newest
    version that forecast it then, and that day's recommendation; None without one."""
    key = {"store": store, "product": product}
    if day is None:
        day = wh.query_rows(_LATEST, key)[0][0]
        if day is None or day.year < 1971:  # max() of nothing is the epoch
            return None
    rows = wh.query_arrow(_FORECASTS, {**key, "day": day}).to_pylist()
    if not rows:
        return None
    version = rows[0]["model_version"]
    mine = sorted((r for r in rows if r["model_version"] == version),
                  key=lambda r: r["horizon"])
    found = wh.query_arrow(_RECOMMENDATION, {**key, "day": day}).to_pylist()
    return PairForecast(day, version, mine, found[0] if found else None)


_TOP_ORDERS = """
SELECT store_id, product_id, on_hand, on_order, order_qty, order_by_date, reasons,
       stock_out_risk
FROM fact_replenishment FINAL
WHERE run_date = {day:Date} AND order_qty > 0
ORDER BY stock_out_risk DESC, store_id, product_id LIMIT {limit:UInt32}"""


def top_orders(wh: Warehouse, day: date, limit: int = 10) -> list[dict]:
    """The run date's orders, the riskiest first."""
    return wh.query_arrow(_TOP_ORDERS, {"day": day, "limit": limit}).to_pylist()
