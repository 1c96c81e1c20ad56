"""``parse_events`` and ``event_columns``: Kafka records in, typed
events with a verdict out. Events are written here by hand from the contracts
(``retail/contracts/schemas/<type>/v1.json``), not by the simulator."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from retail.transforms.validate import event_columns, parse_events

KAFKA_SCHEMA = T.StructType([
    T.StructField("key", T.BinaryType()), T.StructField("value", T.BinaryType()),
    T.StructField("topic", T.StringType()), T.StructField("partition", T.IntegerType()),
    T.StructField("offset", T.LongType()), T.StructField("timestamp", T.TimestampType()),
])
SALES_TOPIC = "retail-sales-transactions"
INVENTORY_TOPIC = "retail-inventory-updates"
KAFKA_TIME = datetime(2024, 3, 1, 10, 2, 31, tzinfo=UTC)
MAX_BYTES = 2048
VERDICT = ("reject_reason", "reject_field")


def iso(t: datetime) -> str:
    """The contracts' timestamp text: YYYY-MM-DDTHH:MM:SS.mmmZ."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def envelope(event_type: str, event_time: str) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
            "event_time": event_time}


def sales_transaction(event_time: str = "2024-03-01T10:02:30.123Z", **fields: Any
                      ) -> dict[str, Any]:
    return {**envelope("sales_transaction", event_time),
            "transaction_id": "T-000001", "line_number": 1, "transaction_type": "sale",
            "store_id": "S00001", "product_id": "P000001", "quantity": 2, "unit_price": 4.5,
            "discount_amount": 0.5, "line_total": 8.5, "promotion_id": None,
            "currency": "USD", "customer_id": None, "payment_method": "cash",
            "original_transaction_id": None, "timestamp": event_time, **fields}


def inventory_update(event_time: str = "2024-03-01T10:02:30.123Z", **fields: Any
                     ) -> dict[str, Any]:
    return {**envelope("inventory_update", event_time),
            "inventory_id": "I-000001", "store_id": "S00001", "product_id": "P000001",
            "quantity_change": -2, "new_quantity": 18, "reason": "sale",
            "reference_id": "T-000001", "timestamp": event_time, **fields}


def price_change(event_time: str = "2024-03-01T10:02:30.123Z", **fields: Any
                 ) -> dict[str, Any]:
    return {**envelope("price_change", event_time),
            "price_change_id": "PC-000001", "store_id": "S00001", "product_id": "P000001",
            "old_price": 4.5, "new_price": 3.99, "change_type": "promotion_start",
            "promotion_id": "PROMO-1", "timestamp": event_time, **fields}


def customer_traffic(event_time: str = "2024-03-01T10:00:00.000Z", **fields: Any
                     ) -> dict[str, Any]:
    return {**envelope("customer_traffic", event_time),
            "traffic_id": "CT-000001", "store_id": "S00001",
            "hour_start": "2024-03-01T09:00:00.000Z", "foot_traffic": 120,
            "transactions": 30, "conversion_rate": 0.25, "avg_basket_size": 3.5,
            "avg_basket_value": 42.0, "timestamp": event_time, **fields}


def without(event: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != name}


def encode(event: Any) -> bytes:
    return orjson.dumps(event)


def kafka(spark: SparkSession, *records: tuple[bytes | None, str]) -> DataFrame:
    """Kafka's columns for ``(value, topic)`` records, at offsets 0, 1, ..."""
    return spark.createDataFrame(
        [(b"S00001|P000001", value, topic, 0, offset, KAFKA_TIME)
         for offset, (value, topic) in enumerate(records)], KAFKA_SCHEMA)


def parse(spark: SparkSession, *records: tuple[bytes | None, str],
          max_future_minutes: float = 5.0) -> DataFrame:
    return parse_events(kafka(spark, *records), max_bytes=MAX_BYTES,
                        max_future_minutes=max_future_minutes)


# --- good events ---------------------------------------------------------------------------

def test_a_good_sale_passes_with_its_fields_typed_and_its_event_time_parsed(spark):
    event = sales_transaction()
    parsed = parse(spark, (encode(event), SALES_TOPIC))

    assertDataFrameEqual(
        parsed.select("topic", "partition", "offset", "kafka_time", "key", "payload",
                      "event_id", "event_type", "schema_version", "event_time", "store_id",
                      "product_id", "reject_reason", "reject_error", "reject_field"),
        spark.createDataFrame(
            [(SALES_TOPIC, 0, 0, KAFKA_TIME, "S00001|P000001", encode(event).decode(),
              event["event_id"], "sales_transaction", 1,
              datetime(2024, 3, 1, 10, 2, 30, 123000, tzinfo=UTC), "S00001", "P000001",
              None, None, None)],
            "topic string, partition int, offset long, kafka_time timestamp, key string, "
            "payload string, event_id string, event_type string, schema_version int, "
            "event_time timestamp, store_id string, product_id string, "
            "reject_reason string, reject_error string, reject_field string"))
    assertDataFrameEqual(
        parsed.select("data.transaction_id", "data.line_number", "data.transaction_type",
                      "data.quantity", "data.unit_price", "data.discount_amount",
                      "data.line_total", "data.promotion_id", "data.currency",
                      "data.customer_id", "data.timestamp"),
        spark.createDataFrame(
            [("T-000001", 1, "sale", 2, 4.5, 0.5, 8.5, None, "USD", None,
              "2024-03-01T10:02:30.123Z")],
            "transaction_id string, line_number long, transaction_type string, "
            "quantity long, unit_price double, discount_amount double, line_total double, "
            "promotion_id string, currency string, customer_id string, timestamp string"))


def test_the_parsed_columns_have_the_documented_types(spark):
    parsed = parse(spark, (encode(sales_transaction()), SALES_TOPIC))

    assertSchemaEqual(
        parsed.drop("data").schema,
        T.StructType.fromDDL(
            "topic string, partition int, offset long, kafka_time timestamp, key string, "
            "payload string, payload_base64 string, event_id string, event_type string, "
            "schema_version int, event_time timestamp, store_id string, product_id string, "
            "reject_reason string, reject_error string, reject_field string"))
    assert parsed.schema["data"].dataType["quantity"].dataType == T.LongType()
    assert parsed.schema["data"].dataType["unit_price"].dataType == T.DoubleType()
    assert parsed.schema["data"].dataType["new_quantity"].dataType == T.LongType()


def test_unicode_junk_inside_a_string_field_still_parses_and_survives_intact(spark):
    junk = "Zoë 😀\u202e\u0000 ͡° ﷽ 漢字"
    event = sales_transaction(customer_id=junk)
    parsed = parse(spark, (encode(event), SALES_TOPIC))

    assertDataFrameEqual(
        parsed.select("data.customer_id", *VERDICT),
        [Row(customer_id=junk, reject_reason=None, reject_field=None)])


def test_events_of_several_types_pass_on_their_own_topics(spark):
    parsed = parse(spark, (encode(sales_transaction()), SALES_TOPIC),
                   (encode(inventory_update()), INVENTORY_TOPIC),
                   (encode(price_change()), "retail-price-changes"))

    assertDataFrameEqual(
        parsed.select("offset", "event_type", "data.new_quantity", "data.new_price",
                      *VERDICT),
        [Row(offset=0, event_type="sales_transaction", new_quantity=None, new_price=None,
             reject_reason=None, reject_field=None),
         Row(offset=1, event_type="inventory_update", new_quantity=18, new_price=None,
             reject_reason=None, reject_field=None),
         Row(offset=2, event_type="price_change", new_quantity=None, new_price=3.99,
             reject_reason=None, reject_field=None)])


def test_a_whole_number_written_as_a_float_in_an_integer_field_passes_as_an_integer(spark):
    parsed = parse(spark, (encode(sales_transaction(quantity=2.0)), SALES_TOPIC))

    assertDataFrameEqual(parsed.select("data.quantity", *VERDICT),
                         [Row(quantity=2, reject_reason=None, reject_field=None)])


def test_an_event_slightly_ahead_of_the_clock_but_within_the_allowance_passes(spark):
    soon = iso(datetime.now(UTC) + timedelta(minutes=1))
    parsed = parse(spark, (encode(sales_transaction(event_time=soon)), SALES_TOPIC),
                   max_future_minutes=5)

    assertDataFrameEqual(parsed.select(*VERDICT),
                         [Row(reject_reason=None, reject_field=None)])


# --- rejections ----------------------------------------------------------------------------

REJECTIONS = [
    # (case, value, topic, reject_reason, reject_field)
    ("not json", b"this is not json", SALES_TOPIC, "serialization_error", None),
    ("invalid utf-8", b'{"event_type": "\xff\xfe"}', SALES_TOPIC, "serialization_error", None),
    ("a json array", encode([sales_transaction()]), SALES_TOPIC, "serialization_error", None),
    ("a json string", b'"sales_transaction"', SALES_TOPIC, "serialization_error", None),
    ("a tombstone", None, SALES_TOPIC, "serialization_error", None),
    ("too big", encode(sales_transaction()) + b" " * MAX_BYTES, SALES_TOPIC, "invalid", None),
    ("unknown type", encode({**sales_transaction(), "event_type": "refund"}), SALES_TOPIC,
     "unknown_event_type", "event_type"),
    ("unknown version", encode({**sales_transaction(), "schema_version": 7}), SALES_TOPIC,
     "unknown_event_type", "event_type"),
    ("quantity as text", encode(sales_transaction(quantity="2")), SALES_TOPIC,
     "contract_violation", "quantity"),
    ("quantity 0", encode(sales_transaction(quantity=0)), SALES_TOPIC,
     "contract_violation", "quantity"),
    ("negative unit_price", encode(sales_transaction(unit_price=-1.0)), SALES_TOPIC,
     "contract_violation", "unit_price"),
    ("missing store_id", encode(without(sales_transaction(), "store_id")), SALES_TOPIC,
     "contract_violation", "store_id"),
    ("an extra field", encode(sales_transaction(loyalty_tier="gold")), SALES_TOPIC,
     "contract_violation", "loyalty_tier"),
    ("bad store_id", encode(sales_transaction(store_id="store-1")), SALES_TOPIC,
     "contract_violation", "store_id"),
    ("wrong topic", encode(sales_transaction()), INVENTORY_TOPIC,
     "contract_violation", "event_type"),
    ("far future", encode(sales_transaction(
        event_time=iso(datetime.now(UTC) + timedelta(days=2)))), SALES_TOPIC,
     "invalid", "event_time"),
]


@pytest.mark.parametrize("value,topic,reason,field",
                         [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_a_bad_record_is_rejected_with_its_reason_and_field(spark, value, topic, reason,
                                                             field):
    parsed = parse(spark, (value, topic))

    assertDataFrameEqual(parsed.select(*VERDICT),
                         [Row(reject_reason=reason, reject_field=field)])


def test_a_rejected_record_keeps_its_payload_and_says_what_was_wrong(spark):
    bad_utf8 = b'{"event_type": "\xff"}'
    parsed = parse(spark, (b"this is not json", SALES_TOPIC), (bad_utf8, SALES_TOPIC),
                   (None, SALES_TOPIC), (encode([1, 2]), SALES_TOPIC))
    rows = {r.offset: r for r in parsed.collect()}

    assert rows[0].payload == "this is not json"
    assert rows[0].reject_error.startswith("not valid JSON: ")
    assert rows[1].payload == '{"event_type": "\ufffd"}'
    assert rows[1].reject_error == "not valid UTF-8 at byte 16"
    assert base64.b64decode(rows[1].payload_base64) == bad_utf8  # the exact bytes
    assert [rows[i].payload_base64 for i in (0, 2, 3)] == [None] * 3  # payload is exact
    assert rows[2].payload is None
    assert rows[2].reject_error == "record has no value (tombstone)"
    assert rows[3].payload == "[1,2]"
    assert rows[3].reject_error == "not a JSON object but a list"


def test_a_payload_over_the_size_limit_is_invalid_and_the_error_names_its_size(spark):
    value = encode(sales_transaction()) + b" " * MAX_BYTES
    parsed = parse(spark, (value, SALES_TOPIC))

    assertDataFrameEqual(
        parsed.select("reject_reason", "reject_error", "event_id"),
        [Row(reject_reason="invalid",
             reject_error=f"payload of {len(value)} bytes exceeds the {MAX_BYTES}-byte limit",
             event_id=None)])


def test_a_contract_violation_keeps_the_envelope_of_the_rejected_event(spark):
    event = sales_transaction(quantity=0)
    parsed = parse(spark, (encode(event), SALES_TOPIC))

    assertDataFrameEqual(
        parsed.select("event_id", "event_type", "event_time", "store_id", "data.quantity",
                      "reject_reason", "reject_field"),
        spark.createDataFrame(
            [(event["event_id"], "sales_transaction",
              datetime(2024, 3, 1, 10, 2, 30, 123000, tzinfo=UTC), None, None,
              "contract_violation", "quantity")],
            "event_id string, event_type string, event_time timestamp, store_id string, "
            "quantity long, reject_reason string, reject_field string"))
    assert "quantity" in parsed.first().reject_error


def test_an_event_on_the_wrong_topic_names_the_topic_it_belongs_on(spark):
    parsed = parse(spark, (encode(sales_transaction()), INVENTORY_TOPIC))

    assertDataFrameEqual(
        parsed.select("reject_reason", "reject_error"),
        [Row(reject_reason="contract_violation",
             reject_error=f"sales_transaction events belong on {SALES_TOPIC}, not "
                          f"{INVENTORY_TOPIC}")])


def test_an_event_far_in_the_future_is_invalid_and_the_error_quotes_its_time(spark):
    later = iso(datetime.now(UTC) + timedelta(days=2))
    parsed = parse(spark, (encode(sales_transaction(event_time=later)), SALES_TOPIC),
                   max_future_minutes=5)

    assertDataFrameEqual(
        parsed.select("reject_reason", "reject_error", "reject_field"),
        [Row(reject_reason="invalid",
             reject_error=f"event_time {later} is more than 5 minutes in the future",
             reject_field="event_time")])


def test_a_fractional_future_allowance_is_not_truncated_to_whole_minutes(spark):
    # 75 s ahead with an allowance of 1.5 minutes (90 s): inside the allowance
    soon = iso(datetime.now(UTC) + timedelta(seconds=75))
    parsed = parse(spark, (encode(sales_transaction(event_time=soon)), SALES_TOPIC),
                   max_future_minutes=1.5)

    assertDataFrameEqual(parsed.select(*VERDICT),
                         [Row(reject_reason=None, reject_field=None)])


def test_an_event_time_that_is_no_real_date_does_not_pass_as_a_good_event_without_a_time(
        spark):
    # matches the contract's timestamp pattern, but February has no 30th
    event = sales_transaction(event_time="2024-02-30T10:00:00.000Z")
    parsed = parse(spark, (encode(event), SALES_TOPIC))

    # either rejected, naming event_time, or not at all a good event with no event time
    good_without_time = parsed.where(F.col("reject_reason").isNull()
                                     & F.col("event_time").isNull())
    assertDataFrameEqual(good_without_time.select("data.event_time", *VERDICT), [])


# --- references ----------------------------------------------------------------------------

# --- event_columns -------------------------------------------------------------------------

def test_event_columns_lists_the_envelope_first_then_the_contracts_fields():
    assert event_columns("sales_transaction") == [
        "event_id", "event_type", "schema_version", "event_time",
        "transaction_id", "line_number", "transaction_type", "store_id", "product_id",
        "quantity", "unit_price", "discount_amount", "line_total", "promotion_id",
        "currency", "customer_id", "payment_method", "original_transaction_id", "timestamp"]
    assert event_columns("inventory_update") == [
        "event_id", "event_type", "schema_version", "event_time",
        "inventory_id", "store_id", "product_id", "quantity_change", "new_quantity",
        "reason", "reference_id", "timestamp"]


def test_an_integer_too_large_for_64_bits_is_rejected_without_failing_the_batch(spark):
    # the contract sets no maximum on foot_traffic; 2**63 is one past the largest long
    big = customer_traffic(foot_traffic=2**63)
    good = customer_traffic()
    parsed = parse(spark, (encode(big), "retail-customer-events"),
                   (encode(good), "retail-customer-events"))

    assertDataFrameEqual(
        parsed.select("offset", F.col("reject_reason").isNotNull().alias("rejected"),
                      "reject_field"),
        [Row(offset=0, rejected=True, reject_field="foot_traffic"),
         Row(offset=1, rejected=False, reject_field=None)])
