"""retail.ml.monitoring: PSI and its statuses against hand computations, the drift windows,
realised WAPE/bias/MAE per model version x horizon x category against hand values on a few
forecasts and actuals, drift from the feature store, and a day evaluated twice written once."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from retail.ml.monitoring import (MAIN_FEATURES, ActualsNotReady, DriftWindows, drift_status,
                                  drift_windows, evaluate_day, feature_drift,
                                  forecast_accuracy, psi)
from tests.pkg.ml.monitoring_data import (DAY, day_actuals, forecasts, insert_features,
                                          insert_predictions)


# --- PSI ----------------------------------------------------------------------------------
def test_psi_equals_the_hand_computation():
    # shares 0.5/0.3/0.2 against 0.3/0.3/0.4
    want = (0.3 - 0.5) * math.log(0.3 / 0.5) + 0 + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert psi([50, 30, 20], [30, 30, 40]) == pytest.approx(want)
    assert psi([50, 30, 20], [50, 30, 20]) == 0


def test_psi_gives_an_empty_bin_the_epsilon_share_instead_of_an_infinite_term():
    want = (0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi([10, 0], [5, 5]) == pytest.approx(want)
    assert psi([10, 0], [5, 5], epsilon=1e-3) == pytest.approx(
        (0.5 - 1) * math.log(0.5) + (0.5 - 1e-3) * math.log(0.5 / 1e-3))


def test_psi_of_an_empty_window_is_none_and_bins_must_match():
    assert psi([0, 0], [1, 2]) is None and psi([1, 2], [0, 0]) is None
    with pytest.raises(ValueError, match="same bins"):
        psi([1, 2], [1, 2, 3])


@pytest.mark.parametrize("value, status", [
    (0.0, "stable"), (0.0999, "stable"), (0.1, "moderate"), (0.25, "moderate"),
    (0.2501, "significant"), (3.0, "significant"), (None, "no_data")])
def test_drift_status_thresholds(value, status):
    assert drift_status(value) == status


# --- windows ------------------------------------------------------------------------------
def test_default_windows_are_the_week_to_the_day_and_the_8_weeks_before():
    assert drift_windows(date(2026, 3, 10)) == DriftWindows(
        date(2026, 1, 7), date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 10))
    assert drift_windows(date(2026, 3, 10), reference_days=7).reference_from == \
        date(2026, 2, 25)


@pytest.mark.parametrize("kwargs, message", [
    ({"reference_from": date(2026, 1, 1)}, "together"),
    ({"reference_days": 3}, "--reference-days must be at least 7"),
    ({"reference_from": date(2026, 2, 1), "reference_to": date(2026, 1, 1)}, "is before"),
    ({"reference_from": date(2026, 2, 1), "reference_to": date(2026, 3, 4)},
     "must be before the recent week"),
])
def test_bad_windows_are_refused_naming_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        drift_windows(date(2026, 3, 10), **kwargs)


# --- accuracy on the warehouse ------------------------------------------------------------
# (model_version, horizon, category) -> n, actual, forecast, |error|, WAPE, bias, MAE,
# coverage 80 %, coverage 95 %: by hand from monitoring_data.forecasts() and ACTUALS.
HAND = {
    ("v1", 1, "Bakery"): (1, 4, 5, 1, 0.25, 0.25, 1, 1, 1),
    ("v1", 1, "Dairy"): (3, 16, 18, 6, 6 / 16, 2 / 16, 2, 1 / 3, 2 / 3),
    ("v1", 2, "Dairy"): (2, 16, 18, 2, 2 / 16, 2 / 16, 1, 1, None),
    ("v2", 1, "Dairy"): (1, 10, 11, 1, 0.1, 0.1, 1, 1, 1),
}
METRICS = ["n", "actual_sum", "forecast_sum", "abs_error_sum", "wape", "bias", "mae",
           "coverage_80", "coverage_95"]


def rows_by_key(table) -> dict:
    return {(r["model_version"], r["horizon"], r["category"]): tuple(r[m] for m in METRICS)
            for r in table.to_pylist()}


@pytest.mark.clickhouse_server
def test_accuracy_per_version_horizon_and_category_equals_the_hand_values(migrated):
    insert_features(migrated, day_actuals())
    insert_predictions(migrated, forecasts())

    table = forecast_accuracy(migrated, DAY)

    got = rows_by_key(table)
    assert got.keys() == HAND.keys()
    for k, want in HAND.items():
        assert got[k] == pytest.approx(want), k
    assert set(table["model"].to_pylist()) == {"demand_forecast"}
    assert set(table["date"].to_pylist()) == {DAY}


@pytest.mark.clickhouse_server
def test_accuracy_without_the_days_actuals_names_the_feature_job(migrated):
    insert_predictions(migrated, forecasts())
    with pytest.raises(ActualsNotReady, match="retail features build --date 2026-03-10"):
        forecast_accuracy(migrated, DAY)


def reference_and_recent() -> tuple[list[float], list[float], list[dict]]:
    """demand of one pair over 20 reference days and the 7 recent days (shifted up), and
    temp_c missing (NULL) on some days."""
    windows = drift_windows(DAY, reference_days=20)
    ref = [float(v) for v in [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]]
    cur = [9.0, 12.0, 8.0, 9.0, 15.0, 3.0, 10.0]
    rows = []
    for i, v in enumerate(ref):
        rows.append({"day": windows.reference_from + timedelta(days=i), "store_id": "S1",
                     "product_id": "P1", "demand": int(v), "temp_c": None, "category": "Dairy"})
    for i, v in enumerate(cur):
        rows.append({"day": windows.recent_from + timedelta(days=i), "store_id": "S1",
                     "product_id": "P1", "demand": int(v), "temp_c": 20.0 if i < 3 else None,
                     "category": "Dairy"})
    rows.append({"day": windows.reference_from - timedelta(days=1), "store_id": "S1",
                 "product_id": "P1", "demand": 1000, "category": "Dairy"})  # outside both
    return ref, cur, rows


@pytest.mark.clickhouse_server
def test_drift_equals_a_hand_computation_with_the_reference_deciles(migrated):
    ref, cur, rows = reference_and_recent()
    insert_features(migrated, rows)

    demand, temp = feature_drift(migrated, drift_windows(DAY, reference_days=20),
                                 ["demand", "temp_c"])

    edges = np.unique(np.quantile(ref, [i / 10 for i in range(1, 10)]))
    p = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    q = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
    p, q = np.maximum(p / p.sum(), 1e-4), np.maximum(q / q.sum(), 1e-4)
    want = float(np.sum((q - p) * np.log(q / p)))
    assert demand.psi == pytest.approx(want) and want > 0.25
    assert (demand.status, demand.bins, demand.reference_rows, demand.recent_rows) == \
        ("significant", len(edges) + 1, 20, 7)
    assert demand.reference_mean == pytest.approx(np.mean(ref))
    assert demand.recent_mean == pytest.approx(np.mean(cur))
    # temp_c: NULL all through the reference window -> nothing to compare
    assert (temp.psi, temp.status, temp.reference_rows, temp.recent_rows) == \
        (None, "no_data", 0, 3)


def test_only_declared_features_reach_sql():
    with pytest.raises(ValueError, match="not monitored features"):
        feature_drift(None, drift_windows(DAY), ["demand; DROP TABLE x"])
    assert "demand" in MAIN_FEATURES


# --- the day's run ------------------------------------------------------------------------
@pytest.mark.clickhouse_server
def test_evaluating_a_day_twice_leaves_one_set_of_rows_and_two_job_runs(migrated):
    _, _, rows = reference_and_recent()
    insert_features(migrated, [r for r in rows if r["day"] != DAY] + day_actuals())
    insert_predictions(migrated, forecasts())
    windows = drift_windows(DAY, reference_days=20)

    first = evaluate_day(migrated, DAY, windows)
    second = evaluate_day(migrated, DAY, windows)

    assert first.versions == second.versions == [("demand_forecast", "v1"),
                                                 ("demand_forecast", "v2")]
    assert first.evaluations_written == 4 and first.drift_written == 2 * len(MAIN_FEATURES)
    for table, n in (("model_evaluations", 4), ("model_drift", 2 * len(MAIN_FEATURES))):
        assert migrated.query_rows(f"SELECT count() FROM {table} FINAL")[0][0] == n, table
        migrated.command(f"OPTIMIZE TABLE {table} FINAL")
        assert migrated.query_rows(f"SELECT count() FROM {table}")[0][0] == n, table
    stored = migrated.query_arrow("SELECT * FROM model_evaluations FINAL")
    assert rows_by_key(stored) == rows_by_key(second.accuracy)
    runs = migrated.query_rows("SELECT status, rows_out FROM job_runs FINAL "
                               "WHERE job = 'evaluate_forecasts'")
    assert sorted(runs) == [("succeeded", 4 + 2 * len(MAIN_FEATURES))] * 2


@pytest.mark.clickhouse_server
def test_a_day_without_forecasts_writes_nothing(migrated):
    insert_features(migrated, day_actuals())
    report = evaluate_day(migrated, DAY, drift_windows(DAY))
    assert report.versions == [] and report.evaluations_written == report.drift_written == 0
    assert migrated.query_rows("SELECT count() FROM model_drift")[0][0] == 0
