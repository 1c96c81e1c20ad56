"""A few days of features and forecasts for the monitoring tests (and the job's test)."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

DAY = date(2026, 3, 10)


def key(d: date) -> int:
    return int(f"{d:%Y%m%d}")


def insert_features(wh, rows: list[dict]) -> None:
    """``rows``: dicts with day, store_id, product_id and any feature_store_daily column."""
    ids = sorted({r["store_id"] for r in rows} | {r["product_id"] for r in rows})
    keys = dict(zip(ids, wh.query_rows("SELECT arrayMap(x -> retail_key(x), "
                                       "{ids:Array(String)})", {"ids": ids})[0][0]))
    columns: dict[str, list] = {"date": [], "date_key": [], "store_key": [], "product_key": []}
    for r in rows:
        columns["date"].append(r["day"])
        columns["date_key"].append(key(r["day"]))
        columns["store_key"].append(keys[r["store_id"]])
        columns["product_key"].append(keys[r["product_id"]])
    for name in sorted({k for r in rows for k in r} - {"day"}):
        columns[name] = [r.get(name) for r in rows]
    table = pa.table(columns)
    wh.insert_arrow("feature_store_daily", table.set_column(
        1, "date_key", pa.array(columns["date_key"], pa.uint32())))


def insert_predictions(wh, rows: list[dict]) -> None:
    """``rows``: dicts with day (the forecast day), horizon, store_id, product_id,
    predicted_demand, confidence_low/high(_95), model_version and optionally model_name."""
    table = pa.table({
        "date_key": pa.array([key(r["day"]) for r in rows], pa.uint32()),
        "store_id": [r["store_id"] for r in rows],
        "product_id": [r["product_id"] for r in rows],
        "horizon": pa.array([r["horizon"] for r in rows], pa.uint16()),
        "predicted_demand": pa.array([float(r["predicted_demand"]) for r in rows]),
        "confidence_low": pa.array([float(r["low"]) for r in rows]),
        "confidence_high": pa.array([float(r["high"]) for r in rows]),
        "confidence_low_95": pa.array([r.get("low_95") for r in rows], pa.float64()),
        "confidence_high_95": pa.array([r.get("high_95") for r in rows], pa.float64()),
        "stock_out_risk_score": pa.array([0.1] * len(rows), pa.float32()),
        "recommended_order_qty": pa.array([0] * len(rows), pa.uint32()),
        "model_name": [r.get("model_name", "demand_forecast") for r in rows],
        "model_version": [r["model_version"] for r in rows]})
    wh.insert_arrow("fact_ml_predictions", table)


# The actual demand of DAY: (store, product, category, demand).
ACTUALS = [("S1", "P1", "Dairy", 10), ("S1", "P2", "Dairy", 0), ("S2", "P1", "Dairy", 6),
           ("S1", "P3", "Bakery", 4)]


def day_actuals() -> list[dict]:
    return [{"day": DAY, "store_id": s, "product_id": p, "category": c, "demand": d,
             "units_sold": d} for s, p, c, d in ACTUALS]


def forecasts() -> list[dict]:
    """Version v1 at horizons 1 and 2, v2 at horizon 1 (only for P1 in S1), for DAY."""
    def row(version, horizon, store, product, f, low, high, low_95=None, high_95=None):
        return {"day": DAY, "horizon": horizon, "store_id": store, "product_id": product,
                "predicted_demand": f, "low": low, "high": high, "low_95": low_95,
                "high_95": high_95, "model_version": version}
    return [
        row("v1", 1, "S1", "P1", 8, 6, 9, 5, 12),     # |e| 2, outside 80 %, inside 95 %
        row("v1", 1, "S1", "P2", 1, 0, 2, 0, 3),      # |e| 1, inside both
        row("v1", 1, "S2", "P1", 9, 7, 11, 6.5, 13),  # |e| 3, outside both
        row("v1", 1, "S1", "P3", 5, 3, 6, 2, 7),      # Bakery |e| 1, inside both
        row("v1", 2, "S1", "P1", 12, 10, 14),         # no 95 % interval
        row("v1", 2, "S2", "P1", 6, 4, 8),
        row("v2", 1, "S1", "P1", 11, 9, 13, 8, 14),
        row("v1", 1, "S9", "P9", 3, 1, 4, 0, 5),      # no actual: left out
        {**row("v1", 1, "S1", "P1", 99, 0, 0), "day": DAY + timedelta(days=1)},  # other day
    ]
