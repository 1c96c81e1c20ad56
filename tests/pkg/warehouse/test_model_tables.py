"""Migration 0015 (the forecast, replenishment and monitoring tables): applied on the warehouse,
their keys make a re-run replace, the predictions' intervals are documented, the bi_* views
read them, and the access-control statements parse. The row policies of the new bi_* views
are checked with every other view's in test_schema.py (which reads every migration)."""

from __future__ import annotations

import re

import pytest

from retail.io.warehouse import WarehouseError
from retail.warehouse.migrate import discover

pytestmark = pytest.mark.clickhouse_server

MODEL_TABLES = next(m for m in discover() if m.name == "model_tables")
KEYS = {
    "fact_replenishment": ("ReplacingMergeTree", "store_key, product_key, date_key, model_version"),
    "model_evaluations": ("ReplacingMergeTree",
                          "model, model_version, date_key, horizon, category"),
    "model_drift": ("ReplacingMergeTree", "model, model_version, date_key, feature"),
    "model_feature_importance": ("ReplacingMergeTree", "model, model_version, feature"),
    # unchanged: date_key - horizon is the run date, so the key is per run date and version
    "fact_ml_predictions": ("ReplacingMergeTree",
                            "store_key, product_key, date_key, horizon, model_version"),
}


def test_the_migration_is_0015():
    assert MODEL_TABLES.version == 15  # 0016 (the promotion calendar) came after it


def test_the_tables_are_replacing_merge_trees_keyed_per_run(migrated):
    info = dict((name, (engine, key)) for name, engine, key in migrated.query_rows(
        "SELECT name, engine, sorting_key FROM system.tables "
        "WHERE database = currentDatabase()"))
    assert {t: info[t] for t in KEYS} == KEYS


def test_predictions_document_both_interval_pairs(migrated):
    comments = dict(migrated.query_rows(
        "SELECT name, comment FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'fact_ml_predictions'"))
    assert comments["confidence_low"].startswith("80 %")
    assert comments["confidence_high"].startswith("80 %")
    assert comments["confidence_low_95"].startswith("95 %")
    assert comments["confidence_high_95"].startswith("95 %")
    assert {"stock_out_risk_score", "model_version", "model_name", "run_date"} <= comments.keys()


def predict(wh, predicted_demand: float, version: str = "v1", low_95: str = "NULL") -> None:
    wh.command(f"""INSERT INTO fact_ml_predictions (date_key, store_id, product_id, horizon,
        predicted_demand, confidence_low, confidence_high, confidence_low_95,
        confidence_high_95, stock_out_risk_score, recommended_order_qty, model_version)
        SELECT 20260310 + number, 'S1', 'P1', 1 + number, {predicted_demand}, 1, 9,
               {low_95}, 12, 0.2, 0, '{version}' FROM numbers(3)""")


def test_a_rerun_of_the_same_run_date_and_version_replaces_its_forecasts(migrated):
    predict(migrated, 5)
    predict(migrated, 6, low_95="0.5")  # the same run (2026-03-09), again
    predict(migrated, 7, version="v2")  # another version keeps its own rows
    rows = migrated.query_rows(
        "SELECT model_version, run_date, horizon, predicted_demand, confidence_low_95, "
        "model_name FROM fact_ml_predictions FINAL ORDER BY model_version, horizon")
    assert [(v, str(d), h, f, lo) for v, d, h, f, lo, _ in rows] == [
        ("v1", "2026-03-09", 1, 6.0, 0.5), ("v1", "2026-03-09", 2, 6.0, 0.5),
        ("v1", "2026-03-09", 3, 6.0, 0.5), ("v2", "2026-03-09", 1, 7.0, None),
        ("v2", "2026-03-09", 2, 7.0, None), ("v2", "2026-03-09", 3, 7.0, None)]
    assert {r[5] for r in rows} == {"demand_forecast"}
    view = migrated.query_rows("SELECT `Run Date`, `Confidence Low 95%`, `Model` "
                               "FROM bi_fact_predictions WHERE `Model Version` = 'v1'")
    assert {(str(d), lo, m) for d, lo, m in view} == {("2026-03-09", 0.5, "demand_forecast")}


def replenish(wh, qty: int, version: str = "v1") -> None:
    wh.command(f"""INSERT INTO fact_replenishment (date_key, run_date, order_by_date,
        store_id, product_id, on_hand, on_order, forecast_lead_review, safety_stock,
        reorder_point, order_up_to, order_qty, pack_size, reasons, stock_out_risk,
        lead_time_days, lead_time_sd_days, service_level, abc_class, model_version)
        VALUES (20260310, '2026-03-10', '2026-03-10', 'S1', 'P1', 2, 0, 20, 4, 10, 24, {qty},
                6, ['below_reorder_point', 'promotion_ahead'], 0.4, 3, 1, 0.98, 'A',
                '{version}')""")


def test_a_rerun_of_the_same_run_date_and_version_replaces_its_recommendations(migrated):
    replenish(migrated, 18)
    replenish(migrated, 24)
    replenish(migrated, 12, version="v2")
    rows = migrated.query_rows("SELECT `Model Version`, `Recommended Order`, `Reasons`, "
                               "`Store Key` = retail_key('S1') FROM bi_fact_replenishment "
                               "ORDER BY 1")
    assert rows == [("v1", 24, "below_reorder_point, promotion_ahead", True),
                    ("v2", 12, "below_reorder_point, promotion_ahead", True)]


def test_the_model_views_read_their_tables_with_friendly_names(migrated):
    migrated.command("""INSERT INTO model_feature_importance (model, model_version,
        trained_at, feature, importance, importance_type, rank) VALUES
        ('demand_forecast', 'v1', '2026-03-01 02:00:00', 'demand_lag_7', 0.6, 'gain', 1),
        ('demand_forecast', 'v1', '2026-03-01 02:00:00', 'temp_c', 0.4, 'gain', 2)""")
    assert migrated.query_rows("SELECT `Feature`, `Rank` FROM bi_model_feature_importance "
                               "ORDER BY `Rank`") == [("demand_lag_7", 1), ("temp_c", 2)]
    for view in ("bi_model_evaluations", "bi_model_drift", "bi_fact_replenishment"):
        names = [r[0] for r in migrated.query_rows(f"DESCRIBE TABLE {view}")]
        assert names and all("_" not in n for n in names), (view, names)


def test_every_access_statement_parses_and_each_new_view_is_granted(migrated):
    statements = [s for s in MODEL_TABLES.statements()
                  if s.startswith(("GRANT", "CREATE ROW POLICY"))]
    failed = {}
    for stmt in statements:
        try:
            migrated.query_rows("EXPLAIN AST " + stmt)
        except WarehouseError as exc:
            failed[stmt] = str(exc)[:300]
    assert failed == {}
    views = re.findall(r"CREATE OR REPLACE VIEW (\w+)", MODEL_TABLES.sql)
    granted = {v for s in statements
               if (m := re.match(r"GRANT SELECT ON (bi_\w+) TO bi_reader, bi_gateway$", s))
               for v in [m.group(1)]}
    # bi_fact_predictions was granted by 0006; the rest here
    assert granted == set(views) - {"bi_fact_predictions"}
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", MODEL_TABLES.sql)
    written = {m.group(1) for s in statements
               if (m := re.match(r"GRANT SELECT, INSERT ON (\w+) TO etl_writer$", s))}
    assert set(tables) <= written
