"""Both parse paths judge the contracts' semantic rules alike: a sale line's arithmetic,
payload timestamps bounded by what they mean, keys given once. The row path (``_verdict``)
names the reason and field; the fast path takes a record only if the row path would, and
takes the good ones (so good data near a bound stays fast)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from retail.transforms.parse_fast import split_fast
from retail.transforms.validate import _parse_batches, _row_path, _verdict, timestamp_fields

from .test_parse_fast import (CUSTOMERS, DATA, INVENTORY, MAX_BYTES, SALES, TYPES, by_offset,
                              record_batch, simulated)
from .test_validate import customer_traffic, envelope, inventory_update, sales_transaction

SHIPMENTS = "retail-supplier-shipments"
T = "2024-03-01T10:02:30.123Z"


def supplier_shipment(**fields: Any) -> dict[str, Any]:
    return {**envelope("supplier_shipment", T), "shipment_id": "SH-000001",
            "supplier_id": "V0001", "store_id": "S00001", "product_id": "P000001",
            "quantity": 48, "unit_cost": 1.2, "status": "delivered",
            "ordered_at": "2024-02-26T22:55:00.000Z",
            "expected_arrival": "2024-03-01T10:55:00.000Z", "timestamp": T, **fields}


def dup(event: dict[str, Any], old: bytes, new: bytes) -> bytes:
    raw = orjson.dumps(event)
    assert old in raw
    return raw.replace(old, new)


BAD = "contract_violation"
# (case, record, topic, None for a good event else the field the row path names)
CASES = [
    ("line of 1 x 1.00 totalling 999,999", sales_transaction(
        quantity=1, unit_price=1.0, discount_amount=0.0, line_total=999_999.0), SALES,
     "line_total"),
    ("return a cent and more off", sales_transaction(transaction_type="return",
                                                    line_total=8.52), SALES, "line_total"),
    ("sale just within a cent", sales_transaction(line_total=8.509), SALES, None),
    ("return just within a cent", sales_transaction(transaction_type="return",
                                                   line_total=8.491), SALES, None),
    ("sale timestamp in 2034", sales_transaction(timestamp="2034-03-01T10:02:30.123Z"),
     SALES, "timestamp"),
    ("sale timestamp 5 min ahead", sales_transaction(timestamp="2024-03-01T10:07:30.123Z"),
     SALES, None),
    ("sale timestamp 5 min 1 ms ahead",
     sales_transaction(timestamp="2024-03-01T10:07:30.124Z"), SALES, "timestamp"),
    ("inventory timestamp a day behind",
     inventory_update(timestamp="2024-02-29T10:02:30.123Z"), INVENTORY, "timestamp"),
    ("traffic timestamp in 2099", customer_traffic(timestamp="2099-03-01T10:00:00.000Z"),
     CUSTOMERS, "timestamp"),
    ("traffic hour 2 h before", customer_traffic(hour_start="2024-03-01T08:00:00.000Z"),
     CUSTOMERS, "hour_start"),
    ("traffic hour in progress", customer_traffic(hour_start="2024-03-01T09:30:00.000Z"),
     CUSTOMERS, None),
    ("shipment as simulated", supplier_shipment(), SHIPMENTS, None),
    ("order after its delivery", supplier_shipment(ordered_at="2024-03-01T10:02:31.000Z"),
     SHIPMENTS, "ordered_at"),
    ("arrival before the order", supplier_shipment(expected_arrival="2024-02-26T22:54:59.000Z"),
     SHIPMENTS, "expected_arrival"),
    ("arrival 91 days ahead", supplier_shipment(expected_arrival="2024-05-27T22:55:00.000Z"),
     SHIPMENTS, "expected_arrival"),
    ("arrival 90 days ahead", supplier_shipment(expected_arrival="2024-05-26T22:55:00.000Z"),
     SHIPMENTS, None),
    ("a quote and colon in a string", sales_transaction(customer_id='C1":"quantity":9'),
     SALES, None),
]
# Arrow's JSON reader refuses a record that gives a key twice, so every record of its topic
# in the batch goes to the row path: the fast path needs no check of its own (pinned here).
DUPLICATE_KEYS = [
    ("a key twice, same value", dup(sales_transaction(), b'"quantity":2',
                                    b'"quantity":2,"quantity":2'), SALES, "quantity"),
    ("a key twice, last one good", dup(sales_transaction(), b'"quantity":2',
                                       b'"quantity":200,"quantity":2'), SALES, "quantity"),
    ("a key twice, spaced", dup(sales_transaction(), b'"quantity":2',
                                b'"quantity" :200, "quantity": 2'), SALES, "quantity"),
    ("a key twice, escaped", dup(sales_transaction(), b'"quantity":2',
                                 b'"quantit\\u0079":200,"quantity":2'), SALES, "quantity"),
    ("a null then a value", dup(inventory_update(), b'"reference_id":"T-000001"',
                                b'"reference_id":null,"reference_id":"T-000001"'), INVENTORY,
     "reference_id"),
]


def record(value: dict[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else orjson.dumps(value)


@pytest.fixture(scope="module")
def ordinary() -> list[tuple[bytes, str]]:
    return simulated(60)


@pytest.mark.parametrize("value,topic,field", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_row_path_names_the_field_and_the_fast_path_never_takes_more(
        ordinary, value, topic, field):
    value = record(value)
    _, verdict = _verdict(value, topic, MAX_BYTES)
    assert (verdict and (verdict[0], verdict[2])) == (field and (BAD, field)), verdict
    batch = record_batch([*ordinary, (value, topic)])
    fast, _ = split_fast(batch, MAX_BYTES, TYPES, timestamp_fields())
    taken = {int(i) for rows, _ in fast for i in rows}
    assert (len(ordinary) in taken) == (field is None)
    assert taken >= set(range(len(ordinary)))  # the neighbours stay on the fast path


@pytest.mark.parametrize("value,topic,field", [c[1:] for c in DUPLICATE_KEYS],
                         ids=[c[0] for c in DUPLICATE_KEYS])
def test_a_key_given_twice_is_named_by_the_row_path_and_its_topic_read_goes_there_whole(
        ordinary, value, topic, field):
    _, verdict = _verdict(value, topic, MAX_BYTES)
    assert verdict[0] == BAD and verdict[2] == field
    assert "is given more than once" in verdict[1]
    batch = record_batch([*ordinary, (value, topic)])
    fast, _ = split_fast(batch, MAX_BYTES, TYPES, timestamp_fields())
    taken = {int(i) for rows, _ in fast for i in rows}
    same_topic = {i for i, (_, t) in enumerate(ordinary) if t == topic}
    assert taken == set(range(len(ordinary))) - same_topic


def test_a_mixed_batch_gets_the_same_verdicts_from_both_paths(ordinary):
    cases = [*CASES, *DUPLICATE_KEYS]
    records = [*ordinary, *((record(v), t) for _, v, t, _ in cases)]
    batch = record_batch(records)
    got = by_offset(_parse_batches(iter([batch]), MAX_BYTES))
    want = by_offset([_row_path(batch, MAX_BYTES, DATA)])
    assert got == want
    refused = [got[len(ordinary) + i]["reject_field"] for i in range(len(cases))]
    assert refused == [c[3] for c in cases]
