"""The demand forecast end to end on a tiny chain: simulated into the local warehouse (the
oracle recorded), every day closed by the daily ETL, the last five weeks' features built,
then ``train`` with few trees: the backtest's shape, the baselines, the intervals, and
``predict`` on the last day.

Run by ``make bench`` (forecast), not ``make test``: closing and featurizing 35 days costs
about 4 minutes on 2 cores before training starts, more than the suite's 300-second limit
per test and the issue's test budget. ``python -m pytest tests/bench/forecast_training_check.py``
runs it alone."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pyarrow.compute as pc
import pytest
from pyspark.sql import functions as F

from retail.features.definitions import KNOWN_AHEAD
from retail.io.lake import LakeWriter
from retail.ml.forecast import predict, train
from retail.ml.forecast.training import training_rows
from retail.ml.settings import ForecastSettings
from retail.settings import LakeSettings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import WarehouseSink
from retail.transforms.forecast import stack_horizons
from retail.warehouse.load import load_dimensions
from tests.conftest import retail_cli as retail
from tests.pkg.transforms.conftest import spark  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

STORES, PRODUCTS, RATE, SEED = 2, 10, 4.0, 42
START = date(2026, 6, 1)
DAYS = 56
LAST = START + timedelta(days=DAYS - 1)
FEATURES_FROM = LAST - timedelta(days=34)


@pytest.fixture()
def chain(cli_env, migrated):
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=START, days=DAYS),
                    record_expected=True)
    load_dimensions(migrated, catalog, START, DAYS)
    sink = WarehouseSink(migrated, catalog, run_id="forecast-test",
                         lake=LakeWriter(LakeSettings(root=str(cli_env))))
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            sink.write(event_type, table, f"{batch.day:%Y%m%d}-{batch.stores[0]:05d}")
    # the features read the facts' history; only the days they are built for need closing
    retail("batch", "daily-etl", "--from", str(FEATURES_FROM), "--to", str(LAST))
    retail("features", "build", "--from", str(FEATURES_FROM), "--to", str(LAST))
    return migrated, sim.expected_demand()


def test_training_reports_the_backtest_and_predicts_a_week(chain, spark, capsys):
    wh, oracle = chain
    settings = ForecastSettings(max_iter=(15,), max_depth=(4,), ets_series=8,
                                history_days=40)
    started = time.monotonic()
    result = train(spark, wh, settings, LAST, oracle=oracle)
    seconds = time.monotonic() - started

    overall = {(r["sample"], r["level"], r["model"]): r for r in result.metrics
               if r["horizon"] is None}
    with capsys.disabled():  # the figures docs/models.md quotes for the tiny chain
        print(f"\ntrain: {seconds:.0f} s; coverage {result.coverage}")
        for key, row in sorted(overall.items()):
            print(key, {k: round(row[k], 3) for k in ("wape", "mae", "bias", "rmsse")},
                  row["rows"])
        print("ratios", result.ratios)
        print("top features", result.feature_importance[:8])

    assert [f["origin"] for f in result.folds] == [
        str(LAST - timedelta(days=6 + 7 * k)) for k in (3, 2, 1, 0)]
    pairs = len(set(zip(oracle["store_id"].to_pylist(), oracle["product_id"].to_pylist())))
    for model in ("gbt", "seasonal_naive", "mean_28", "oracle"):
        row = overall[("all", "store_product_day", model)]
        assert row["rows"] == 4 * 7 * pairs, row
        assert row["wape"] > 0 and row["mae"] > 0 and row["rmsse"] > 0
        assert ("all", "store_category_week", model) in overall
    # AutoETS needs two weeks of history: the first origin has one in this tiny store
    ets_rows = overall[("ets_sample", "store_product_day", "ets")]["rows"]
    assert ets_rows % (7 * 8) == 0 and ets_rows >= 3 * 7 * 8
    per_horizon = [r for r in result.metrics if r["sample"] == "all"
                   and r["model"] == "gbt" and r["horizon"] is not None]
    assert sorted(r["horizon"] for r in per_horizon) == list(range(1, 8))
    assert set(result.ratios) == {"gbt", "seasonal_naive", "mean_28", "oracle", "ets"}
    assert result.ratios["oracle"]["to_oracle"] == pytest.approx(1.0)
    assert result.quantiles.num_rows >= 7
    assert 0 <= result.coverage["80"] <= result.coverage["95"] <= 1
    assert result.feature_importance[0]["importance"] > 0
    assert len(result.tuning) == 1 and result.params["maxIter"] == 15

    store, _ = training_rows(spark, wh, LAST - timedelta(days=40), LAST, 7)
    rows = stack_horizons(store, horizons=range(1, 8), known_ahead=KNOWN_AHEAD)
    latest = rows.filter(F.col("date") == LAST - timedelta(days=7))  # every horizon labelled
    forecasts = predict(result.model, latest, result.quantiles).toArrow()
    assert forecasts.num_rows == latest.count() > 0
    assert pc.all(pc.less_equal(forecasts["lower_95"], forecasts["lower_80"])).as_py()
    assert pc.all(pc.less_equal(forecasts["upper_80"], forecasts["upper_95"])).as_py()

    gbt, naive = (overall[("all", "store_product_day", m)]["wape"]
                  for m in ("gbt", "seasonal_naive"))
    # On this tiny chain (a week or three of training rows per origin, 15 trees) the GBT
    # does not beat seasonal naive (docs/models.md has the figures); the benchmark's
    # 120-day chain is where it must. Here: a sane model, not a broken one.
    assert gbt < 2 * naive, f"the GBT's WAPE {gbt:.3f} against seasonal naive's {naive:.3f}"
