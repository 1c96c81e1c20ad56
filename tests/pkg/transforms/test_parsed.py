"""``retail.transforms.parsed``: the content hash, the IPC blobs, and Spark's duplicate
memory keyed on the hash (records written by hand, as in ``test_validate``)."""

from __future__ import annotations

import uuid

import pyarrow as pa
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from retail.transforms.events import drop_duplicate_events
from retail.transforms.parsed import from_blobs, parsed_batches, to_blobs
from retail.transforms.validate import parse_events
from tests.pkg.transforms.test_validate import KAFKA_TIME, SALES_TOPIC, encode, kafka, \
    sales_transaction

OPTIONS = {"max_bytes": 65_536, "max_future_minutes": 5.0}
E1, E2 = str(uuid.uuid4()), str(uuid.uuid4())


def records(*values: bytes) -> pa.RecordBatch:
    n = len(values)
    return pa.RecordBatch.from_pydict({
        "key": pa.array([b"S00001|P000001"] * n, pa.binary()),
        "value": pa.array(list(values), pa.binary()),
        "topic": pa.array([SALES_TOPIC] * n), "partition": pa.array([0] * n, pa.int32()),
        "offset": pa.array(range(n), pa.int64()),
        "timestamp": pa.array([KAFKA_TIME] * n, pa.timestamp("us", "UTC"))})


def parsed(*values: bytes) -> pa.Table:
    return pa.Table.from_batches(list(parsed_batches(iter([records(*values)]), **OPTIONS)))


def test_a_copy_hashes_alike_whatever_its_key_order_and_spacing_and_a_change_does_not():
    sale = sales_transaction(event_id=E1)
    reordered = dict(reversed(list(sale.items())))
    got = parsed(encode(sale), encode(reordered),
                 encode(sale).replace(b",", b", "),  # spacing
                 encode({**sale, "quantity": 3, "line_total": 13.0}),  # another version
                 encode({**sale, "event_id": E2}))  # another event, the same fields
    hashes = got["content_hash"].to_pylist()
    assert got["reject_reason"].to_pylist() == [None] * 5
    assert hashes[0] == hashes[1] == hashes[2]
    assert len({hashes[0], hashes[3], hashes[4]}) == 3


def test_a_null_field_hashes_like_a_missing_one_and_the_field_it_sits_in_counts():
    sale = sales_transaction(event_id=E1)
    # promotion_id and customer_id are null in the sale; a value moved from one nullable
    # field to another must change the hash
    one = parsed(encode({**sale, "promotion_id": "X"}), encode({**sale, "customer_id": "X"}),
                 encode(sale), encode(sale))
    hashes = one["content_hash"].to_pylist()
    assert hashes[0] != hashes[1] and hashes[2] == hashes[3] != hashes[0]


def test_blobs_carry_the_parsed_rows_whole():
    batches = list(parsed_batches(iter([records(encode(sales_transaction()), b"{bad")]),
                                  **OPTIONS))
    blobs = pa.Table.from_batches(list(to_blobs(iter(batches))))
    assert blobs.column_names == ["parsed"] and blobs.num_rows == len(batches)
    assert from_blobs(blobs).to_pylist() == pa.Table.from_batches(batches).to_pylist()
    assert from_blobs(blobs.slice(0, 0)) is None


def test_sparks_memory_keyed_on_the_hash_drops_copies_and_lets_other_versions_pass(spark):
    sale = sales_transaction(event_id=E1)
    events = parse_events(kafka(
        spark, (encode(sale), SALES_TOPIC),
        (encode(dict(reversed(list(sale.items())))), SALES_TOPIC),  # the producer's retry
        (encode({**sale, "quantity": 5, "line_total": 22.0}), SALES_TOPIC),  # changed
        (encode({**sale, "event_id": E2}), SALES_TOPIC)), content_hash=True, **OPTIONS)

    kept = drop_duplicate_events(events, within_minutes=10, content="content_hash")

    assertDataFrameEqual(kept.groupBy("event_id").count(),
                         [Row(event_id=E1, count=2), Row(event_id=E2, count=1)])


def test_blobs_are_compressed_so_the_jvm_moves_few_bytes():
    """Most of a parsed event is the null fields of other event types; uncompressed, 1,000
    sales took about 1 KB each in a blob."""
    sales = [encode(sales_transaction(event_id=str(uuid.uuid4()))) for _ in range(1000)]
    batches = list(parsed_batches(iter([records(*sales)]), **OPTIONS))
    blobs = pa.Table.from_batches(list(to_blobs(iter(batches))))
    per_event = blobs["parsed"].combine_chunks().buffers()[2].size / 1000
    raw = sum(b.nbytes for b in batches) / 1000
    assert per_event < raw / 3, (per_event, raw)
    assert from_blobs(blobs).num_rows == 1000
