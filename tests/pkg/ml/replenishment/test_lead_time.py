"""The lead-time regression: its training rows from shipment events, its features, and
that it beats the supplier's mean on later weeks of synthetic shipments whose lead time
depends on order size and weekday."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from retail.ml.replenishment.lead_time import fit_lead_time, predict_lead_times
from retail.transforms.replenishment import lead_time_rows

SHIPMENTS = ("shipment_id string, status string, date_key int, supplier_id string, "
             "store_id string, quantity int, ordered_at timestamp, event_time timestamp")
STORES = [("S1", "North"), ("S2", "South")]
BASE = {"V1": 2.0, "V2": 4.0, "V3": 6.0}
REGION = {"S1": 0.0, "S2": 0.5}
PER_UNIT = 0.02
LATE_WEEKDAYS = {5: 1.5, 6: 1.5}  # ISO Friday, Saturday: the weekend delays the truck
NOISE = 0.3
FIRST = date(2026, 9, 7)  # a Monday
WEEKS = 10


def _lead(supplier: str, store: str, qty: int, day: date) -> float:
    return (BASE[supplier] + REGION[store] + PER_UNIT * qty
            + LATE_WEEKDAYS.get(day.isoweekday(), 0.0))


def _synthetic(spark):
    rng = np.random.default_rng(18)
    rows = []
    for n in range(7 * WEEKS):
        day = FIRST + timedelta(days=n)
        ordered = datetime(day.year, day.month, day.day, 23, 55, tzinfo=UTC)
        for supplier in BASE:
            for store, _ in STORES:
                for k in range(2):
                    qty = int(rng.integers(10, 200))
                    lead = _lead(supplier, store, qty, day) + rng.normal(0, NOISE)
                    sid = f"SH-{store}-{day:%Y%m%d}-{supplier}-{k}"
                    delivered = ordered + timedelta(days=lead)
                    base = (supplier, store, qty, ordered)
                    rows.append((sid, "ordered", int(f"{day:%Y%m%d}"), *base, ordered))
                    rows.append((sid, "delivered", int(f"{delivered:%Y%m%d}"), *base,
                                 delivered))
    return lead_time_rows(spark.createDataFrame(rows, SHIPMENTS),
                          spark.createDataFrame(STORES, "store_id string, region string"))


@pytest.fixture(scope="module")
def fitted(spark):
    return fit_lead_time(_synthetic(spark).cache(), holdout_weeks=2)


def test_training_rows_pair_each_order_with_its_delivery(spark):
    t0 = datetime(2026, 11, 2, 23, 55, tzinfo=UTC)  # a Monday
    shipments = spark.createDataFrame([
        ("SH1", "ordered", 20261102, "V1", "S2", 24, t0, t0),
        ("SH1", "ordered", 20261102, "V1", "S2", 24, t0, t0),  # a replayed event
        ("SH1", "delivered", 20261105, "V1", "S2", 24, t0, t0 + timedelta(days=2.5)),
        ("SH2", "ordered", 20261106, "V1", "S1", 12, t0, t0),  # not delivered yet
    ], SHIPMENTS)
    got = lead_time_rows(shipments, spark.createDataFrame(STORES, "store_id string, region string"))
    assertDataFrameEqual(got, [Row(
        shipment_id="SH1", supplier_id="V1", region="South", order_qty=24.0,
        order_date=date(2026, 11, 2), order_weekday=1, ordered_at=t0.replace(tzinfo=None),
        delivered_at=(t0 + timedelta(days=2.5)).replace(tzinfo=None), lead_time_days=2.5)])


def test_the_features_are_supplier_region_weekday_one_hot_and_the_order_size(fitted):
    # 3 suppliers + 2 regions + 7 weekdays one-hot (the unseen slot kept, the last dropped),
    # plus the order size
    regression = fitted.model.stages[-1]
    assert regression.numFeatures == 3 + 2 + 7 + 1
    assert regression.coefficients[-1] == pytest.approx(PER_UNIT, abs=0.002)


def test_it_beats_the_supplier_mean_on_the_last_weeks(fitted):
    m = fitted.metrics
    # time-based holdout: the last 2 of 10 weeks, 12 orders a day
    assert (m["n_train"], m["n_test"]) == (8 * 7 * 12, 2 * 7 * 12)
    assert m["mae"] < 0.5 * m["baseline_mae"]
    assert m["rmse"] < 0.5 * m["baseline_rmse"]
    assert m["rmse"] == pytest.approx(NOISE, abs=0.1)
    assert m["residual_sd"] == pytest.approx(NOISE, abs=0.05)


def test_predictions_carry_the_suppliers_residual_spread(spark, fitted):
    friday = date(2026, 11, 20)
    pairs = spark.createDataFrame(
        [(1, "V3", "South", 100.0, 5), (2, "V9", "North", 100.0, 1)],
        "pair long, supplier_id string, region string, order_qty double, order_weekday int")
    got = {r.pair: r for r in predict_lead_times(fitted, pairs).collect()}
    assert got[1].lead_time_days == pytest.approx(_lead("V3", "S2", 100, friday), abs=0.2)
    assert got[1].lead_time_sd_days == pytest.approx(NOISE, abs=0.08)
    # a supplier the model never saw still gets a lead time and everyone's spread
    assert got[2].lead_time_days > 0
    assert got[2].lead_time_sd_days == pytest.approx(fitted.metrics["residual_sd"])
    assert set(predict_lead_times(fitted, pairs).columns) == {
        *pairs.columns, "lead_time_days", "lead_time_sd_days"}


def test_a_history_shorter_than_the_holdout_is_refused(spark):
    rows = _synthetic(spark).where("order_date >= '2026-11-02'")  # the last 2 weeks only
    with pytest.raises(ValueError, match="history before it"):
        fit_lead_time(rows, holdout_weeks=2)


def test_the_supplier_only_regression_is_the_supplier_mean(spark):
    """The fallback optimize_stock --train keeps when the full regression loses to the
    baseline: one-hot supplier alone is the supplier mean, so its holdout errors are the
    baseline's."""
    only = fit_lead_time(_synthetic(spark).cache(), holdout_weeks=2,
                         categorical=("supplier_id",), numeric=())
    assert only.model.stages[-1].numFeatures == 3
    assert only.metrics["mae"] == pytest.approx(only.metrics["baseline_mae"], rel=1e-4)
    assert only.metrics["rmse"] == pytest.approx(only.metrics["baseline_rmse"], rel=1e-4)
