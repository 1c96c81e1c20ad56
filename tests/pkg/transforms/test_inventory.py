"""Inventory transforms: discrepancies, the next state (level and decayed velocity),
stock-out risk and the restock decision (open once, resolve with hysteresis)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pyspark.sql import DataFrame
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from retail.streaming.batch_tables import INVENTORY_DDL, SALES_DDL, STATE_DDL
from retail.transforms.alerts import ALERT_COLUMNS
from retail.transforms.inventory import (
    decide_restock,
    inventory_discrepancies,
    next_state,
    stockout_risk,
)

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
LN2 = math.log(2)
RISK_DDL = (STATE_DDL + ", lead_time_days double, days_of_cover double, "
            "stock_out_risk double, reorder_point long, recommended_order_qty long")
DISCREPANCY_DDL = ("alert_type string, severity string, store_id string, product_id string, "
                   "metric_value double, threshold double, event_time timestamp")


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def update(product: str, offset: int, change: int, new: int, at: datetime,
           reason: str = "sale", store: str = "S00001") -> tuple:
    return (store, product, 0, offset, f"I-{offset}", change, new, reason, at)


def state_row(product: str, on_hand: int | None, velocity: float = 0.0,
              at: datetime = T0, alert: str | None = "", store: str = "S00001") -> tuple:
    return (store, product, on_hand, at, velocity, at, alert)


DISCREPANCY_DDL_COLUMNS = ("alert_type", "severity", "store_id", "product_id",
                           "metric_value", "threshold", "event_time")


def discrepancies(updates: DataFrame, state: DataFrame) -> DataFrame:
    return inventory_discrepancies(updates, state).select(*DISCREPANCY_DDL_COLUMNS)


# --- discrepancies ----------------------------------------------------------------------------

def test_a_consistent_chain_of_updates_raises_no_discrepancy(spark):
    state = spark.createDataFrame([state_row("P000001", 20)], STATE_DDL)
    updates = spark.createDataFrame([
        update("P000001", 12, -8, 40, h(3)),
        update("P000001", 10, -2, 18, h(1)),
        update("P000001", 11, 30, 48, h(2), reason="restock"),
    ], INVENTORY_DDL)

    assertDataFrameEqual(discrepancies(updates, state),
                         spark.createDataFrame([], DISCREPANCY_DDL))


def test_an_update_that_does_not_add_up_raises_one_alert_with_the_difference(spark):
    state = spark.createDataFrame([state_row("P000001", 20)], STATE_DDL)
    updates = spark.createDataFrame([
        update("P000001", 10, -2, 18, h(1)),
        update("P000001", 11, -3, 14, h(2)),  # 18 - 3 is 15, not 14
        update("P000001", 12, -4, 10, h(3)),  # 14 - 4: consistent with the last level
    ], INVENTORY_DDL)

    alerts = inventory_discrepancies(updates, state).cache()

    assertDataFrameEqual(alerts.select(*DISCREPANCY_DDL_COLUMNS), spark.createDataFrame([
        ("inventory_discrepancy", "low", "S00001", "P000001", -1.0, 0.0, h(2)),
    ], DISCREPANCY_DDL))
    assert tuple(alerts.columns) == ALERT_COLUMNS
    assert json.loads(alerts.first().details) == {
        "inventory_id": "I-11", "previous_level": 18, "quantity_change": -3,
        "expected": 15, "new_quantity": 14, "reason": "sale"}


def test_the_first_update_of_a_key_is_judged_against_the_states_level(spark):
    state = spark.createDataFrame([state_row("P000001", 20), state_row("P000002", 20),
                                   state_row("P000003", 20)], STATE_DDL)
    updates = spark.createDataFrame([
        update("P000001", 5, -2, 25, h(1)),   # 20 - 2 = 18: off by 7
        update("P000002", 6, 5, 13, h(1)),    # 20 + 5 = 25: off by -12
        update("P000003", 7, 5, 25, h(1)),    # right
    ], INVENTORY_DDL)

    assertDataFrameEqual(discrepancies(updates, state), spark.createDataFrame([
        ("inventory_discrepancy", "medium", "S00001", "P000001", 7.0, 0.0, h(1)),
        ("inventory_discrepancy", "high", "S00001", "P000002", -12.0, 0.0, h(1)),
    ], DISCREPANCY_DDL))


def test_a_key_without_state_is_not_judged_on_its_first_update_but_on_the_next(spark):
    state = spark.createDataFrame([], STATE_DDL)
    updates = spark.createDataFrame([
        update("P000001", 1, 5, 100, h(1)),   # no level to check against
        update("P000001", 2, -1, 98, h(2)),   # 100 - 1 is 99
    ], INVENTORY_DDL)

    assertDataFrameEqual(discrepancies(updates, state), spark.createDataFrame([
        ("inventory_discrepancy", "low", "S00001", "P000001", -1.0, 0.0, h(2)),
    ], DISCREPANCY_DDL))


def test_updates_of_different_keys_do_not_chain_into_each_other(spark):
    state = spark.createDataFrame([state_row("P000001", 10),
                                   state_row("P000001", 50, store="S00002")], STATE_DDL)
    updates = spark.createDataFrame([
        update("P000001", 1, -1, 9, h(1)),
        update("P000001", 2, -1, 49, h(1), store="S00002"),
        update("P000001", 3, -1, 8, h(2)),
        update("P000001", 4, -1, 48, h(2), store="S00002"),
    ], INVENTORY_DDL)

    assertDataFrameEqual(discrepancies(updates, state),
                         spark.createDataFrame([], DISCREPANCY_DDL))


# --- next state -------------------------------------------------------------------------------

def test_the_next_state_takes_the_last_level_by_offset_and_decays_velocity(spark):
    state = spark.createDataFrame([
        state_row("P000001", 20, velocity=10.0),
        state_row("P000002", 7, velocity=3.0, alert="open-alert"),  # not touched
        state_row("P000003", 9, velocity=4.0),
    ], STATE_DDL)
    updates = spark.createDataFrame([
        update("P000001", 6, -3, 12, h(23)),  # the last by offset, though not by time
        update("P000001", 5, -5, 15, h(24)),
    ], INVENTORY_DDL)
    sales = spark.createDataFrame([
        ("S00001", "P000003", "T-1", "sale", 2, Decimal("9.98"), h(48)),
    ], SALES_DDL)

    after = next_state(state, updates, sales, half_life_hours=24)

    assertSchemaEqual(after.schema, T.StructType.fromDDL(STATE_DDL))
    assertDataFrameEqual(after, spark.createDataFrame([
        # 10/day measured 24 h (one half-life) before the new event: 5/day
        ("S00001", "P000001", 12, h(24), 5.0, h(24), ""),
        ("S00001", "P000002", 7, T0, 3.0, T0, "open-alert"),
        # 4/day two half-lives back is 1/day, plus 2 units * ln2 / 1 day
        ("S00001", "P000003", 9, h(48), 1.0 + 2 * LN2, h(48), ""),
    ], STATE_DDL))


def test_sales_of_a_new_key_add_velocity_but_returns_do_not(spark):
    state = spark.createDataFrame([state_row("P000005", 30, velocity=6.0)], STATE_DDL)
    sales = spark.createDataFrame([
        ("S00002", "P000001", "T-1", "sale", 3, Decimal("15.00"), h(1)),
        ("S00002", "P000001", "T-2", "return", -2, Decimal("-10.00"), h(2)),
        ("S00001", "P000005", "T-3", "return", -4, Decimal("-20.00"), h(24)),
    ], SALES_DDL)
    updates = spark.createDataFrame([], INVENTORY_DDL)

    after = next_state(state, updates, sales, half_life_hours=24)

    assertDataFrameEqual(after, spark.createDataFrame([
        ("S00002", "P000001", None, h(1), 3 * LN2, h(1), None),
        ("S00001", "P000005", 30, T0, 6.0, T0, ""),
    ], STATE_DDL))


def test_an_older_sale_adds_its_units_without_rewinding_the_velocity_clock(spark):
    state = spark.createDataFrame([state_row("P000001", 8, velocity=10.0, at=h(10))],
                                  STATE_DDL)
    sales = spark.createDataFrame([("S00001", "P000001", "T-1", "sale", 2, Decimal("9.00"),
                                    h(1))], SALES_DDL)

    after = next_state(state, spark.createDataFrame([], INVENTORY_DDL), sales,
                       half_life_hours=24)

    assertDataFrameEqual(after, spark.createDataFrame([
        ("S00001", "P000001", 8, h(10), 10.0 + 2 * LN2, h(10), ""),
    ], STATE_DDL))


def test_the_velocity_gain_per_unit_follows_the_half_life(spark):
    state = spark.createDataFrame([], STATE_DDL)
    sales = spark.createDataFrame([
        ("S00001", "P000001", "T-1", "sale", 4, Decimal("20.00"), h(1)),
        ("S00001", "P000001", "T-2", "sale", 1, Decimal("5.00"), h(1)),
    ], SALES_DDL)
    updates = spark.createDataFrame([], INVENTORY_DDL)

    after = next_state(state, updates, sales, half_life_hours=12)

    # 5 units * ln2 / half a day
    assertDataFrameEqual(after.select("velocity_per_day"),
                         spark.createDataFrame([(5 * LN2 / 0.5,)], "velocity_per_day double"))


# --- stock-out risk ---------------------------------------------------------------------------

def test_stockout_risk_compares_days_of_cover_with_the_lead_time(spark):
    state = spark.createDataFrame([
        state_row("P000001", 20, velocity=4.0),   # 5 days of cover, lead 3
        state_row("P000002", 6, velocity=4.0),    # 1.5 days of cover: capped at 1
        state_row("P000003", 0, velocity=4.0),    # empty shelf
        state_row("P000004", 50, velocity=0.0),   # not selling
        state_row("P000005", 100, velocity=4.0),  # plenty: nothing to order
    ], STATE_DDL)
    lead_times = spark.createDataFrame(
        [(f"P00000{i}", 3.0) for i in range(1, 6)], "product_id string, lead_time_days double")

    risk = stockout_risk(state, lead_times, review_period_days=7)

    assertDataFrameEqual(risk, spark.createDataFrame([
        (*state_row("P000001", 20, velocity=4.0), 3.0, 5.0, 0.6, 12, 20),
        (*state_row("P000002", 6, velocity=4.0), 3.0, 1.5, 1.0, 12, 34),
        (*state_row("P000003", 0, velocity=4.0), 3.0, 0.0, 1.0, 12, 40),
        (*state_row("P000004", 50, velocity=0.0), 3.0, None, 0.0, 0, 0),
        (*state_row("P000005", 100, velocity=4.0), 3.0, 25.0, 0.12, 12, 0),
    ], RISK_DDL))


def test_a_key_whose_level_is_unknown_has_no_risk_and_unknown_days_of_cover(spark):
    # a key known only from sales so far: no inventory update has given its level
    state = spark.createDataFrame([state_row("P000006", None, velocity=2.0)], STATE_DDL)
    lead_times = spark.createDataFrame([("P000006", 3.0)],
                                       "product_id string, lead_time_days double")

    risk = stockout_risk(state, lead_times, review_period_days=7)

    # days_of_cover is on hand / velocity: unknown / 2 is unknown, not 0 days (an empty
    # shelf, which would contradict the risk of 0)
    assertDataFrameEqual(risk, spark.createDataFrame([
        (*state_row("P000006", None, velocity=2.0), 3.0, None, 0.0, 6, 20),
    ], RISK_DDL))


# --- restock decisions ------------------------------------------------------------------------

def risk_row(product: str, risk: float, alert: str | None = "", on_hand: int = 5,
             at: datetime = T0) -> tuple:
    return ("S00001", product, on_hand, at, 4.0, at, alert, 3.0, on_hand / 4.0, risk, 12,
            40 - on_hand)


def restock_id(store: str, product: str, at: str) -> str:
    """What the stable id is documented to be: the md5 of the parts, UUID-shaped."""
    x = hashlib.md5(f"restock|{store}|{product}|{at}".encode()).hexdigest()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


DECISION = ("product_id", "stock_out_risk", "restock_status", "alert_id", "severity",
            "restock_alert_id")
DECISION_DDL = ("product_id string, stock_out_risk double, restock_status string, "
                "alert_id string, severity string, restock_alert_id string")


def test_an_alert_opens_when_risk_reaches_the_threshold_and_none_is_open(spark):
    risk = spark.createDataFrame([
        risk_row("P000001", 0.9),
        risk_row("P000002", 0.8, alert=None),   # a key new to the state, exactly at 0.8
        risk_row("P000003", 1.0, on_hand=0),
    ], RISK_DDL)

    decided = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    id1, id2, id3 = (restock_id("S00001", p, "2024-03-01 10:00:00")
                     for p in ("P000001", "P000002", "P000003"))
    assertDataFrameEqual(decided.select(*DECISION), spark.createDataFrame([
        ("P000001", 0.9, "open", id1, "medium", id1),
        ("P000002", 0.8, "open", id2, "low", id2),
        ("P000003", 1.0, "open", id3, "critical", id3),
    ], DECISION_DDL))
    assert json.loads(decided.where("product_id = 'P000001'").first().details) == {
        "quantity_on_hand": 5, "velocity_per_day": 4.0, "days_of_cover": 1.25,
        "lead_time_days": 3.0, "recommended_order_qty": 35}


def test_an_open_alert_is_not_opened_again_while_risk_stays_high(spark):
    risk = spark.createDataFrame([risk_row("P000001", 0.95)], RISK_DDL)
    first = decide_restock(risk, open_at=0.8, resolve_below=0.5)
    # the next batch: the state now carries the open alert, risk is still high
    later = first.select(*risk.columns)

    again = decide_restock(later, open_at=0.8, resolve_below=0.5)

    opened = restock_id("S00001", "P000001", "2024-03-01 10:00:00")
    assertDataFrameEqual(again.select(*DECISION), spark.createDataFrame([
        ("P000001", 0.95, None, None, "medium", opened),
    ], DECISION_DDL))


def test_an_open_alert_resolves_once_risk_falls_below_the_lower_threshold(spark):
    risk = spark.createDataFrame([
        risk_row("P000001", 0.3, alert="open-1"),
        risk_row("P000002", 0.5, alert="open-2"),   # not below 0.5: stays open
    ], RISK_DDL)

    decided = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    assertDataFrameEqual(decided.select(*DECISION), spark.createDataFrame([
        ("P000001", 0.3, "resolved", "open-1", "low", ""),
        ("P000002", 0.5, None, None, "low", "open-2"),
    ], DECISION_DDL))


def test_between_the_two_thresholds_nothing_opens_or_resolves(spark):
    risk = spark.createDataFrame([
        risk_row("P000001", 0.6),                     # none open: stays quiet
        risk_row("P000002", 0.79, alert=None),        # none open: stays quiet
        risk_row("P000003", 0.6, alert="open-3"),     # one open: stays open
    ], RISK_DDL)

    decided = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    assertDataFrameEqual(decided.select(*DECISION), spark.createDataFrame([
        ("P000001", 0.6, None, None, "low", ""),
        ("P000002", 0.79, None, None, "low", ""),
        ("P000003", 0.6, None, None, "low", "open-3"),
    ], DECISION_DDL))


def test_restock_alert_ids_are_the_same_when_the_same_input_is_run_again(spark):
    risk = spark.createDataFrame([risk_row("P000001", 0.9, at=h(5)),
                                  risk_row("P000002", 0.9, at=h(5))], RISK_DDL)

    first = decide_restock(risk, open_at=0.8, resolve_below=0.5)
    again = decide_restock(risk, open_at=0.8, resolve_below=0.5)

    assertDataFrameEqual(first, again)
    assert first.select("alert_id").distinct().count() == 2
