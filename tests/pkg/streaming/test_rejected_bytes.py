"""Quarantine rows and dead letters keep a rejected record's exact bytes (issue 15): the
records go through the real parse, then into ``quarantine_rows`` and ``dead_letters``."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pyarrow as pa

from retail.contracts import validate_event
from retail.streaming.batch_tables import quarantine_rows
from retail.streaming.publish import StreamPublisher
from retail.transforms.validate import _parse_batches

MAX_BYTES = 256
SALES = "retail-sales-transactions"
RECORDS = {
    "bad utf-8": b'{"event_id": "\xff\xfe\xc3\x28"}',
    "bad utf-8, too big": b'{"padding": "\xff' + b"x" * MAX_BYTES + b'"}',
    "not json": "ceci n'est pas du JSON: déjà".encode(),
    "tombstone": None,
    "empty": b"",
}


class Sent:
    """A producer that validates each event against its contract and keeps it."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def send(self, event: dict) -> None:
        validate_event(event)
        self.events.append(orjson.loads(orjson.dumps(event)))  # as a consumer reads it


def rejected() -> pa.Table:
    n = len(RECORDS)
    batch = pa.RecordBatch.from_pydict({
        "key": [k.encode() for k in RECORDS], "value": list(RECORDS.values()),
        "topic": [SALES] * n, "partition": [0] * n, "offset": list(range(n)),
        "timestamp": [datetime(2024, 3, 1, tzinfo=UTC)] * n},
        schema=pa.schema([("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()),
                          ("partition", pa.int32()), ("offset", pa.int64()),
                          ("timestamp", pa.timestamp("us", "UTC"))]))
    parsed = pa.Table.from_batches(list(_parse_batches(iter([batch]), MAX_BYTES)))
    none = pa.nulls(n, pa.string())
    return parsed.append_column("event_type", none).append_column(
        "event_time", pa.nulls(n, pa.timestamp("ms", "UTC")))


def test_every_quarantine_row_holds_the_exact_bytes_in_base64():
    rows = {r["key"]: r for r in quarantine_rows(rejected()).to_pylist()}

    for key, value in RECORDS.items():
        assert base64.b64decode(rows[key]["payload_base64"]) == (value or b""), key
    assert rows["bad utf-8"]["payload"] == '{"event_id": "\ufffd\ufffd\ufffd("}'
    assert rows["not json"]["payload"] == RECORDS["not json"].decode()


def test_a_dead_letter_carries_the_bytes_when_its_text_is_not_exact():
    sent = Sent()
    publisher = StreamPublisher(sent, max_payload_chars=MAX_BYTES)  # type: ignore[arg-type]
    assert publisher.dead_letters(rejected()) == len(RECORDS)
    letters = {d["key"]: d for d in sent.events}

    assert base64.b64decode(letters["bad utf-8"]["payload_base64"]) == RECORDS["bad utf-8"]
    assert letters["bad utf-8"]["payload"] == '{"event_id": "\ufffd\ufffd\ufffd("}'
    # exact text: no copy; cut past the limit: the whole record is in quarantine
    for key in ("not json", "tombstone", "empty", "bad utf-8, too big"):
        assert "payload_base64" not in letters[key], key
    assert letters["not json"]["payload"].encode() == RECORDS["not json"]
    assert "whole in quarantine_events" in letters["bad utf-8, too big"]["payload"]
