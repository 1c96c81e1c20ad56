"""bi_inventory_current (migration 0020): the dashboards' current stock is the latest level
in fact_inventory whoever inserted it (kept at insert by mv_inventory_latest), with the
stream's policy columns where the stream has the pair."""

from __future__ import annotations

import pytest

MOVES = [  # store, product, change, on hand, time
    ("S1", "P1", 10, 10, "2026-03-01 09:00:00"),
    ("S1", "P1", -3, 7, "2026-03-02 10:00:00"),
    ("S1", "P2", 5, 5, "2026-03-02 11:00:00"),
]


@pytest.fixture
def stocked(migrated):
    for i, (store, product, change, on_hand, at) in enumerate(MOVES):
        migrated.command(
            "INSERT INTO fact_inventory (event_id, record_type, inventory_id, store_id, "
            "product_id, quantity_change, quantity_on_hand, reason, event_time) VALUES "
            "(generateUUIDv4(), 'movement', {id:String}, {s:String}, {p:String}, {c:Int32}, "
            "{q:Int32}, 'adjustment', toDateTime64({t:String}, 3, 'UTC'))",
            {"id": f"I{i}", "s": store, "p": product, "c": change, "q": on_hand, "t": at})
    # the stream knows P1 only, with its policy
    migrated.command(
        "INSERT INTO inventory_levels_current (store_id, product_id, quantity_on_hand, "
        "reorder_point, safety_stock, days_of_cover, stock_out_risk, last_event_time) VALUES "
        "('S1', 'P1', 7, 4, 2, 3.5, 0.25, toDateTime64('2026-03-02 10:00:00', 3, 'UTC'))")
    return migrated


def current(wh) -> dict:
    rows = wh.query_rows(
        "SELECT p.product_id, `On Hand`, `Reorder Point`, `Days of Cover`, "
        "toString(`As Of (UTC)`) FROM bi_inventory_current AS c "
        "JOIN (SELECT DISTINCT product_id, retail_key(product_id) AS k FROM fact_inventory) "
        "AS p ON p.k = c.`Product Key` ORDER BY p.product_id")
    return {r[0]: r[1:] for r in rows}


def test_stock_the_stream_never_saw_is_current_too(stocked):
    rows = current(stocked)
    assert rows["P2"][0] == 5 and rows["P2"][1] == 0 and rows["P2"][2] is None
    assert rows["P2"][3] == "2026-03-02 00:00:00.000"


def test_the_latest_level_with_the_streams_policy_where_it_has_one(stocked):
    rows = current(stocked)
    assert rows["P1"] == (7, 4, 3.5, "2026-03-02 10:00:00.000")


def test_a_later_movement_moves_on_hand_without_any_refresh(stocked):
    stocked.command(
        "INSERT INTO fact_inventory (event_id, record_type, inventory_id, store_id, product_id,"
        " quantity_change, quantity_on_hand, reason, event_time) VALUES (generateUUIDv4(), "
        "'snapshot', 'I9', 'S1', 'P2', 0, 2, 'snapshot', "
        "toDateTime64('2026-03-03 23:59:59', 3, 'UTC'))")
    assert current(stocked)["P2"][0] == 2
