"""The columnar validator and JSON encoder agree with the row validator and with orjson."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from retail.contracts import ContractViolation, contract, registry
from retail.contracts.columnar import (
    UnsupportedSchema,
    encode_json,
    json_ready,
    needs_row_encoding,
    valid_rows,
)
from retail.sim import SimConfig, Simulator, generate_catalog, to_json_events

UUID = "906ff809-ecfb-4fb3-a082-070428e63faa"
TS = "2026-01-05T10:15:00Z"

HAND_BUILT = {
    "restock_alert": {
        "event_id": UUID, "event_type": "restock_alert", "schema_version": 1,
        "event_time": TS, "alert_id": "A-1", "store_id": "S00001", "product_id": "P000001",
        "current_quantity": 3, "reorder_point": 12, "days_of_cover": 0.5,
        "stock_out_risk": 0.9, "recommended_order_qty": 48, "severity": "high",
        "status": "open", "timestamp": TS},
    "dead_letter": {
        "event_id": UUID, "event_type": "dead_letter", "schema_version": 1, "event_time": TS,
        "source_topic": "retail-sales-transactions", "intended_event_type": "sales_transaction",
        "key": "S00001|P000001", "reason": "contract_violation", "error": "quantity too small",
        "error_field": "quantity", "payload": '{"quantity": 0}', "producer": "simulator"},
}


@functools.cache
def simulated_tables() -> dict[str, pa.Table]:
    """Every table of a small two-day chain, batches concatenated, by event type."""
    sim = Simulator(generate_catalog(3, 200, 7), SimConfig(seed=7, rate=40, days=2))
    sim.stock[::5] = 0  # some empty shelves, so lost sales happen too
    parts: dict[str, list[pa.Table]] = {}
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            parts.setdefault(event_type, []).append(table)
    return {t: pa.concat_tables(p) for t, p in parts.items()}


@functools.cache
def valid_samples() -> dict[str, dict[str, Any]]:
    """One valid event per event type: a simulated one where the simulator emits the type."""
    found = {t: to_json_events(table.slice(0, 1))[0]
             for t, table in simulated_tables().items() if table.num_rows}
    return {**HAND_BUILT, **found}


@pytest.fixture(scope="module")
def sim_tables() -> dict[str, pa.Table]:
    return simulated_tables()


@pytest.fixture(scope="module")
def valid_events() -> dict[str, dict[str, Any]]:
    return valid_samples()


def test_the_samples_cover_every_event_type_and_are_valid(valid_events):
    assert sorted(valid_events) == sorted({t for t, _ in registry()})
    assert all(accepts(t, e) for t, e in valid_events.items())


def test_the_simulated_tables_cover_every_simulated_event_type(sim_tables):
    assert {t for t, table in sim_tables.items() if table.num_rows} == {
        "sales_transaction", "lost_sale", "inventory_update", "customer_traffic",
        "price_change", "supplier_shipment"}


def accepts(event_type: str, event: dict[str, Any]) -> bool:
    try:
        contract(event_type).validate(event)
    except ContractViolation:
        return False
    return True


def one_row_verdict(event_type: str, event: dict[str, Any]) -> bool:
    return valid_rows(contract(event_type), pa.Table.from_pylist([event]))[0].as_py()


def test_every_simulated_row_is_valid_column_wise(sim_tables):
    for event_type, table in sim_tables.items():
        ok = valid_rows(contract(event_type), json_ready(table))
        assert pc.all(ok).as_py(), event_type
        assert len(ok) == table.num_rows


def test_column_encoded_json_equals_the_row_events(sim_tables):
    for event_type, table in sim_tables.items():
        encoded = [json.loads(doc) for doc in encode_json(json_ready(table))]
        assert encoded == to_json_events(table), event_type


def test_column_encoded_json_keeps_the_column_order(sim_tables):
    table = json_ready(sim_tables["price_change"])
    for doc in encode_json(table):
        assert list(json.loads(doc)) == table.column_names


def test_simulated_tables_need_no_row_encoding(sim_tables):
    for event_type, table in sim_tables.items():
        assert not pc.any(needs_row_encoding(json_ready(table))).as_py(), event_type


def test_json_ready_formats_timestamps_as_utc_text_with_z(sim_tables):
    table = json_ready(sim_tables["price_change"])
    assert pa.types.is_string(table["event_time"].type)
    assert all(t.endswith("Z") for t in table["event_time"].to_pylist())


def test_json_ready_refuses_timestamps_that_are_not_utc():
    table = pa.table({"event_time": pa.array([0], pa.timestamp("ms", tz="Europe/Paris"))})
    with pytest.raises(TypeError, match="event_time"):
        json_ready(table)


@pytest.mark.parametrize("text", ["a\x01b", "line\nbreak", "tab\there", "nul\x00", "del\x7f"])
def test_a_string_with_a_control_character_needs_row_encoding(text):
    table = pa.table({"error": ["clean", text, None]})
    assert needs_row_encoding(table).to_pylist() == [False, True, False]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_float_needs_row_encoding(value):
    table = pa.table({"unit_price": [1.5, value, None], "quantity": [1, 2, 3]})
    assert needs_row_encoding(table).to_pylist() == [False, True, False]


@pytest.mark.parametrize("text", ['say "hi"', "back\\slash", '\\"', "\\", '"', "ünï €😀",
                                  ""])
def test_encode_json_escapes_quotes_and_backslashes(text):
    table = pa.table({"error": [text, None], "n": [1, None], "ok": [True, False]})
    docs = [json.loads(doc) for doc in encode_json(table)]
    assert docs == [{"error": text, "n": 1, "ok": True}, {"error": None, "n": None, "ok": False}]


def test_encode_json_of_an_empty_table_is_empty():
    assert encode_json(pa.table({"n": pa.array([], pa.int64())})) == []


@pytest.mark.parametrize(("field", "extra"), [
    ("new_price", {"multipleOf": 0.01}),
    ("timestamp", {"format": "date-time"}),
    ("promotion_id", {"minProperties": 1}),
    ("old_price", {"not": {"enum": [1.0]}}),
])
def test_a_schema_keyword_the_columnar_validator_lacks_raises_unsupported_schema(
        field, extra, valid_events):
    base = contract("price_change")
    schema = copy.deepcopy(base.schema)
    schema["properties"][field].update(extra)
    modified = dataclasses.replace(base, schema=schema)
    with pytest.raises(UnsupportedSchema):
        valid_rows(modified, pa.Table.from_pylist([valid_events["price_change"]]))


@pytest.mark.parametrize("event_type", ["sales_transaction", "price_change", "dead_letter"])
def test_a_row_with_a_null_event_type_is_invalid_column_wise(event_type, valid_events):
    event = valid_events[event_type] | {"event_type": None}
    assert not accepts(event_type, event)
    assert one_row_verdict(event_type, event) is False


def test_a_null_event_type_in_one_row_of_a_string_column_fails_only_that_row(valid_events):
    good = valid_events["price_change"]
    table = pa.Table.from_pylist([good, good | {"event_type": None}, good])
    assert valid_rows(contract("price_change"), table).to_pylist() == [True, False, True]


def test_a_row_with_a_null_schema_version_is_invalid_column_wise(valid_events):
    event = valid_events["lost_sale"] | {"schema_version": None}
    assert not accepts("lost_sale", event)
    assert one_row_verdict("lost_sale", event) is False


def test_an_integral_float_in_an_integer_field_gets_the_row_validators_verdict(valid_events):
    event = valid_events["sales_transaction"] | {"quantity": 2.0}
    assert one_row_verdict("sales_transaction", event) == accepts("sales_transaction", event)


def test_a_missing_required_column_fails_every_row(sim_tables):
    table = json_ready(sim_tables["price_change"]).drop_columns(["old_price"])
    assert not pc.any(valid_rows(contract("price_change"), table)).as_py()


def test_an_extra_column_fails_every_row(sim_tables):
    table = json_ready(sim_tables["price_change"])
    table = table.append_column("colour", pa.array(["red"] * table.num_rows))
    assert not pc.any(valid_rows(contract("price_change"), table)).as_py()


def test_only_the_broken_row_of_a_table_is_invalid(sim_tables):
    table = json_ready(sim_tables["supplier_shipment"]).slice(0, 3)
    rows = table.to_pylist()
    rows[1]["quantity"] = 0
    verdict = valid_rows(contract("supplier_shipment"), pa.Table.from_pylist(rows, table.schema))
    assert verdict.to_pylist() == [True, False, True]


# ---- property: the columnar verdict equals the row validator's, for any one-row table ----

FIELD_NAMES = sorted({f for c in registry().values() for f in c.fields})
BOUNDARY_VALUES = [
    None, True, False, 0, 1, -1, 2, 0.0, -0.0, 0.5, 1.0, 2.0, 1.5, -0.01, 1000, 1001, 10000,
    10001, 1_000_000, 1_000_000.5, 100_000, -100_000, -100_001, 2**63 - 1, -(2**63), "",
    "x" * 64, "x" * 65, "S00001", "S0001", "P000001", "V0001", "USD", "usd", "sale", "return",
    "restock", "open", "critical", "late", "delivered", "promotion_start", TS,
    "2026-01-05T10:15:00", "2026-01-05T10:15:00.123456Z", "2026-01-05T10:15:00.1234567Z",
    "2026-01-05 10:15:00Z", UUID, UUID.upper(), "S00001\n", "price_change", "sales_transaction",
    [], ["a"], [1, 2], {"a": 1},
]
json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.one_of(
    st.sampled_from(BOUNDARY_VALUES),
    st.integers(-5, 20_000).map(float),  # integral floats: JSON numbers like 2.0
    st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=4),
)
mutations = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 30), json_values),
    st.tuples(st.just("delete"), st.integers(0, 30), st.none()),
    st.tuples(st.just("add"), st.sampled_from(FIELD_NAMES) | st.text(min_size=1, max_size=8),
              json_values),
)


def mutate(event: dict[str, Any], steps: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    event = dict(event)
    for op, where, value in steps:
        if op == "add":
            event.setdefault(where, value)
            continue
        if not event:
            continue
        name = list(event)[where % len(event)]
        if op == "set":
            event[name] = value
        else:
            del event[name]
    return event


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_columnar_verdict_equals_the_row_validators_for_any_mutation(data):
    samples = valid_samples()
    event_type = data.draw(st.sampled_from(sorted(samples)), label="event_type")
    steps = data.draw(st.lists(mutations, max_size=3), label="mutations")
    event = mutate(samples[event_type], steps)
    assume(event)
    try:
        table = pa.Table.from_pylist([event])
    except (pa.ArrowException, OverflowError):
        assume(False)  # a value Arrow cannot hold in a column; no table to validate
    expected = accepts(event_type, event)
    assert valid_rows(contract(event_type), table)[0].as_py() == expected, event
