"""The platform arm's forecast accuracy (retail.business.accuracy) on hand-built rows in the
real local warehouse: the newest version of each forecast, only the compared targets, and
seasonal naive from the week before."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from retail.business.accuracy import NoForecastsToScore, forecast_accuracy
from tests.pkg.ml.monitoring_data import insert_features

D = date.fromisoformat
FIRST, LAST = D("2026-03-10"), D("2026-03-11")
T0 = datetime(2026, 3, 9, 23, tzinfo=timezone.utc)


def predictions(rows: list[tuple]) -> pa.Table:
    """(target, horizon, forecast, predicted_at, model) rows of S1 x P1."""
    return pa.table({
        "date_key": pa.array([int(f"{t:%Y%m%d}") for t, *_ in rows], pa.uint32()),
        "store_id": ["S1"] * len(rows), "product_id": ["P1"] * len(rows),
        "horizon": pa.array([h for _, h, *_ in rows], pa.uint16()),
        "predicted_demand": pa.array([float(f) for _, _, f, *_ in rows]),
        "confidence_low": pa.array([0.0] * len(rows)),
        "confidence_high": pa.array([0.0] * len(rows)),
        "stock_out_risk_score": pa.array([0.0] * len(rows), pa.float32()),
        "recommended_order_qty": pa.array([0] * len(rows), pa.uint32()),
        "model_name": [m for *_, m in rows],
        "model_version": [f"v{k}" for k in range(len(rows))],
        "predicted_at": pa.array([at for *_, at, _ in rows], pa.timestamp("ms", tz="UTC"))})


def test_the_newest_forecast_of_each_compared_target_against_demand_and_naive(migrated):
    demand = {D("2026-03-03"): 4, D("2026-03-04"): 8, FIRST: 10, LAST: 6}
    insert_features(migrated, [{"day": d, "store_id": "S1", "product_id": "P1", "demand": v,
                                "units_sold": v} for d, v in demand.items()])
    migrated.insert_arrow("fact_ml_predictions", predictions([
        (FIRST, 1, 9, T0, "demand_forecast"),            # made 03-09
        (LAST, 2, 7, T0, "demand_forecast"),             # made 03-09
        (LAST, 1, 100, T0, "demand_forecast"),           # made 03-10, replaced below
        (LAST, 1, 5, T0 + timedelta(hours=1), "demand_forecast"),
        (FIRST, 2, 50, T0, "demand_forecast"),           # made 03-08: before the period
        (FIRST, 1, 0, T0, "slow_movers"),                # another model
        (LAST + timedelta(days=1), 1, 3, T0, "demand_forecast"),  # made 03-11: after
    ]))

    acc = forecast_accuracy(migrated, FIRST, LAST)

    # h1: 03-10 |9 - 10|, naive |4 - 10|; 03-11 |5 - 6|, naive |8 - 6|; h2: 03-11 |7 - 6|,
    # naive |8 - 6|
    assert acc.rows == [
        {"horizon": 1, "n": 2, "actual": 16.0, "forecast_error": 2.0, "naive_error": 8.0},
        {"horizon": 2, "n": 1, "actual": 6.0, "forecast_error": 1.0, "naive_error": 2.0}]
    assert acc.forecast_wape == pytest.approx(3 / 22)
    assert acc.naive_wape == pytest.approx(10 / 22)
    assert acc.ratio == pytest.approx(0.3)


def test_no_forecast_to_score_is_an_error_naming_the_days(migrated):
    with pytest.raises(NoForecastsToScore, match="2026-03-09 .. 2026-03-10"):
        forecast_accuracy(migrated, FIRST, LAST)
