"""Dashboard queries (retail.queries) on a small hand-checked data set, and `retail query`.

The data set (as_of = Friday 2024-03-15; windows include as_of):
  30 days = 02-15..03-15, 28 days = 02-17..03-15, 90 days = 2023-12-17..03-15.
  Regions North (S1, S2) and South (S3). Suppliers SUP1, SUP2.
  Products   price  unit cost  category   supplier
    P1 Apple  2.00   1.00       Produce    SUP1
    P2 Banana 1.00   0.50       Produce    SUP1
    P3 Milk   3.00   2.00       Dairy      SUP2
    P4 Cheese 10.00  5.00       Dairy      SUP2
    P5 Soap   6.00   3.00       Household  SUP1
  Sales lines (revenue = qty x price, cost = qty x unit cost) are in SALES below; the
  inventory ledger (INVENTORY) is its own set of movements, not derived from the sales.
  Closing stock on 03-15 (latest movement on or before it):
    S1: P1 2, P2 198, P3 19, P4 0      S2: P1 15, P2 10, P3 6      S3: P2 20, P4 -2, P5 39
  Every expected value below is worked out by hand from these tables.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from importlib import resources

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import console
from retail.io.warehouse import ClickHouseWarehouse, connect
from retail.queries import get_query, latest_sale_date, list_queries, run_query
from retail.warehouse.migrate import Migrator

# The warehouse suite: runs against the local server, or against a real ClickHouse server
# when RETAIL_CLICKHOUSE_URL is set (`pytest -m clickhouse_server`).
pytestmark = pytest.mark.clickhouse_server

AS_OF = date(2024, 3, 15)
PRICE = {"P1": "2.00", "P2": "1.00", "P3": "3.00", "P4": "10.00", "P5": "6.00"}
COST = {"P1": "1.00", "P2": "0.50", "P3": "2.00", "P4": "5.00", "P5": "3.00"}

# (transaction, line, day, store, product, quantity); negative quantity = a return line.
SALES_A = [  # first insert: S1's 03-15 is split over two inserts (two aggregate rows)
    ("T1", 1, "2024-03-15", "S1", "P1", 10),
    ("T1", 2, "2024-03-15", "S1", "P3", 2),
]
SALES_B = [
    ("T2", 1, "2024-03-15", "S1", "P4", 1),
    ("T3", 1, "2024-03-15", "S2", "P1", 5),
    ("T4", 1, "2024-03-15", "S3", "P2", 4),
    ("R1", 1, "2024-03-15", "S1", "P3", -1),
    ("T5", 1, "2024-03-08", "S1", "P1", 5),
    ("T5", 2, "2024-03-08", "S1", "P4", 2),
    ("T6", 1, "2024-03-08", "S3", "P2", 6),
    ("T7", 1, "2024-03-01", "S1", "P1", 8),
    ("T8", 1, "2024-03-01", "S2", "P3", 3),
    ("T9", 1, "2024-02-23", "S1", "P4", 3),
    ("T10", 1, "2024-02-23", "S3", "P5", 1),
    ("T11", 1, "2024-02-16", "S1", "P3", 4),
    ("T11", 2, "2024-02-16", "S1", "P2", 2),
    ("T12", 1, "2024-01-15", "S2", "P5", 10),
    ("T13", 1, "2023-12-01", "S3", "P4", 50),  # outside every window
]

# (store, product, day, hour, reason, change, on_hand after, reorder_point)
INVENTORY_A = [
    ("S1", "P3", "2024-03-15", 11, "return", 1, 19, 0),  # inserted before the 10:00 sale
]
INVENTORY_B = [
    ("S1", "P1", "2024-03-01", 8, "restock", 12, 12, 5),
    ("S1", "P1", "2024-03-15", 12, "sale", -10, 2, 0),
    ("S1", "P1", "2024-03-16", 8, "restock", 100, 102, 5),  # after as_of
    ("S1", "P2", "2023-12-01", 8, "restock", 200, 200, 0),
    ("S1", "P2", "2024-02-16", 12, "sale", -2, 198, 0),
    ("S1", "P3", "2024-01-05", 9, "adjustment", 0, 0, 5),
    ("S1", "P3", "2024-01-10", 8, "restock", 20, 20, 25),
    ("S1", "P3", "2024-03-15", 10, "sale", -2, 18, 0),
    ("S1", "P4", "2024-02-01", 8, "restock", 6, 6, 2),
    ("S1", "P4", "2024-03-15", 13, "sale", -6, 0, 0),
    ("S2", "P1", "2024-03-10", 8, "restock", 20, 20, 3),
    ("S2", "P1", "2024-03-15", 12, "sale", -5, 15, 0),
    ("S2", "P2", "2024-01-25", 8, "restock", 10, 10, 0),
    ("S2", "P3", "2024-02-20", 9, "adjustment", 9, 9, 0),
    ("S2", "P3", "2024-03-01", 12, "sale", -3, 6, 0),
    ("S3", "P2", "2024-02-14", 8, "restock", 30, 30, 0),
    ("S3", "P2", "2024-03-08", 12, "sale", -6, 24, 0),
    ("S3", "P2", "2024-03-15", 12, "sale", -4, 20, 0),
    ("S3", "P4", "2024-03-05", 12, "sale", -2, -2, 0),
    ("S3", "P5", "2023-12-20", 8, "restock", 40, 40, 5),
    ("S3", "P5", "2024-02-23", 12, "shrinkage", -1, 39, 0),
]

# (shipment, supplier, quantity, ordered_at, expected_arrival, delivered_at or None)
SHIPMENTS = [
    ("SH1", "SUP1", 10, "2024-03-01T00:00", "2024-03-05T00:00", "2024-03-04T12:00"),
    ("SH2", "SUP1", 20, "2024-03-02T00:00", "2024-03-06T00:00", "2024-03-08T00:00"),
    ("SH3", "SUP1", 7, "2024-03-10T00:00", "2024-03-14T00:00", None),
    ("SH4", "SUP1", 9, "2024-03-12T00:00", "2024-03-15T00:00", "2024-03-16T00:00"),
    ("SH5", "SUP2", 5, "2024-02-01T00:00", "2024-02-08T00:00", "2024-02-08T00:00"),
    ("SH6", "SUP2", 15, "2024-02-10T00:00", "2024-02-15T00:00", "2024-02-12T07:12"),
    ("SH7", "SUP2", 50, "2023-11-01T00:00", "2023-11-05T00:00", "2023-11-06T00:00"),
]


def ts(text: str, hour: int = 0) -> datetime:
    t = datetime.fromisoformat(text) if "T" in text else datetime.fromisoformat(text).replace(
        hour=hour)
    return t.replace(tzinfo=timezone.utc)


def dec(values, precision: int = 12) -> pa.Array:
    return pa.array([Decimal(v) for v in values], pa.decimal128(precision, 2))


def times(values) -> pa.Array:
    return pa.array(values, pa.timestamp("ms", tz="UTC"))


def sales_table(lines) -> pa.Table:
    return pa.table({
        "transaction_id": [t for t, *_ in lines],
        "line_number": pa.array([n for _, n, *_ in lines], pa.uint16()),
        "transaction_type": ["return" if q < 0 else "sale" for *_, q in lines],
        "store_id": [s for _, _, _, s, _, _ in lines],
        "product_id": [p for *_, p, _ in lines],
        "quantity": pa.array([q for *_, q in lines], pa.int32()),
        "unit_price": dec(PRICE[p] for *_, p, _ in lines),
        "revenue": dec((str(q * Decimal(PRICE[p])) for *_, p, q in lines), 14),
        "unit_cost": dec(COST[p] for *_, p, _ in lines),
        "payment_method": ["card"] * len(lines),
        "event_time": times(ts(d, 12) for _, _, d, *_ in lines),
    })


def inventory_table(rows) -> pa.Table:
    return pa.table({
        "record_type": ["movement"] * len(rows),
        "inventory_id": [f"I{s}{p}{d}{h}" for s, p, d, h, *_ in rows],
        "store_id": [r[0] for r in rows], "product_id": [r[1] for r in rows],
        "quantity_change": pa.array([r[5] for r in rows], pa.int32()),
        "quantity_on_hand": pa.array([r[6] for r in rows], pa.int32()),
        "reason": [r[4] for r in rows],
        "reorder_point": pa.array([r[7] for r in rows], pa.int32()),
        "event_time": times(ts(r[2], r[3]) for r in rows),
    })


def shipments_table(rows) -> pa.Table:
    events = []  # one 'ordered' event per shipment, one 'delivered' when it arrived
    for sid, sup, qty, ordered, expected, delivered in rows:
        events.append((sid, "ordered", sup, qty, ordered, expected, ordered))
        if delivered:
            events.append((sid, "delivered", sup, qty, ordered, expected, delivered))
    return pa.table({
        "shipment_id": [e[0] for e in events], "status": [e[1] for e in events],
        "supplier_id": [e[2] for e in events], "store_id": ["S1"] * len(events),
        "product_id": ["P1"] * len(events),
        "quantity": pa.array([e[3] for e in events], pa.int32()),
        "unit_cost": dec(["1.00"] * len(events)),
        "ordered_at": times(ts(e[4]) for e in events),
        "expected_arrival": times(ts(e[5]) for e in events),
        "event_time": times(ts(e[6]) for e in events),
    })


def current_levels(rows, updated_at: str) -> pa.Table:
    return pa.table({
        "store_id": [r[0] for r in rows], "product_id": [r[1] for r in rows],
        "quantity_on_hand": pa.array([r[2] for r in rows], pa.int32()),
        "reorder_point": pa.array([r[3] for r in rows], pa.int32()),
        "last_event_time": times([ts("2024-03-16", 8)] * len(rows)),
        "updated_at": times([ts(updated_at)] * len(rows)),
    })


def load(wh: ClickHouseWarehouse, stores: set[str] | None = None) -> None:
    """The data set; with ``stores``, the dimensions and only those stores' facts (the
    warehouse a reader limited to them should see)."""
    def mine(lines, store_at: int) -> list:
        return [r for r in lines if stores is None or r[store_at] in stores]

    def insert(table: str, lines: list, make, **kw) -> None:
        if lines:
            wh.insert_arrow(table, make(lines), **kw)

    wh.insert_arrow("dim_store", pa.table({
        "store_id": ["S1", "S2", "S3"], "name": ["Uptown", "Harbor", "Dunes"],
        "region": ["North", "North", "South"]}))
    wh.insert_arrow("dim_supplier", pa.table({
        "supplier_id": ["SUP1", "SUP2"], "name": ["Fresh Farms", "Dairy Co"]}))
    products = ["P1", "P2", "P3", "P4", "P5"]
    wh.insert_arrow("dim_product", pa.table({
        "product_id": products, "sku": [f"SKU-{p[1]}" for p in products],
        "name": ["Apple", "Banana", "Milk", "Cheese", "Soap"],
        "category": ["Produce", "Produce", "Dairy", "Dairy", "Household"],
        "supplier_id": ["SUP1", "SUP1", "SUP2", "SUP2", "SUP1"],
        "unit_cost": dec(COST[p] for p in products),
        "list_price": dec(PRICE[p] for p in products)}))
    insert("fact_sales", mine(SALES_A, 3), sales_table)
    insert("fact_sales", mine(SALES_B, 3), sales_table)
    insert("fact_inventory", mine(INVENTORY_A, 0), inventory_table)
    insert("fact_inventory", mine(INVENTORY_B, 0), inventory_table)
    # An older version of S2/P1's row (reorder point 99): FINAL must keep the newer one.
    insert("inventory_levels_current", mine([("S2", "P1", 15, 99)], 0),
           lambda rs: current_levels(rs, "2024-01-01T00:00"))
    insert("inventory_levels_current",
           mine([("S1", "P1", 102, 1), ("S1", "P3", 19, 0), ("S2", "P1", 15, 16)], 0),
           lambda rs: current_levels(rs, "2024-03-16T08:00"))
    if stores is None or "S1" in stores:  # every shipment goes to S1
        wh.insert_arrow("fact_supplier_shipments", shipments_table(SHIPMENTS),
                        dedup_token="shipments-batch-7")
        # The batch replayed (same token, as after a crash): dropped from the facts and from
        # the aggregates.
        wh.insert_arrow("fact_supplier_shipments", shipments_table(SHIPMENTS),
                        dedup_token="shipments-batch-7")


@contextmanager
def hand_built(warehouse_settings, *loaders) -> Iterator[ClickHouseWarehouse]:
    """A migrated database of its own, filled by ``loaders`` (each called with the
    client), dropped afterwards."""
    settings = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    admin = connect(settings, database="")
    Migrator(admin, settings.database, lambda name: connect(settings, name)).migrate()
    try:
        with connect(settings) as wh:
            for loader in loaders:
                loader(wh)
            yield wh
    finally:
        admin.command(f"DROP DATABASE IF EXISTS `{settings.database}` SYNC")
        admin.close()


@pytest.fixture(scope="module")
def db(warehouse_settings) -> Iterator[ClickHouseWarehouse]:
    """A migrated database of this module's own with the hand-checked data set."""
    with hand_built(warehouse_settings, load) as wh:
        yield wh


def rows(wh, name: str, **kw) -> list[dict]:
    return run_query(wh, name, as_of=kw.pop("as_of", AS_OF), **kw).to_pylist()


# --- the registry ----------------------------------------------------------------------
STORE_QUERIES = {"store_stock_by_category", "store_low_stock", "store_today_vs_target",
                 "store_forecast_7d", "store_recommended_orders", "store_stockout_risk"}
MODEL_QUERIES = {"model_accuracy_daily", "model_drift_latest", "feature_importance_latest",
                 "business_impact_latest"}


def test_every_query_is_registered_with_title_description_and_parameters():
    # (measures, the Power BI measures' SQL twins, is tested in test_measures.py)
    names = [q.name for q in list_queries() if q.name != "measures"]
    assert names == sorted([
        "executive_kpis", "revenue_by_region", "sales_trend_90d", "top_products",
        "store_category_heatmap", "store_stock_by_category", "store_low_stock",
        "store_today_vs_target", "store_forecast_7d", "store_recommended_orders",
        "store_stockout_risk", "abc_analysis", "inventory_aging", "inventory_aging_buckets",
        "slow_movers",
        "slow_mover_markdowns", "overstock_understock", "stock_cover_scatter",
        "supplier_lead_time", "forecast_vs_actual", "reorder_points", "model_accuracy_daily",
        "model_drift_latest", "predicted_vs_actual", "feature_importance_latest",
        "urgent_alerts", "overstocked_stores", "trending_products", "business_impact_latest"])
    for q in list_queries():
        assert q.title and q.description and "as_of" in q.params, q.name
        assert q.sql.startswith(("SELECT", "WITH")), q.name  # the header is not in the SQL
        assert q.needs_store == (q.name in STORE_QUERIES), q.name
        # row-level security: every query over stores' figures binds one store or the
        # reader's stores; only the model-wide ones bind neither
        assert q.needs_store != q.restricts_stores or q.name in MODEL_QUERIES, q.name
        assert (q.params == ("as_of",)) == (q.name in MODEL_QUERIES), q.name
        if q.restricts_stores:  # and says so in its header
            text = (resources.files("retail.queries") / f"{q.name}.sql").read_text()
            assert "{stores}" in text.split("\nSELECT")[0].split("\nWITH")[0], q.name


def test_unknown_query_name_raises_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="known queries: .*executive_kpis"):
        get_query("no_such_query")


def test_store_queries_need_a_store_and_the_others_refuse_one(db):
    with pytest.raises(ValueError, match="store_low_stock needs a store_id"):
        run_query(db, "store_low_stock", as_of=AS_OF)
    with pytest.raises(ValueError, match="executive_kpis takes no store_id"):
        run_query(db, "executive_kpis", as_of=AS_OF, store_id="S1")


def test_as_of_defaults_to_the_latest_sale_date(db):
    assert latest_sale_date(db) == AS_OF  # T1..T4 and R1 on 03-15 are the newest lines
    default = run_query(db, "executive_kpis").to_pylist()
    assert default == rows(db, "executive_kpis")
    assert default[0]["as_of"] == AS_OF


# --- chain-level dashboards ------------------------------------------------------------
def test_executive_kpis(db):
    assert rows(db, "executive_kpis") == [{
        "as_of": AS_OF,
        # 03-15: T1 20+6, T2 10, T3 10, T4 4, R1 -3
        "revenue": 47.0,
        # 03-08: T5 10+20, T6 6
        "revenue_last_week": 36.0,
        "revenue_change_pct": 30.56,  # (47 - 36) / 36 = 30.555 %
        # S1: 2x1 + 198x0.5 + 19x2 + 0; S2: 15x1 + 10x0.5 + 6x2; S3: 20x0.5 + (-2 -> 0) + 39x3
        "stock_value": 298.0,  # 2 + 99 + 38 + 15 + 5 + 12 + 10 + 117
        "stock_outs": 2,  # S1/P4 (0), S3/P4 (-2)
        # cost over 02-15..03-15: P1 28x1 + P2 12x0.5 + P3 8x2 + P4 6x5 + P5 1x3
        "cogs_30d": 83.0,
        "inventory_turnover_30d": 0.28,  # 83 / 298 = 0.2785
    }]


def test_revenue_by_region(db):
    assert rows(db, "revenue_by_region") == [
        # S1 33+30+16+30+14 = 123 (units 12+7+8+3+6, profit 16+15+8+15+5); S2 10+9 (5+3, 5+3)
        {"region": "North", "stores": 2, "units": 44, "revenue": 142.0, "profit": 67.0},
        # S3 4+6+6 (units 4+6+1, profit 2+3+3)
        {"region": "South", "stores": 1, "units": 11, "revenue": 16.0, "profit": 8.0},
    ]


def test_sales_trend_90d_has_one_row_per_day(db):
    result = rows(db, "sales_trend_90d")
    assert len(result) == 90
    assert result[0]["date"] == date(2023, 12, 17) and result[-1]["date"] == AS_OF
    with_sales = {r["date"]: (r["revenue"], r["units"], r["transactions"])
                  for r in result if r["units"]}
    assert with_sales == {
        date(2024, 1, 15): (60.0, 10, 1),  # T12
        date(2024, 2, 16): (14.0, 6, 1),  # T11 (two lines)
        date(2024, 2, 23): (36.0, 4, 2),  # T9 30, T10 6
        date(2024, 3, 1): (25.0, 11, 2),  # T7 16, T8 9
        date(2024, 3, 8): (36.0, 13, 2),  # T5 (two lines) 30, T6 6
        date(2024, 3, 15): (47.0, 21, 4),  # T1..T4; R1 is a return, not a transaction
    }
    assert result[1] == {"date": date(2023, 12, 18), "revenue": 0.0, "units": 0,
                         "transactions": 0}


def test_top_products(db):
    assert rows(db, "top_products") == [
        {"revenue_rank": 1, "product_id": "P4", "sku": "SKU-4", "product_name": "Cheese",
         "category": "Dairy", "units": 6, "revenue": 60.0, "profit": 30.0},  # 1+2+3 x 10
        {"revenue_rank": 2, "product_id": "P1", "sku": "SKU-1", "product_name": "Apple",
         "category": "Produce", "units": 28, "revenue": 56.0, "profit": 28.0},  # 10+5+5+8
        {"revenue_rank": 3, "product_id": "P3", "sku": "SKU-3", "product_name": "Milk",
         "category": "Dairy", "units": 8, "revenue": 24.0, "profit": 8.0},  # 2-1+3+4
        {"revenue_rank": 4, "product_id": "P2", "sku": "SKU-2", "product_name": "Banana",
         "category": "Produce", "units": 12, "revenue": 12.0, "profit": 6.0},  # 4+6+2
        {"revenue_rank": 5, "product_id": "P5", "sku": "SKU-5", "product_name": "Soap",
         "category": "Household", "units": 1, "revenue": 6.0, "profit": 3.0},  # T12 too old
    ]


def test_store_category_heatmap(db):
    assert [(r["store_id"], r["store_name"], r["region"], r["category"], r["units"],
             r["revenue"]) for r in rows(db, "store_category_heatmap")] == [
        ("S1", "Uptown", "North", "Dairy", 11, 75.0),  # P3 2-1+4 (6-3+12), P4 1+2+3 (60)
        ("S1", "Uptown", "North", "Produce", 25, 48.0),  # P1 10+5+8 (46), P2 2 (2)
        ("S2", "Harbor", "North", "Dairy", 3, 9.0),
        ("S2", "Harbor", "North", "Produce", 5, 10.0),
        ("S3", "Dunes", "South", "Household", 1, 6.0),
        ("S3", "Dunes", "South", "Produce", 10, 10.0),  # P2 4+6
    ]


def test_abc_analysis(db):
    # 90 days: P5 6+60 = 66, P4 60, P1 56, P3 24, P2 12; total 218
    assert [(r["product_id"], r["revenue"], r["revenue_share_pct"], r["cumulative_share_pct"],
             r["abc_class"]) for r in rows(db, "abc_analysis")] == [
        ("P5", 66.0, 30.28, 30.28, "A"),  # 66/218
        ("P4", 60.0, 27.52, 57.8, "A"),  # 126/218
        ("P1", 56.0, 25.69, 83.49, "B"),  # 182/218 > 80 %
        ("P3", 24.0, 11.01, 94.5, "B"),  # 206/218 <= 95 %
        ("P2", 12.0, 5.5, 100.0, "C"),
    ]


def test_inventory_aging(db):
    assert [(r["store_id"], r["product_id"], r["on_hand"], r["stock_value"],
             r["last_restock_date"], r["days_since_restock"], r["age_bucket"])
            for r in rows(db, "inventory_aging")] == [
        ("S2", "P3", 6, 12.0, None, None, "unknown"),  # adjustments only
        ("S1", "P2", 198, 99.0, date(2023, 12, 1), 105, "90+"),  # 31+31+29+14
        ("S3", "P5", 39, 117.0, date(2023, 12, 20), 86, "61-90"),  # 12+31+29+14
        ("S1", "P3", 19, 38.0, date(2024, 1, 10), 65, "61-90"),  # 22+29+14
        ("S2", "P2", 10, 5.0, date(2024, 1, 25), 50, "31-60"),  # 7+29+14
        ("S3", "P2", 20, 10.0, date(2024, 2, 14), 30, "0-30"),  # 16+14
        ("S1", "P1", 2, 2.0, date(2024, 3, 1), 14, "0-30"),  # the 03-16 restock is later
        ("S2", "P1", 15, 15.0, date(2024, 3, 10), 5, "0-30"),
    ]  # S1/P4 (0) and S3/P4 (-2) have no stock


def test_inventory_aging_buckets_roll_up_the_pairs(db):
    assert rows(db, "inventory_aging_buckets") == [
        # S3/P2 20 (10.00), S1/P1 2 (2.00), S2/P1 15 (15.00)
        {"age_bucket": "0-30", "store_products": 3, "units_on_hand": 37, "stock_value": 27.0},
        {"age_bucket": "31-60", "store_products": 1, "units_on_hand": 10, "stock_value": 5.0},
        # S3/P5 39 (117.00), S1/P3 19 (38.00)
        {"age_bucket": "61-90", "store_products": 2, "units_on_hand": 58,
         "stock_value": 155.0},
        {"age_bucket": "90+", "store_products": 1, "units_on_hand": 198, "stock_value": 99.0},
        {"age_bucket": "unknown", "store_products": 1, "units_on_hand": 6, "stock_value": 12.0},
    ]
    # a year later every restock is over 90 days old: the 7 restocked pairs in stock (S1/P1
    # now with its 03-16 restock) are 90+, S2/P3 has none
    later = rows(db, "inventory_aging_buckets", as_of=date(2025, 3, 15))
    assert [(r["age_bucket"], r["store_products"]) for r in later] == [
        ("0-30", 0), ("31-60", 0), ("61-90", 0), ("90+", 7), ("unknown", 1)]


def test_slow_movers(db):
    # 28 days 02-17..03-15 (T11 on 02-16 is out). Stocking stores from the inventory record:
    # P1 S1, S2: 28 units (10+5+5+8) / 2 / 4 = 3.5 a store-week; P2 S1-S3: 10 / 3 / 4 = 0.83;
    # P3 S1, S2: 4 (2-1+3) / 2 / 4 = 0.5; P4 S1, S3: 6 / 2 / 4 = 0.75; P5 S3: 1 / 1 / 4 = 0.25.
    # Median 0.75: a quarter is 0.1875, and the slowest, P5, sells 0.25: none is slow.
    assert rows(db, "slow_movers") == []
    # As of 03-01 (02-03..03-01): P1 (S1) 8 / 1 / 4 = 2; P2 (S1-S3) 2 (T11) / 3 / 4 = 0.17;
    # P3 (S1, S2) 7 (T8 3, T11 4) / 2 / 4 = 0.875; P4 (S1) 3 / 1 / 4 = 0.75; P5 (S3) 0.25.
    # Median 0.75, a quarter 0.1875: P2 is slow.
    assert rows(db, "slow_movers", as_of=date(2024, 3, 1)) == [
        {"product_id": "P2", "sku": "SKU-2", "product_name": "Banana", "category": "Produce",
         "stores": 3, "on_hand": 238,  # S1 198 + S2 10 + S3 30 (its 03-08 sale is later)
         "units_sold_28d": 2, "rate_of_sale": 0.17,
         "pct_of_median": 22.2,  # 0.1667 / 0.75
         "stock_value": 119.0},  # 238 x 0.5
    ]
    # As of 01-20 (12-24..01-20): P2 (S1) and P3 (S1) sold nothing, P5 (S3) 10 units at S2
    # (2.5 a store-week): the median is 0, and nothing sells under a quarter of that.
    assert rows(db, "slow_movers", as_of=date(2024, 1, 20)) == []


def test_overstock_understock(db):
    # units over 02-17..03-15 per pair vs stock; cover = stock x 28 / units
    assert rows(db, "overstock_understock") == [
        # S1/P1 2 x 28 / 23 = 2.4 days; S1/P4 0; S3/P4 -2 (counts 0)
        {"stock_class": "understock", "store_products": 3, "units_on_hand": 2,
         "stock_value": 2.0},
        # S2/P3 6 x 28 / 3 = 56 days; S3/P2 20 x 28 / 10 = 56 days
        {"stock_class": "ok", "store_products": 2, "units_on_hand": 26, "stock_value": 22.0},
        # S1/P2 no sales (02-16 is outside), S1/P3 19 x 28 / 1, S2/P1 15 x 28 / 5 = 84,
        # S2/P2 no sales, S3/P5 39 x 28 / 1
        {"stock_class": "overstock", "store_products": 5,
         "units_on_hand": 281,  # 198 + 19 + 15 + 10 + 39
         "stock_value": 274.0},  # 99 + 38 + 15 + 5 + 117
    ]


def test_supplier_lead_time(db):
    assert rows(db, "supplier_lead_time") == [
        # SH1 3.5 days (promised 4, on time), SH2 6 days (promised 4, late);
        # SH3 not delivered, SH4 delivered after as_of; the replayed batch counted once
        {"supplier_id": "SUP1", "supplier_name": "Fresh Farms", "delivered_shipments": 2,
         "units_delivered": 30, "mean_lead_time_days": 4.75,
         "sd_lead_time_days": 1.77,  # sample sd of 3.5 and 6: 2.5 / sqrt(2)
         "mean_promised_lead_time_days": 4.0, "on_time_rate_pct": 50.0},
        # SH5 7 days, exactly on the expected time (on time); SH6 2.3 days (promised 5);
        # SH7 is older than 90 days
        {"supplier_id": "SUP2", "supplier_name": "Dairy Co", "delivered_shipments": 2,
         "units_delivered": 20, "mean_lead_time_days": 4.65,  # (7 + 2.3) / 2
         "sd_lead_time_days": 3.32,  # 4.7 / sqrt(2)
         "mean_promised_lead_time_days": 6.0, "on_time_rate_pct": 100.0},
    ]


# --- store-manager dashboards ----------------------------------------------------------
def test_store_stock_by_category(db):
    assert rows(db, "store_stock_by_category", store_id="S1") == [
        # P3 19 x 2 + P4 0 (out of stock)
        {"store_id": "S1", "category": "Dairy", "products": 2, "units_on_hand": 19,
         "stock_value": 38.0, "out_of_stock_products": 1},
        # P1 2 x 1 (not the 102 of 03-16) + P2 198 x 0.5
        {"store_id": "S1", "category": "Produce", "products": 2, "units_on_hand": 200,
         "stock_value": 101.0, "out_of_stock_products": 0},
    ]


def test_store_low_stock(db):
    def low(store):
        return [(r["product_id"], r["on_hand"], r["reorder_point"], r["reorder_point_source"],
                 r["units_below_reorder_point"])
                for r in rows(db, "store_low_stock", store_id=store)]

    # S1: P1 2 > 1 (current wins over the fact's 5); P2 has no reorder point;
    # P3 current row has 0 -> fact 25 (the 01-10 restock, not the 01-05 row's 5)
    assert low("S1") == [("P4", 0, 2, "fact_inventory", 2), ("P3", 19, 25, "fact_inventory", 6)]
    # S2: P1 15 <= 16 (newest current row, not the older 99 nor the fact's 3)
    assert low("S2") == [("P1", 15, 16, "current", 1)]
    # S3: P4 has no reorder point but is out of stock
    assert low("S3") == [("P4", -2, 0, "none", 2)]
    first = rows(db, "store_low_stock", store_id="S1")[0]
    assert (first["store_id"], first["sku"], first["product_name"], first["category"]) == \
        ("S1", "SKU-4", "Cheese", "Dairy")


def test_store_today_vs_target(db):
    assert rows(db, "store_today_vs_target", store_id="S1") == [{
        "store_id": "S1", "as_of": AS_OF,
        "revenue": 33.0, "units": 12,  # 20+6+10-3; 10+2+1-1
        "target_revenue": 22.5,  # (30 + 16 + 30 + 14) / 4
        "target_units": 6.0,  # (7 + 8 + 3 + 6) / 4
        "revenue_pct_of_target": 146.67,  # 33 / 22.5
        "units_pct_of_target": 200.0,
    }]
    s3 = rows(db, "store_today_vs_target", store_id="S3")[0]
    # S3 sold nothing on 03-01 and 02-16: they count as 0 in the 4-week average
    assert (s3["revenue"], s3["target_revenue"], s3["revenue_pct_of_target"]) == \
        (4.0, 3.0, 133.33)  # (6 + 0 + 6 + 0) / 4; 4 / 3
    assert (s3["units"], s3["target_units"], s3["units_pct_of_target"]) == \
        (4, 1.75, 228.57)  # (6 + 0 + 1 + 0) / 4; 4 / 1.75


# --- retail query ----------------------------------------------------------------------
@pytest.fixture
def cli_env(db, warehouse_settings, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", warehouse_settings.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", db.database)
    monkeypatch.setattr(console, "width", 80)  # as rich renders into a pipe
    return CliRunner()


def row_with(output: str, *cells: str) -> bool:
    return any(all(f" {c} " in line for c in cells) for line in output.splitlines())


def test_cli_prints_a_table(cli_env):
    result = cli_env.invoke(app, ["query", "revenue_by_region", "--as-of", "2024-03-15"])
    assert result.exit_code == 0, result.output
    assert "Revenue by region (as of 2024-03-15)" in result.output
    assert row_with(result.output, "North", "2", "44", "142.00", "67.00"), result.output


def test_cli_prints_a_wide_table_in_full_into_a_pipe(cli_env):
    result = cli_env.invoke(app, ["query", "inventory_aging", "--as-of", "2024-03-15"])
    assert result.exit_code == 0, result.output
    assert row_with(result.output, "days_since_restock", "age_bucket"), result.output
    assert row_with(result.output, "S1", "P2", "198", "99.00", "2023-12-01", "105", "90+")


def test_cli_defaults_as_of_and_prints_json(cli_env):
    result = cli_env.invoke(app, ["query", "store_today_vs_target", "--store", "S1",
                                  "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data[0]["as_of"] == "2024-03-15" and data[0]["revenue"] == 33.0


def test_cli_csv(cli_env):
    result = cli_env.invoke(app, ["query", "top_products", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "revenue_rank,product_id,sku,product_name,category,units,revenue,profit"
    assert lines[1] == "1,P4,SKU-4,Cheese,Dairy,6,60.0,30.0"


def test_cli_lists_queries(cli_env):
    for args in (["query"], ["query", "--list"]):
        result = cli_env.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "executive_kpis" in result.output and "Supplier lead time" in result.output


def test_cli_errors_exit_1(cli_env):
    result = cli_env.invoke(app, ["query", "no_such_query"])
    assert result.exit_code == 1
    assert "unknown query 'no_such_query'" in result.output
    result = cli_env.invoke(app, ["query", "store_low_stock"])
    assert result.exit_code == 1
    assert "needs a store_id" in result.output


def test_cli_stores_limits_the_figures_to_those_stores(cli_env):
    result = cli_env.invoke(app, ["query", "revenue_by_region", "--stores", "S2, S3",
                                  "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [  # S2 alone in the North: 10 + 9
        {"region": "North", "stores": 1, "units": 8, "revenue": 19.0, "profit": 8.0},
        {"region": "South", "stores": 1, "units": 11, "revenue": 16.0, "profit": 8.0}]
    result = cli_env.invoke(app, ["query", "store_low_stock", "--store", "S2",
                                  "--stores", "S2"])
    assert result.exit_code == 0, result.output
    assert "Store low stock (as of 2024-03-15, store S2)" in " ".join(result.output.split())


@pytest.mark.parametrize("args, message", [
    (["revenue_by_region", "--stores", "S1,S9"], "--stores: unknown store 'S9'"),
    (["revenue_by_region", "--stores", "s1"], "--stores: unknown store 's1' (did you mean "
                                              "'S1'?"),
    (["revenue_by_region", "--stores", " , "], "--stores: give store ids"),
    (["store_low_stock", "--store", "S2", "--stores", "S1"], "--store 'S2' is not among "
                                                             "--stores (S1)"),
    (["model_drift_latest", "--stores", "S1"], "--stores: query model_drift_latest is "
                                               "model-wide"),
])
def test_cli_stores_errors_name_the_flag(cli_env, args, message):
    result = cli_env.invoke(app, ["query", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
