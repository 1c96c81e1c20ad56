"""The columnar fast path of record parsing agrees with the row path (the reference) record
for record, takes every ordinary event, and leaves everything unusual to the row path."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pyarrow as pa
import pytest

from retail.contracts.columnar import encode_json, json_ready
from retail.contracts.registry import registry
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.transforms.parse_fast import split_fast
from retail.transforms.validate import (_ARROW_TYPES, _parse_batches, _row_path, field_types,
                                        timestamp_fields)

from .test_validate import customer_traffic, inventory_update, sales_transaction, without

MAX_BYTES = 4096
SALES = "retail-sales-transactions"
INVENTORY = "retail-inventory-updates"
CUSTOMERS = "retail-customer-events"
TYPES = {n: _ARROW_TYPES[k] for n, k in field_types().items()}
DATA = pa.struct([(n, t) for n, t in TYPES.items()])
KAFKA = pa.schema([("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()),
                   ("partition", pa.int32()), ("offset", pa.int64()),
                   ("timestamp", pa.timestamp("us", "UTC"))])


def simulated(n_max: int = 3000) -> list[tuple[bytes, str]]:
    """Records as the producers write them (columnar JSON), every event type."""
    sim = Simulator(generate_catalog(5, 20, 7), SimConfig(seed=7, rate=2.0, days=1,
                                                          start=date(2024, 3, 1)))
    out: list[tuple[bytes, str]] = []
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            if table.num_rows:
                topic = registry()[(event_type, 1)].topic
                out += [(v, topic) for v in encode_json(json_ready(table))]
        if len(out) >= n_max:
            break
    return out


def record_batch(records: list[tuple[bytes | None, str]]) -> pa.RecordBatch:
    n = len(records)
    return pa.RecordBatch.from_pydict({
        "key": [b"S1|P1"] * n, "value": [v for v, _ in records],
        "topic": [t for _, t in records], "partition": [0] * n, "offset": list(range(n)),
        "timestamp": [datetime(2024, 3, 1, tzinfo=UTC)] * n}, schema=KAFKA)


def by_offset(batches) -> dict[int, dict]:
    rows = pa.Table.from_batches(list(batches)).to_pylist()
    out = {r["offset"]: r for r in rows}
    assert len(out) == len(rows), "a record came out twice"
    return out


def enc(event) -> bytes:
    return orjson.dumps(event)


POISON = [
    (b"not json", SALES), (b"[1, 2]", SALES), (b'"text"', SALES), (None, SALES), (b"", SALES),
    (b'{"event_type": "\xff\xfe"}', SALES),
    (enc(sales_transaction(quantity="2")), SALES),
    (enc(sales_transaction(quantity=2.0)), SALES),  # JSON Schema: 2.0 is an integer
    (enc(sales_transaction(quantity=7)).replace(b'"quantity":7', b'"quantity":' + str(2 ** 70).encode()), SALES),
    (enc(without(sales_transaction(), "store_id")), SALES),
    (enc(without(sales_transaction(), "promotion_id")), SALES),  # required, nullable
    (enc(sales_transaction(loyalty_tier=None)), SALES),  # an extra field, even null
    (enc(sales_transaction(traffic_id=None)), SALES),
    (enc(customer_traffic(transaction_id=None)), CUSTOMERS),  # a sibling type's field
    (enc(sales_transaction()), INVENTORY),  # wrong topic
    (enc(sales_transaction(event_time="2024-02-30T10:00:00.000Z")), SALES),
    (enc(sales_transaction(timestamp="2024-01-01T23:59:60.000Z")), SALES),
    (enc(sales_transaction(event_type="refund")), SALES),
    (enc({**sales_transaction(), "schema_version": 7}), SALES),
    (enc(sales_transaction()).replace(b",", b",\n", 1), SALES),  # a line break inside
    (enc(sales_transaction()) + b" " * MAX_BYTES, SALES),
    (enc(sales_transaction(product_id="P\u00e9\u2603")), SALES),
    (enc(inventory_update(reference_id=None)), INVENTORY),  # null, present: good
    # a key twice: the last one counts, in both paths
    (enc(sales_transaction(quantity=7)).replace(b'"quantity":7', b'"quantity":7,"quantity":0'),
     SALES),
    (enc(sales_transaction(quantity=7)).replace(b'"quantity":7', b'"quantity":0,"quantity":7'),
     SALES),
]


def test_every_ordinary_event_takes_the_fast_path():
    records = simulated()
    assert len({t for _, t in records}) >= 5
    fast, slow = split_fast(record_batch(records), MAX_BYTES, TYPES, timestamp_fields())
    assert len(slow) == 0
    assert sum(len(rows) for rows, _ in fast) == len(records)


@pytest.mark.parametrize("value,topic", POISON, ids=range(len(POISON)))
def test_an_unusual_record_gets_the_row_paths_verdict(value, topic):
    records = [*simulated(50), (value, topic)]
    batch = record_batch(records)
    got = by_offset(_parse_batches(iter([batch]), MAX_BYTES))
    want = by_offset([_row_path(batch, MAX_BYTES, DATA)])
    assert got == want


def test_fast_and_row_paths_agree_on_a_mixed_batch():
    records = [*simulated(), *POISON]
    batch = record_batch(records)
    got = by_offset(_parse_batches(iter([batch]), MAX_BYTES))
    want = by_offset([_row_path(batch, MAX_BYTES, DATA)])
    assert got.keys() == want.keys() == set(range(len(records)))
    assert got == want
    good = sum(r["reject_reason"] is None for r in got.values())
    assert good >= len(records) - len(POISON)


def test_records_cannot_shift_onto_each_other_through_line_breaks():
    """Two events in one record (split by a line break) beside a blank record would read as
    two rows for two records, the second landing on the blank one."""
    two = enc(sales_transaction()) + b"\n" + enc(sales_transaction())
    batch = record_batch([(two, SALES), (b" ", SALES)])
    got = by_offset(_parse_batches(iter([batch]), MAX_BYTES))
    assert got == by_offset([_row_path(batch, MAX_BYTES, DATA)])
    assert [got[i]["reject_reason"] for i in (0, 1)] == ["serialization_error"] * 2
