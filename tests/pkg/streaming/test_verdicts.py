"""``check_references`` and ``mark_late``: the driver's checks of a collected micro-batch
(Arrow tables shaped like the Spark job's output; the columns they do not read left out)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from retail.streaming.verdicts import check_references, mark_late, newest_good

REF_SCHEMA = pa.schema([("event_id", pa.string()), ("store_id", pa.string()),
                        ("product_id", pa.string()), ("reject_reason", pa.string()),
                        ("reject_error", pa.string()), ("reject_field", pa.string())])
TS = pa.timestamp("us", "UTC")  # what Spark's toArrow gives for a timestamp
EVENTS_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("topic", pa.string()), ("partition", pa.int32()),
    ("offset", pa.int64()), ("event_time", TS), ("reject_reason", pa.string()),
    ("reject_error", pa.string()), ("reject_field", pa.string())])
TOPIC = "retail-sales-transactions"
WATERMARK = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)


def table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows],
                                schema)


def rows(t: pa.Table) -> list[tuple]:
    return [tuple(r.values()) for r in t.to_pylist()]


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 3, 1, 9 + (minute // 60), minute % 60, second, tzinfo=UTC)


# --- check_references -----------------------------------------------------------------------

def test_check_references_rejects_unknown_stores_and_products_and_leaves_the_rest():
    stores = pa.array(["S00001", "S00002"])
    products = pa.array(["P000001"])
    events = table([
        ("known", "S00001", "P000001", None, None, None),
        ("store-level", "S00002", None, None, None, None),
        ("unknown store", "S09999", "P000001", None, None, None),
        ("unknown product", "S00001", "P099999", None, None, None),
        ("both unknown", "S09999", "P099999", None, None, None),
        ("already rejected", "S09999", "P099999", "contract_violation", "quantity < 1",
         "quantity"),
    ], REF_SCHEMA)

    assert rows(check_references(events, stores, products)) == [
        ("known", "S00001", "P000001", None, None, None),
        ("store-level", "S00002", None, None, None, None),
        ("unknown store", "S09999", "P000001", "invalid", "unknown store S09999", "store_id"),
        ("unknown product", "S00001", "P099999", "invalid", "unknown product P099999",
         "product_id"),
        ("both unknown", "S09999", "P099999", "invalid", "unknown store S09999", "store_id"),
        ("already rejected", "S09999", "P099999", "contract_violation", "quantity < 1",
         "quantity"),
    ]


def test_check_references_keeps_the_columns_of_its_input_in_order():
    events = table([("e", "S00001", "P000001", None, None, None)], REF_SCHEMA)

    checked = check_references(events, pa.array(["S00001"]), pa.array(["P000001"]))
    assert checked.schema == events.schema


# --- mark_late ------------------------------------------------------------------------------

def test_only_good_events_older_than_the_watermark_are_marked_late():
    events = table([
        ("old", TOPIC, 0, 1, at(59, 30), None, None, None),
        ("on the mark", TOPIC, 0, 2, at(60), None, None, None),
        ("recent", TOPIC, 0, 3, at(61), None, None, None),
        ("old and bad", TOPIC, 0, 4, at(30), "contract_violation", "quantity < 1",
         "quantity"),
    ], EVENTS_SCHEMA)

    assert rows(mark_late(events, watermark=WATERMARK)) == [
        ("old", TOPIC, 0, 1, at(59, 30), "late",
         "event_time 2024-03-01 09:59:30 is behind the watermark 2024-03-01 10:00:00",
         "event_time"),
        ("on the mark", TOPIC, 0, 2, at(60), None, None, None),
        ("recent", TOPIC, 0, 3, at(61), None, None, None),
        ("old and bad", TOPIC, 0, 4, at(30), "contract_violation", "quantity < 1",
         "quantity"),
    ]


def test_without_a_watermark_nothing_is_late():
    events = table([
        ("ancient", TOPIC, 0, 1, datetime(2001, 1, 1, tzinfo=UTC), None, None, None),
    ], EVENTS_SCHEMA)

    assert rows(mark_late(events, watermark=None)) == [
        ("ancient", TOPIC, 0, 1, datetime(2001, 1, 1, tzinfo=UTC), None, None, None),
    ]


def test_marking_late_events_keeps_the_columns_and_their_types():
    events = table([("e", TOPIC, 0, 1, at(0), None, None, None)], EVENTS_SCHEMA)

    assert mark_late(events, watermark=WATERMARK).schema == events.schema


# --- newest_good ----------------------------------------------------------------------------

def test_the_newest_good_event_ignores_rejected_rows():
    events = table([
        ("good", TOPIC, 0, 1, at(10), None, None, None),
        ("newer but bad", TOPIC, 0, 2, at(50), "invalid", "unknown store S09999", "store_id"),
        ("good too", TOPIC, 0, 3, at(20), None, None, None),
    ], EVENTS_SCHEMA)

    assert newest_good(events) == at(20)
    assert newest_good(events.slice(1, 1)) is None
    assert newest_good(events.slice(0, 0)) is None
