"""Inventory in the stream, Arrow-native: stock-out risk and the restock decision (open
once, resolve with hysteresis)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from retail.streaming.inventory import decide_restock, stockout_risk
from retail.streaming.state import STATE_SCHEMA
from tests.pkg.streaming.inventory_rows import (
    T0,
    h,
    table,
    state_row,
    assert_rows,
    LEAD_SCHEMA,
)

RISK_SCHEMA = pa.schema([*STATE_SCHEMA, ("lead_time_days", pa.float64()),
                         ("days_of_cover", pa.float64()), ("stock_out_risk", pa.float64()),
                         ("reorder_point", pa.int64()), ("recommended_order_qty", pa.int64())])


# --- stock-out risk ---------------------------------------------------------------------------

def test_stockout_risk_compares_days_of_cover_with_the_lead_time():
    state = table([
        state_row("P000001", 20, velocity=4.0),   # 5 days of cover, lead 3
        state_row("P000002", 6, velocity=4.0),    # 1.5 days of cover: capped at 1
        state_row("P000003", 0, velocity=4.0),    # empty shelf
        state_row("P000004", 50, velocity=0.0),   # not selling
        state_row("P000005", 100, velocity=4.0),  # plenty: nothing to order
    ], STATE_SCHEMA)
    lead_times = table([(f"P00000{i}", 3.0) for i in range(1, 6)], LEAD_SCHEMA)

    risk = stockout_risk(state, lead_times, review_period_days=7)

    assert_rows(risk, [
        (*state_row("P000001", 20, velocity=4.0), 3.0, 5.0, 0.6, 12, 20),
        (*state_row("P000002", 6, velocity=4.0), 3.0, 1.5, 1.0, 12, 34),
        (*state_row("P000003", 0, velocity=4.0), 3.0, 0.0, 1.0, 12, 40),
        (*state_row("P000004", 50, velocity=0.0), 3.0, None, 0.0, 0, 0),
        (*state_row("P000005", 100, velocity=4.0), 3.0, 25.0, 0.12, 12, 0),
    ], RISK_SCHEMA)


def test_a_key_whose_level_is_unknown_has_no_risk_and_unknown_days_of_cover():
    # a key known only from sales so far: no inventory update has given its level
    state = table([state_row("P000006", None, velocity=2.0)], STATE_SCHEMA)
    lead_times = table([("P000006", 3.0)], LEAD_SCHEMA)

    risk = stockout_risk(state, lead_times, review_period_days=7)

    # days_of_cover is on hand / velocity: unknown / 2 is unknown, not 0 days (an empty
    # shelf, which would contradict the risk of 0)
    assert_rows(risk, [
        (*state_row("P000006", None, velocity=2.0), 3.0, None, 0.0, 6, 20),
    ], RISK_SCHEMA)


# --- restock decisions ------------------------------------------------------------------------

def risk_row(product: str, risk: float, alert: str | None = "", on_hand: int = 5,
             at: datetime = T0) -> tuple:
    return ("S00001", product, on_hand, at, 4.0, at, alert, 3.0, on_hand / 4.0, risk, 12,
            40 - on_hand)


def restock_id(store: str, product: str, at: str) -> str:
    """What the stable id is documented to be: the md5 of the parts, UUID-shaped."""
    x = hashlib.md5(f"restock|{store}|{product}|{at}".encode()).hexdigest()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


DECISION = ["product_id", "stock_out_risk", "restock_status", "alert_id", "severity",
            "restock_alert_id"]
DECISION_SCHEMA = pa.schema([
    ("product_id", pa.string()), ("stock_out_risk", pa.float64()),
    ("restock_status", pa.string()), ("alert_id", pa.string()), ("severity", pa.string()),
    ("restock_alert_id", pa.string())])


def test_an_alert_opens_when_risk_reaches_the_threshold_and_none_is_open():
    risk = table([
        risk_row("P000001", 0.9),
        risk_row("P000002", 0.8, alert=None),   # a key new to the state, exactly at 0.8
        risk_row("P000003", 1.0, on_hand=0),
    ], RISK_SCHEMA)

    decided = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    id1, id2, id3 = (restock_id("S00001", p, "2024-03-01 10:00:00")
                     for p in ("P000001", "P000002", "P000003"))
    assert_rows(decided.select(DECISION), [
        ("P000001", 0.9, "open", id1, "medium", id1),
        ("P000002", 0.8, "open", id2, "low", id2),
        ("P000003", 1.0, "open", id3, "critical", id3),
    ], DECISION_SCHEMA)
    first = decided.filter(pc.equal(decided["product_id"], "P000001"))
    assert json.loads(first["details"][0].as_py()) == {
        "quantity_on_hand": 5, "velocity_per_day": 4.0, "days_of_cover": 1.25,
        "lead_time_days": 3.0, "recommended_order_qty": 35}


def test_an_open_alert_is_not_opened_again_while_risk_stays_high():
    risk = table([risk_row("P000001", 0.95)], RISK_SCHEMA)
    first = decide_restock(risk, open_at=0.8, resolve_below=0.5)
    # the next batch: the state now carries the open alert, risk is still high
    later = first.select(risk.column_names)

    again = decide_restock(later, open_at=0.8, resolve_below=0.5)

    opened = restock_id("S00001", "P000001", "2024-03-01 10:00:00")
    assert_rows(again.select(DECISION), [
        ("P000001", 0.95, None, None, "medium", opened),
    ], DECISION_SCHEMA)


def test_an_open_alert_resolves_once_risk_falls_below_the_lower_threshold():
    risk = table([
        risk_row("P000001", 0.3, alert="open-1"),
        risk_row("P000002", 0.5, alert="open-2"),   # not below 0.5: stays open
    ], RISK_SCHEMA)

    decided = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    assert_rows(decided.select(DECISION), [
        ("P000001", 0.3, "resolved", "open-1", "low", ""),
        ("P000002", 0.5, None, None, "low", "open-2"),
    ], DECISION_SCHEMA)


def test_between_the_two_thresholds_nothing_opens_or_resolves():
    risk = table([
        risk_row("P000001", 0.6),                     # none open: stays quiet
        risk_row("P000002", 0.79, alert=None),        # none open: stays quiet
        risk_row("P000003", 0.6, alert="open-3"),     # one open: stays open
    ], RISK_SCHEMA)

    decided = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    assert_rows(decided.select(DECISION), [
        ("P000001", 0.6, None, None, "low", ""),
        ("P000002", 0.79, None, None, "low", ""),
        ("P000003", 0.6, None, None, "low", "open-3"),
    ], DECISION_SCHEMA)


def test_restock_alert_ids_are_the_same_when_the_same_input_is_run_again():
    risk = table([risk_row("P000001", 0.9, at=h(5)),
                  risk_row("P000002", 0.9, at=h(5))], RISK_SCHEMA)

    first = decide_restock(risk, open_at=0.8, resolve_below=0.5)
    again = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    assert first.equals(again)
    assert len(pc.unique(first["alert_id"])) == 2
