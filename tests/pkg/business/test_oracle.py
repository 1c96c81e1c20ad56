"""The attribution's oracles (retail.business.oracle) against hand-computed truth: the
spread of demand, the forecasts rewritten in the real local warehouse, and the true lead
times as the replenishment rules read them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from retail.business.oracle import Z80, Z95, Truth, check_parts, variant_name
from retail.ml.replenishment.lead_time import predict_lead_times
from retail.sim import generate_catalog
from tests.pkg.business.test_metrics import ledger

D0 = date(2026, 3, 2)
CATALOG = generate_catalog(1, 10, 3)


def test_parts_are_checked_and_named_in_a_fixed_order():
    assert variant_name(frozenset()) == ""
    assert variant_name(frozenset({"lead-time", "forecast"})) == "oracle:forecast+lead-time"
    with pytest.raises(ValueError, match="unknown oracle part.s. crystal-ball"):
        check_parts(frozenset({"forecast", "crystal-ball"}))


def test_the_demand_spread_is_each_pairs_rms_deviation_from_its_expectation():
    n = CATALOG.n_pairs
    # two days of two store groups' recordings: pairs [0, 2) and [2, n)
    recorded = [(D0, 0, np.array([2.0, 1.0])), (D0, 2, np.full(n - 2, 4.0)),
                (D0 + timedelta(days=1), 0, np.array([3.0, 1.0])),
                (D0 + timedelta(days=1), 2, np.full(n - 2, 4.0))]
    # demand: pair 0 4 then 1 (deviations 2, -2), pair 1 1 and 1, pair 2 7 and 1 (3, -3)
    rows = [(D0, 0, 0, 4, 0, 0, 0.0, 0, 0), (D0 + timedelta(days=1), 0, 0, 1, 0, 0, 0.0, 0, 0),
            (D0, 1, 0, 1, 0, 0, 0.0, 0, 0), (D0 + timedelta(days=1), 1, 0, 1, 0, 0, 0.0, 0, 0),
            (D0, 2, 0, 7, 0, 0, 0.0, 0, 0), (D0 + timedelta(days=1), 2, 0, 1, 0, 0, 0.0, 0, 0)]
    truth = Truth.from_simulation(CATALOG, recorded, ledger(rows))
    assert truth.expected[D0][:3].tolist() == [2.0, 1.0, 4.0]
    assert truth.demand_sd[:3].tolist() == [2.0, 0.0, 3.0]
    assert truth.demand_sd[3:].tolist() == [0.0] * (n - 3)  # no warm-up rows


def predictions(run: date, mean: float, version: str) -> pa.Table:
    stores = CATALOG.stores["store_id"].to_pylist()
    products = CATALOG.products["product_id"].to_pylist()
    pairs = [(stores[s], products[p]) for s, p in
             zip(CATALOG.pair_store[:2], CATALOG.pair_product[:2], strict=True)]
    rows = [(s, p, h) for s, p in pairs for h in (1, 2)]
    return pa.table({
        "date_key": pa.array([int(f"{run + timedelta(days=h):%Y%m%d}") for *_, h in rows],
                             pa.uint32()),
        "store_id": [s for s, _, _ in rows], "product_id": [p for _, p, _ in rows],
        "horizon": pa.array([h for *_, h in rows], pa.uint16()),
        "predicted_demand": pa.array([mean] * len(rows)),
        "confidence_low": pa.array([mean - 1] * len(rows)),
        "confidence_high": pa.array([mean + 1] * len(rows)),
        "confidence_low_95": pa.array([mean - 2] * len(rows)),
        "confidence_high_95": pa.array([mean + 2] * len(rows)),
        "stock_out_risk_score": pa.array([0.0] * len(rows), pa.float32()),
        "recommended_order_qty": pa.array([0] * len(rows), pa.uint32()),
        "model_version": [version] * len(rows)})


NEWEST = """
SELECT store_id, horizon, predicted_demand, confidence_low, confidence_high,
       confidence_low_95, confidence_high_95, model_version
FROM fact_ml_predictions FINAL WHERE run_date = {d:Date}
  AND model_version = (SELECT argMax(model_version, predicted_at) FROM fact_ml_predictions
                       WHERE run_date = {d:Date})
ORDER BY store_id, product_id, horizon"""


@pytest.mark.parametrize("parts, want", [
    # truth of pair 0: 5 on D+1, 6 on D+2; pair 1: 1, 2. The model said 3 (80 % +-1,
    # 95 % +-2); the forecast oracle moves the intervals with the mean (floored at 0)
    ({"forecast"}, [(5, 4, 6, 3, 7), (6, 5, 7, 4, 8), (1, 0, 2, 0, 3), (2, 1, 3, 0, 4)]),
    # the spread oracle keeps the model's mean; sd 2 for pair 0, 0.5 for pair 1 (floors at 0)
    ({"safety-stock"}, [(3, 3 - 2 * Z80, 3 + 2 * Z80, 3 - 2 * Z95, 3 + 2 * Z95)] * 2
     + [(3, 3 - 0.5 * Z80, 3 + 0.5 * Z80, 3 - 0.5 * Z95, 3 + 0.5 * Z95)] * 2),
    ({"forecast", "safety-stock"},
     [(5, 5 - 2 * Z80, 5 + 2 * Z80, 5 - 2 * Z95, 5 + 2 * Z95),
      (6, 6 - 2 * Z80, 6 + 2 * Z80, 6 - 2 * Z95, 6 + 2 * Z95),
      (1, 1 - 0.5 * Z80, 1 + 0.5 * Z80, 1 - 0.5 * Z95, 1 + 0.5 * Z95),
      (2, 2 - 0.5 * Z80, 2 + 0.5 * Z80, 2 - 0.5 * Z95, 2 + 0.5 * Z95)]),
])
def test_the_days_forecasts_are_rewritten_as_a_newer_version(migrated, parts, want):
    n = CATALOG.n_pairs
    expected = {D0 + timedelta(days=1): np.array([5.0, 1.0] + [0.0] * (n - 2)),
                D0 + timedelta(days=2): np.array([6.0, 2.0] + [0.0] * (n - 2))}
    sd = np.array([2.0, 0.5] + [0.0] * (n - 2))
    migrated.insert_arrow("fact_ml_predictions", predictions(D0, 3.0, "7"))
    assert Truth(CATALOG, expected, sd).rewrite_forecasts(migrated, D0, frozenset(parts)) == 4
    got = migrated.query_rows(NEWEST, {"d": D0})
    assert {r[-1] for r in got} == {"7+oracle"}
    assert [r[2:7] for r in got] == [tuple(pytest.approx(max(v, 0.0)) for v in w) for w in want]


def test_no_forecast_of_the_day_rewrites_nothing(migrated):
    truth = Truth(CATALOG, {}, np.zeros(CATALOG.n_pairs))
    assert truth.rewrite_forecasts(migrated, D0, frozenset({"forecast"})) == 0


def test_the_true_lead_times_are_each_suppliers_mean_and_sd(spark):
    truth = Truth(CATALOG, {}, np.zeros(CATALOG.n_pairs))
    model = truth.lead_time_model(spark)
    suppliers = CATALOG.suppliers["supplier_id"].to_pylist()
    pairs = spark.createDataFrame([(s, "North", 3.0, 2) for s in suppliers + ["V9999"]],
                                  "supplier_id string, region string, order_qty double, "
                                  "order_weekday int")
    got = {r["supplier_id"]: (r["lead_time_days"], r["lead_time_sd_days"])
           for r in predict_lead_times(model, pairs).collect()}
    for s, mean, sd in zip(suppliers, CATALOG.supplier_lead_mean, CATALOG.supplier_lead_sd,
                           strict=True):
        assert got[s] == (pytest.approx(mean, abs=1e-3), pytest.approx(sd))
    # a supplier the truth does not know: the mean spread
    assert got["V9999"][1] == pytest.approx(float(np.mean(CATALOG.supplier_lead_sd)))
