"""Event contracts accept every event the platform produces and reject broken ones by field."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from retail.contracts import (
    ENVELOPE_FIELDS,
    ContractViolation,
    contract,
    event_key,
    event_types,
    validate_event,
)
from retail.sim import SimConfig, Simulator, generate_catalog, to_json_events

SIMULATED_TYPES = {"sales_transaction", "lost_sale", "inventory_update", "customer_traffic",
                   "price_change", "supplier_shipment"}
UUID = "906ff809-ecfb-4fb3-a082-070428e63faa"
TS = "2026-01-05T10:15:00Z"


def envelope(event_type: str) -> dict[str, Any]:
    return {"event_id": UUID, "event_type": event_type, "schema_version": 1, "event_time": TS}


VALID: dict[str, dict[str, Any]] = {
    "sales_transaction": envelope("sales_transaction") | {
        "transaction_id": "T-1", "line_number": 1, "transaction_type": "sale",
        "store_id": "S00001", "product_id": "P000001", "quantity": 2, "unit_price": 3.5,
        "discount_amount": 0.0, "line_total": 7.0, "promotion_id": None, "currency": "USD",
        "customer_id": None, "payment_method": "cash", "original_transaction_id": None,
        "timestamp": TS},
    "inventory_update": envelope("inventory_update") | {
        "inventory_id": "I-1", "store_id": "S00001", "product_id": "P000001",
        "quantity_change": -2, "new_quantity": 40, "reason": "sale", "reference_id": "T-1",
        "timestamp": TS},
    "lost_sale": envelope("lost_sale") | {
        "lost_sale_id": "L-1", "transaction_id": "T-1", "store_id": "S00001",
        "product_id": "P000001", "requested_quantity": 3, "fulfilled_quantity": 1,
        "lost_quantity": 2, "unit_price": 3.5, "timestamp": TS},
    "customer_traffic": envelope("customer_traffic") | {
        "traffic_id": "C-1", "store_id": "S00001", "hour_start": "2026-01-05T10:00:00Z",
        "foot_traffic": 120, "transactions": 30, "conversion_rate": 0.25,
        "avg_basket_size": 3.2, "avg_basket_value": 18.4, "timestamp": TS},
    "price_change": envelope("price_change") | {
        "price_change_id": "PC-1", "store_id": "S00001", "product_id": "P000001",
        "old_price": 3.5, "new_price": 2.99, "change_type": "promotion_start",
        "promotion_id": "PR-1", "timestamp": TS},
    "supplier_shipment": envelope("supplier_shipment") | {
        "shipment_id": "SH-1", "supplier_id": "V0001", "store_id": "S00001",
        "product_id": "P000001", "quantity": 48, "unit_cost": 1.2, "status": "ordered",
        "ordered_at": TS, "expected_arrival": "2026-01-08T09:00:00Z", "timestamp": TS},
    "restock_alert": envelope("restock_alert") | {
        "alert_id": "A-1", "store_id": "S00001", "product_id": "P000001",
        "current_quantity": 3, "reorder_point": 12, "days_of_cover": 0.5,
        "stock_out_risk": 0.9, "recommended_order_qty": 48, "severity": "high",
        "status": "open", "timestamp": TS},
    "dead_letter": envelope("dead_letter") | {
        "source_topic": "retail-sales-transactions", "intended_event_type": "sales_transaction",
        "key": "S00001|P000001", "reason": "contract_violation",
        "error": "sales_transaction v1: quantity must be bigger than or equal to 1",
        "error_field": "quantity", "payload": '{"quantity": 0}', "producer": "simulator"},
}


def valid(event_type: str) -> dict[str, Any]:
    return copy.deepcopy(VALID[event_type])


def with_(event_type: str, /, **changes: Any) -> dict[str, Any]:
    return valid(event_type) | changes


def without(event_type: str, name: str) -> dict[str, Any]:
    event = valid(event_type)
    del event[name]
    return event


# (event_type, broken event, field the violation must name)
BROKEN: dict[str, tuple[str, Callable[[], dict[str, Any]], str]] = {
    "wrong type": ("sales_transaction", lambda: with_("sales_transaction", quantity="2"),
                   "quantity"),
    "missing required field": ("sales_transaction",
                               lambda: without("sales_transaction", "unit_price"), "unit_price"),
    "missing envelope field": ("price_change", lambda: without("price_change", "event_id"),
                               "event_id"),
    "unknown extra field": ("sales_transaction",
                            lambda: with_("sales_transaction", colour="red"), "colour"),
    "negative price": ("sales_transaction",
                       lambda: with_("sales_transaction", unit_price=-1.0), "unit_price"),
    "zero price": ("price_change", lambda: with_("price_change", new_price=0), "new_price"),
    "quantity 0": ("sales_transaction", lambda: with_("sales_transaction", quantity=0),
                   "quantity"),
    "bad enum reason": ("inventory_update",
                        lambda: with_("inventory_update", reason="stolen"), "reason"),
    "bad dead-letter reason": ("dead_letter",
                               lambda: with_("dead_letter", reason="oops"), "reason"),
    "timestamp without Z": ("sales_transaction",
                            lambda: with_("sales_transaction", timestamp="2026-01-05T10:15:00"),
                            "timestamp"),
    "timestamp with offset": ("lost_sale",
                              lambda: with_("lost_sale", timestamp="2026-01-05T10:15:00+00:00"),
                              "timestamp"),
    "timestamp not ISO": ("sales_transaction",
                          lambda: with_("sales_transaction", timestamp="05/01/2026 10:15"),
                          "timestamp"),
    "event_time not ISO": ("customer_traffic",
                           lambda: with_("customer_traffic", event_time="yesterday"),
                           "event_time"),
    "bad store id": ("restock_alert", lambda: with_("restock_alert", store_id="S1"),
                     "store_id"),
    "store id with trailing newline": ("restock_alert",
                                       lambda: with_("restock_alert", store_id="S00001\n"),
                                       "store_id"),
    "bad event id": ("supplier_shipment",
                     lambda: with_("supplier_shipment", event_id="not-a-uuid"), "event_id"),
    "null in a non-nullable field": ("supplier_shipment",
                                     lambda: with_("supplier_shipment", status=None), "status"),
    "zero quantity change": ("inventory_update",
                             lambda: with_("inventory_update", quantity_change=0),
                             "quantity_change"),
    "conversion rate above 1": ("customer_traffic",
                                lambda: with_("customer_traffic", conversion_rate=1.5),
                                "conversion_rate"),
}


@pytest.fixture(scope="module")
def simulated_events() -> dict[str, list[dict[str, Any]]]:
    """Every event of a small two-day chain, as JSON-ready dicts, by event type."""
    sim = Simulator(generate_catalog(3, 200, 7), SimConfig(seed=7, rate=40, days=2))
    sim.stock[::5] = 0  # some empty shelves, so lost sales happen too
    out: dict[str, list[dict[str, Any]]] = {}
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            out.setdefault(event_type, []).extend(to_json_events(table))
    return out


def test_the_simulator_emits_every_simulated_event_type(simulated_events):
    emitted = {t for t, events in simulated_events.items() if events}
    assert emitted == SIMULATED_TYPES


def test_every_simulated_event_validates_against_its_own_contract(simulated_events):
    for event_type, events in simulated_events.items():
        for event in events:
            assert validate_event(event).event_type == event_type


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_a_hand_built_valid_event_validates(event_type):
    found = validate_event(valid(event_type))
    assert (found.event_type, found.version) == (event_type, 1)


def test_the_hand_built_samples_cover_every_event_type():
    assert sorted(VALID) == event_types()


@pytest.mark.parametrize(("event_type", "build", "field"), BROKEN.values(), ids=list(BROKEN))
def test_a_broken_event_is_rejected_naming_the_field(event_type, build, field):
    with pytest.raises(ContractViolation) as info:
        validate_event(build())
    assert info.value.field == field
    assert field in str(info.value)
    assert info.value.event_type == event_type


def test_an_event_type_that_differs_from_the_contract_const_is_rejected():
    event = with_("sales_transaction", event_type="price_change")
    with pytest.raises(ContractViolation) as info:
        contract("sales_transaction").validate(event)
    assert info.value.field == "event_type"
    assert "event_type" in str(info.value)


def test_an_unknown_event_type_is_rejected_naming_the_known_types():
    with pytest.raises(ContractViolation) as info:
        validate_event(with_("sales_transaction", event_type="refund"))
    assert info.value.field == "event_type"
    assert "event_type" in str(info.value)
    assert all(t in str(info.value) for t in event_types())


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_an_unknown_or_non_integer_schema_version_is_rejected(version):
    with pytest.raises(ContractViolation) as info:
        validate_event(with_("sales_transaction", schema_version=version))
    assert info.value.field == "schema_version"
    assert "schema_version" in str(info.value)


@pytest.mark.parametrize("event", [None, [1, 2], "{}", 42], ids=repr)
def test_a_non_object_event_is_rejected(event):
    with pytest.raises(ContractViolation) as info:
        validate_event(event)
    assert info.value.field is None
    assert "JSON object" in str(info.value)


def test_a_nan_price_is_rejected_because_json_has_no_nan():
    # orjson would publish it as null, which the contract forbids.
    with pytest.raises(ContractViolation) as info:
        validate_event(with_("sales_transaction", unit_price=math.nan))
    assert info.value.field == "unit_price"


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_every_schema_requires_the_envelope_fields(event_type):
    schema = contract(event_type).schema
    assert set(ENVELOPE_FIELDS) <= set(schema["required"])
    assert set(ENVELOPE_FIELDS) <= set(schema["properties"])
    assert schema["properties"]["event_type"] == {"const": event_type}
    assert schema["properties"]["schema_version"] == {"const": 1}


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_every_schema_forbids_unknown_fields(event_type):
    assert contract(event_type).schema["additionalProperties"] is False


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_every_schema_is_a_valid_draft_07_schema(event_type):
    jsonschema.Draft7Validator.check_schema(contract(event_type).schema)


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_the_reference_implementation_accepts_the_valid_samples(event_type):
    assert jsonschema.Draft7Validator(contract(event_type).schema).is_valid(valid(event_type))


# A trailing newline after a pattern match is accepted by jsonschema (Python's `$`) but not
# by ECMA-262 regular expressions, which JSON Schema specifies; our validator is right there.
AGREEMENT_CASES = {k: v for k, v in BROKEN.items() if k != "store id with trailing newline"}


@pytest.mark.parametrize(("event_type", "build", "field"), AGREEMENT_CASES.values(),
                         ids=list(AGREEMENT_CASES))
def test_the_reference_implementation_also_rejects_the_broken_samples(event_type, build, field):
    event = build()
    assert not jsonschema.Draft7Validator(contract(event_type).schema).is_valid(event)
    with pytest.raises(ContractViolation):
        contract(event_type).validate(event)


def test_the_reference_implementation_agrees_on_every_simulated_event_type(simulated_events):
    for event_type, events in simulated_events.items():
        validator = jsonschema.Draft7Validator(contract(event_type).schema)
        for event in events[:50]:
            assert validator.is_valid(event), (event_type, event)


def test_an_event_key_is_store_id_pipe_product_id():
    assert event_key(valid("sales_transaction")) == "S00001|P000001"


def test_a_store_level_event_key_uses_a_star_for_the_product():
    assert event_key(valid("customer_traffic")) == "S00001|*"


def test_an_event_key_uses_a_star_for_a_null_product():
    assert event_key({"store_id": "S00002", "product_id": None}) == "S00002|*"
