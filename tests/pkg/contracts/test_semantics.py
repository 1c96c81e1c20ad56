"""The contracts check what JSON Schema cannot: a sale line's arithmetic, each payload
timestamp bounded by what it means, keys given once; row-wise and column-wise alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.contracts import ContractViolation, contract, semantics
from retail.contracts.columnar import valid_rows
from retail.contracts.semantics import duplicate_key, rules_for
from retail.sim.profiles import CATEGORIES

UUID = "906ff809-ecfb-4fb3-a082-070428e63faa"
T0 = datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
SHOP_EVENTS = ("sales_transaction", "lost_sale", "inventory_update", "customer_traffic",
               "price_change", "supplier_shipment")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def at(**delta: float) -> str:
    """T0 moved by ``delta`` (timedelta's keywords), as contract text."""
    return iso(T0 + timedelta(**delta))


def event(event_type: str, **changes: Any) -> dict[str, Any]:
    """A valid event of ``event_type`` happening at T0, with ``changes``."""
    own: dict[str, dict[str, Any]] = {
        "sales_transaction": {
            "transaction_id": "T-1", "line_number": 1, "transaction_type": "sale",
            "store_id": "S00001", "product_id": "P000001", "quantity": 3, "unit_price": 2.99,
            "discount_amount": 0.9, "line_total": 8.07, "promotion_id": "PR-1",
            "currency": "USD", "customer_id": None, "payment_method": "cash",
            "original_transaction_id": None},
        "lost_sale": {
            "lost_sale_id": "L-1", "transaction_id": "T-1", "store_id": "S00001",
            "product_id": "P000001", "requested_quantity": 3, "fulfilled_quantity": 1,
            "lost_quantity": 2, "unit_price": 3.5},
        "inventory_update": {
            "inventory_id": "I-1", "store_id": "S00001", "product_id": "P000001",
            "quantity_change": -2, "new_quantity": 40, "reason": "sale", "reference_id": "T-1"},
        "customer_traffic": {
            "traffic_id": "H-1", "store_id": "S00001", "hour_start": at(hours=-1),
            "foot_traffic": 120, "transactions": 30, "conversion_rate": 0.25,
            "avg_basket_size": 3.2, "avg_basket_value": 18.4},
        "price_change": {
            "price_change_id": "PC-1", "store_id": "S00001", "product_id": "P000001",
            "old_price": 3.5, "new_price": 2.99, "change_type": "promotion_start",
            "promotion_id": "PR-1"},
        "supplier_shipment": {
            "shipment_id": "SH-1", "supplier_id": "V0001", "store_id": "S00001",
            "product_id": "P000001", "quantity": 48, "unit_cost": 1.2, "status": "delivered",
            "ordered_at": at(days=-4), "expected_arrival": at(days=-1)},
        "restock_alert": {
            "alert_id": "A-1", "store_id": "S00001", "product_id": "P000001",
            "current_quantity": 3, "reorder_point": 12, "days_of_cover": 0.5,
            "stock_out_risk": 0.9, "recommended_order_qty": 48, "severity": "high",
            "status": "open"},
    }
    return {"event_id": UUID, "event_type": event_type, "schema_version": 1,
            "event_time": iso(T0), **own[event_type], "timestamp": iso(T0), **changes}


def row_verdict(e: dict[str, Any]) -> tuple[str, str] | None:
    """None if the row validator accepts ``e``, else (field, message)."""
    try:
        contract(e["event_type"]).validate(e)
    except ContractViolation as exc:
        return exc.field, str(exc)
    return None


def column_verdicts(events: list[dict[str, Any]]) -> list[bool]:
    return valid_rows(contract(events[0]["event_type"]),
                      pa.Table.from_pylist(events)).to_pylist()


def assert_both(events: list[dict[str, Any]], field: str | None) -> None:
    """Each event is refused naming ``field`` (None: accepted), row- and column-wise."""
    for e in events:
        got = row_verdict(e)
        assert (got and got[0]) == field, got
    assert column_verdicts(events) == [field is None] * len(events)


# --- a sale line's arithmetic ----------------------------------------------------------


def test_a_line_of_one_at_1_00_with_a_total_of_999999_is_refused_naming_both_amounts():
    e = event("sales_transaction", quantity=1, unit_price=1.0, discount_amount=0.0,
              line_total=999_999.0)
    field, message = row_verdict(e)
    assert field == "line_total"
    assert "line_total 999999.0 is not quantity * unit_price - discount_amount" in message
    assert "= 1.00 (tolerance 0.01)" in message
    assert column_verdicts([e]) == [False]


@pytest.mark.parametrize("off", [0.0, 0.004, 0.005, -0.005, 0.0099, -0.0099])
@pytest.mark.parametrize("kind", ["sale", "return"])
def test_a_line_total_within_a_cent_of_the_arithmetic_passes(kind, off):
    e = event("sales_transaction", transaction_type=kind, line_total=round(8.07 + off, 4))
    assert_both([e], None)


@pytest.mark.parametrize("off", [0.011, -0.011, 0.02, 1.0, -8.07])
@pytest.mark.parametrize("kind", ["sale", "return"])
def test_a_line_total_more_than_a_cent_off_is_refused_for_sales_and_returns(kind, off):
    e = event("sales_transaction", transaction_type=kind, line_total=round(8.07 + off, 4))
    assert_both([e], "line_total")


def test_a_big_line_keeps_its_arithmetic_exactly_enough():
    e = event("sales_transaction", quantity=10_000, unit_price=99.99, discount_amount=999.9,
              line_total=998_900.1)
    assert_both([e], None)
    assert_both([{**e, "line_total": 998_900.12}], "line_total")


def test_whole_numbers_keep_the_arithmetic_like_decimals():
    assert_both([event("sales_transaction", quantity=2, unit_price=5, discount_amount=1,
                       line_total=9)], None)


# --- payload timestamps ----------------------------------------------------------------


@pytest.mark.parametrize("event_type", SHOP_EVENTS)
def test_a_timestamp_far_in_the_future_is_refused_though_event_time_is_fine(event_type):
    e = event(event_type, timestamp=at(days=3650))
    field, message = row_verdict(e)
    assert field == "timestamp"
    assert "is 3650 days, 0:00:00 after event_time" in message
    assert "within 5 minutes of event_time" in message
    assert column_verdicts([e]) == [False]


@pytest.mark.parametrize("event_type", SHOP_EVENTS)
def test_a_timestamp_within_5_minutes_of_event_time_passes_and_beyond_is_refused(event_type):
    assert_both([event(event_type, timestamp=at(minutes=m)) for m in (-5, -1, 0, 1, 5)], None)
    assert_both([event(event_type, timestamp=at(minutes=5, microseconds=1)),
                 event(event_type, timestamp=at(minutes=-5, microseconds=-1)),
                 event(event_type, timestamp=at(days=-400))], "timestamp")


def test_a_restock_alerts_timestamp_is_when_it_was_published_so_any_delay_passes():
    assert_both([event("restock_alert", timestamp=at(days=d)) for d in (-1, 0, 3, 400)],
                None)


def test_traffic_reports_the_hour_that_ends_at_its_event_time_or_is_still_running():
    assert_both([event("customer_traffic", hour_start=at(hours=h)) for h in (-1, -0.5, 0)],
                None)
    assert_both([event("customer_traffic", hour_start=at(hours=-1, microseconds=-1)),
                 event("customer_traffic", hour_start=at(microseconds=1)),
                 event("customer_traffic", hour_start=at(days=-30))], "hour_start")


def test_an_order_is_placed_before_its_event_and_at_most_a_year_before():
    ok = [event("supplier_shipment", status="ordered", ordered_at=at(),
                expected_arrival=at(days=5)),
          event("supplier_shipment", ordered_at=at(days=-365), expected_arrival=at(days=-360))]
    assert_both(ok, None)
    bad = [event("supplier_shipment", ordered_at=at(seconds=1), expected_arrival=at(days=2)),
           event("supplier_shipment", ordered_at=at(days=-366), expected_arrival=at(days=-360))]
    assert_both(bad, "ordered_at")


def test_an_expected_arrival_is_from_the_order_to_90_days_after_it():
    assert_both([event("supplier_shipment", expected_arrival=at(days=d)) for d in (-4, 0, 86)],
                None)
    field, message = row_verdict(event("supplier_shipment", expected_arrival=at(days=86,
                                                                                 seconds=1)))
    assert field == "expected_arrival"
    assert "from ordered_at to 90 days after it" in message
    assert_both([event("supplier_shipment", expected_arrival=at(days=-4, seconds=-1)),
                 event("supplier_shipment", expected_arrival=at(days=3650))],
                "expected_arrival")


def test_the_simulators_promised_lead_times_are_within_the_horizon():
    assert max(c.lead_days[1] for c in CATEGORIES) <= 90


@pytest.mark.parametrize("name", ["timestamp", "event_time"])
def test_a_time_a_rule_reads_that_is_no_real_date_is_named(name):
    e = event("price_change", **{name: "2026-02-30T10:15:00Z"})
    field, message = row_verdict(e)
    assert field == name
    assert "is not a real date and time" in message
    assert column_verdicts([e]) == [False]


def test_a_year_zero_time_is_refused_both_ways():
    e = event("lost_sale", event_time="0000-01-05T10:15:00Z", timestamp="0000-01-05T10:15:00Z")
    assert row_verdict(e)[0] == "timestamp"  # the first time the rule reads
    assert column_verdicts([e]) == [False]


def test_a_bad_time_in_one_row_leaves_the_other_rows_verdicts_alone():
    events = [event("inventory_update"),
              event("inventory_update", timestamp="2026-13-01T00:00:00Z"),
              event("inventory_update", timestamp=at(hours=2))]
    assert column_verdicts(events) == [row_verdict(e) is None for e in events]
    assert column_verdicts(events) == [True, False, False]


# --- the rules as data -------------------------------------------------------------------


def test_every_shop_event_type_has_its_rules_and_the_others_none():
    for event_type in SHOP_EVENTS:
        assert "timestamp" in {r.field for r in contract(event_type).rules}
    assert {r.field for r in contract("sales_transaction").rules} == {"line_total", "timestamp"}
    assert contract("restock_alert").rules == contract("dead_letter").rules == ()


def test_a_rule_naming_a_field_its_contract_lacks_is_refused_when_the_registry_is_built():
    with pytest.raises(ValueError, match=r"sales_transaction\.line_total needs \['quantity'"):
        rules_for("sales_transaction", ("line_total", "unit_price", "discount_amount",
                                        "timestamp", "event_time"))


line = st.tuples(st.integers(1, 10_000), st.integers(1, 100_000).map(lambda c: c / 100),
                 st.floats(0, 1), st.floats(-0.03, 0.03) | st.sampled_from([0.01, -0.01]))
gap_s = st.integers(-400 * 86_400, 400 * 86_400) | st.sampled_from(
    [-300, 300, -301, 301, 0, -3600, -3601, 1, 90 * 86_400, 90 * 86_400 + 1, -365 * 86_400])


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(line, min_size=1, max_size=8), gaps=st.lists(gap_s, min_size=4,
                                                                   max_size=4))
def test_row_and_column_verdicts_agree_on_any_arithmetic_and_any_time_gap(lines, gaps):
    sales = []
    for q, price, share, off in lines:
        disc = round(q * price * share, 2)
        total = round(q * price - disc + off, 2)
        if 0 <= disc <= 1e6 and 0 <= total <= 1e6:
            sales.append(event("sales_transaction", quantity=q, unit_price=price,
                               discount_amount=disc, line_total=total,
                               timestamp=at(seconds=gaps[0])))
    shipments = [event("supplier_shipment", timestamp=at(seconds=gaps[0]),
                       ordered_at=at(seconds=gaps[1]),
                       expected_arrival=at(seconds=gaps[1] + gaps[2])),
                 event("customer_traffic", hour_start=at(seconds=gaps[3]))]
    for events in (sales, shipments[:1], shipments[1:]):
        if events:
            assert column_verdicts(events) == [row_verdict(e) is None for e in events]


# --- keys given once -----------------------------------------------------------------------


def text(e: dict[str, Any]) -> bytes:
    return orjson.dumps(e)


@pytest.mark.parametrize("twice", [
    b'"quantity":3,"quantity":3',                  # even the same value
    b'"quantity":30,"quantity":3',                 # orjson keeps the last
    b'"quantity" : 30, "quantity"\t:3',            # whitespace around the colon
    b'"quantit\\u0079":30,"quantity":3',           # the same key spelt with an escape
    b'"quantity":null,"quantity":3',
])
def test_a_key_given_twice_is_refused_naming_the_key(twice):
    raw = text(event("sales_transaction")).replace(b'"quantity":3', twice)
    parsed = orjson.loads(raw)
    assert contract("sales_transaction").validate(parsed) is None  # the last value is fine
    with pytest.raises(ContractViolation, match="key quantity is given more than once") as exc:
        contract("sales_transaction").validate_keys(raw, parsed)
    assert exc.value.field == "quantity"


@pytest.mark.parametrize("customer", ['a":b', 'x\\":y', '"quantity":3', '\u00e9":'])
def test_a_quote_and_colon_inside_a_string_is_no_key(customer):
    e = event("sales_transaction", customer_id=customer)
    assert duplicate_key(text(e), e) is None
    assert duplicate_key(text(e).decode(), e) is None


def test_an_ordinary_record_is_judged_without_parsing_it_again(monkeypatch):
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(semantics.json, "loads", refuse)
    e = event("sales_transaction")
    assert duplicate_key(text(e), e) is None
    assert duplicate_key(orjson.dumps(e, option=orjson.OPT_INDENT_2), e) is None
