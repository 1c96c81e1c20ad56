"""Inventory in the stream, Arrow-native: discrepancies and the next state (level and
decayed velocity). Risk and restock are in test_inventory_restock.py."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest

from retail.streaming.alerts import ALERT_COLUMNS, ALERT_SCHEMA
from retail.streaming.inventory import inventory_discrepancies, next_state
from retail.streaming.state import STATE_SCHEMA

from tests.pkg.streaming.inventory_rows import (
    T0,
    LN2,
    INVENTORY_SCHEMA,
    SALES_SCHEMA,
    DISCREPANCY_SCHEMA,
    DISCREPANCY_DDL_COLUMNS,
    h,
    table,
    update,
    state_row,
    assert_rows,
)


def discrepancies(updates: pa.Table, state: pa.Table) -> pa.Table:
    return inventory_discrepancies(updates, state).select(list(DISCREPANCY_DDL_COLUMNS))


def test_assert_rows_can_fail() -> None:
    got = table([state_row("P000001", 1, velocity=1.0)], STATE_SCHEMA)
    for rows in ([state_row("P000001", 1, velocity=1.1)], [state_row("P000001", None)], []):
        with pytest.raises(AssertionError):
            assert_rows(got, rows, STATE_SCHEMA)


# --- discrepancies ----------------------------------------------------------------------------

def test_a_consistent_chain_of_updates_raises_no_discrepancy():
    state = table([state_row("P000001", 20)], STATE_SCHEMA)
    updates = table([
        update("P000001", 12, -8, 40, h(3)),
        update("P000001", 10, -2, 18, h(1)),
        update("P000001", 11, 30, 48, h(2), reason="restock"),
    ], INVENTORY_SCHEMA)

    assert_rows(discrepancies(updates, state), [], DISCREPANCY_SCHEMA)


def test_an_update_that_does_not_add_up_raises_one_alert_with_the_difference():
    state = table([state_row("P000001", 20)], STATE_SCHEMA)
    updates = table([
        update("P000001", 10, -2, 18, h(1)),
        update("P000001", 11, -3, 14, h(2)),  # 18 - 3 is 15, not 14
        update("P000001", 12, -4, 10, h(3)),  # 14 - 4: consistent with the last level
    ], INVENTORY_SCHEMA)

    alerts = inventory_discrepancies(updates, state)

    assert_rows(alerts.select(list(DISCREPANCY_DDL_COLUMNS)), [
        ("inventory_discrepancy", "low", "S00001", "P000001", -1.0, 0.0, h(2)),
    ], DISCREPANCY_SCHEMA)
    assert tuple(alerts.column_names) == ALERT_COLUMNS
    assert alerts.schema == ALERT_SCHEMA
    assert json.loads(alerts["details"][0].as_py()) == {
        "inventory_id": "I-11", "previous_level": 18, "quantity_change": -3,
        "expected": 15, "new_quantity": 14, "reason": "sale"}


def test_the_first_update_of_a_key_is_judged_against_the_states_level():
    state = table([state_row("P000001", 20), state_row("P000002", 20),
                   state_row("P000003", 20)], STATE_SCHEMA)
    updates = table([
        update("P000001", 5, -2, 25, h(1)),   # 20 - 2 = 18: off by 7
        update("P000002", 6, 5, 13, h(1)),    # 20 + 5 = 25: off by -12
        update("P000003", 7, 5, 25, h(1)),    # right
    ], INVENTORY_SCHEMA)

    assert_rows(discrepancies(updates, state), [
        ("inventory_discrepancy", "medium", "S00001", "P000001", 7.0, 0.0, h(1)),
        ("inventory_discrepancy", "high", "S00001", "P000002", -12.0, 0.0, h(1)),
    ], DISCREPANCY_SCHEMA)


def test_a_key_without_state_is_not_judged_on_its_first_update_but_on_the_next():
    state = table([], STATE_SCHEMA)
    updates = table([
        update("P000001", 1, 5, 100, h(1)),   # no level to check against
        update("P000001", 2, -1, 98, h(2)),   # 100 - 1 is 99
    ], INVENTORY_SCHEMA)

    assert_rows(discrepancies(updates, state), [
        ("inventory_discrepancy", "low", "S00001", "P000001", -1.0, 0.0, h(2)),
    ], DISCREPANCY_SCHEMA)


def test_updates_of_different_keys_do_not_chain_into_each_other():
    state = table([state_row("P000001", 10),
                   state_row("P000001", 50, store="S00002")], STATE_SCHEMA)
    updates = table([
        update("P000001", 1, -1, 9, h(1)),
        update("P000001", 2, -1, 49, h(1), store="S00002"),
        update("P000001", 3, -1, 8, h(2)),
        update("P000001", 4, -1, 48, h(2), store="S00002"),
    ], INVENTORY_SCHEMA)

    assert_rows(discrepancies(updates, state), [], DISCREPANCY_SCHEMA)


# --- next state -------------------------------------------------------------------------------

def test_the_next_state_takes_the_last_level_by_offset_and_decays_velocity():
    state = table([
        state_row("P000001", 20, velocity=10.0),
        state_row("P000002", 7, velocity=3.0, alert="open-alert"),  # not touched
        state_row("P000003", 9, velocity=4.0),
    ], STATE_SCHEMA)
    updates = table([
        update("P000001", 6, -3, 12, h(23)),  # the last by offset, though not by time
        update("P000001", 5, -5, 15, h(24)),
    ], INVENTORY_SCHEMA)
    sales = table([
        ("S00001", "P000003", "T-1", "sale", 2, Decimal("9.98"), h(48)),
    ], SALES_SCHEMA)

    after = next_state(state, updates, sales, half_life_hours=24)

    assert after.schema == STATE_SCHEMA
    assert_rows(after, [
        # 10/day measured 24 h (one half-life) before the new event: 5/day
        ("S00001", "P000001", 12, h(24), 5.0, h(24), ""),
        ("S00001", "P000002", 7, T0, 3.0, T0, "open-alert"),
        # 4/day two half-lives back is 1/day, plus 2 units * ln2 / 1 day
        ("S00001", "P000003", 9, h(48), 1.0 + 2 * LN2, h(48), ""),
    ], STATE_SCHEMA)


def test_sales_of_a_new_key_add_velocity_but_returns_do_not():
    state = table([state_row("P000005", 30, velocity=6.0)], STATE_SCHEMA)
    sales = table([
        ("S00002", "P000001", "T-1", "sale", 3, Decimal("15.00"), h(1)),
        ("S00002", "P000001", "T-2", "return", -2, Decimal("-10.00"), h(2)),
        ("S00001", "P000005", "T-3", "return", -4, Decimal("-20.00"), h(24)),
    ], SALES_SCHEMA)
    updates = table([], INVENTORY_SCHEMA)

    after = next_state(state, updates, sales, half_life_hours=24)

    assert_rows(after, [
        ("S00002", "P000001", None, h(1), 3 * LN2, h(1), None),
        ("S00001", "P000005", 30, T0, 6.0, T0, ""),
    ], STATE_SCHEMA)


def test_an_older_sale_adds_its_units_without_rewinding_the_velocity_clock():
    state = table([state_row("P000001", 8, velocity=10.0, at=h(10))], STATE_SCHEMA)
    sales = table([("S00001", "P000001", "T-1", "sale", 2, Decimal("9.00"), h(1))],
                  SALES_SCHEMA)

    after = next_state(state, table([], INVENTORY_SCHEMA), sales, half_life_hours=24)

    assert_rows(after, [
        ("S00001", "P000001", 8, h(10), 10.0 + 2 * LN2, h(10), ""),
    ], STATE_SCHEMA)


def test_the_velocity_gain_per_unit_follows_the_half_life():
    state = table([], STATE_SCHEMA)
    sales = table([
        ("S00001", "P000001", "T-1", "sale", 4, Decimal("20.00"), h(1)),
        ("S00001", "P000001", "T-2", "sale", 1, Decimal("5.00"), h(1)),
    ], SALES_SCHEMA)
    updates = table([], INVENTORY_SCHEMA)

    after = next_state(state, updates, sales, half_life_hours=12)

    # 5 units * ln2 / half a day
    assert_rows(after.select(["velocity_per_day"]), [(5 * LN2 / 0.5,)],
                pa.schema([("velocity_per_day", pa.float64())]))


def test_a_key_with_a_null_part_joins_nothing_but_its_updates_still_chain():
    # as Spark's joins and windows: null never equals null in a join, groups hold nulls
    state = table([state_row("P000001", 20, velocity=2.0, store=None)], STATE_SCHEMA)
    updates = table([
        update("P000001", 1, -1, 19, h(1), store=None),  # not judged against the state
        update("P000001", 2, -1, 17, h(2), store=None),  # 19 - 1 is 18
    ], INVENTORY_SCHEMA)

    assert_rows(discrepancies(updates, state), [
        ("inventory_discrepancy", "low", None, "P000001", -1.0, 0.0, h(2)),
    ], DISCREPANCY_SCHEMA)
    assert_rows(next_state(state, updates, table([], SALES_SCHEMA), half_life_hours=24), [
        (None, "P000001", 20, T0, 2.0, T0, ""),
        (None, "P000001", 17, h(2), 0.0, h(2), None),
    ], STATE_SCHEMA)
