"""Producing events to Kafka: validated, keyed, acknowledged by all replicas, and counted.

:class:`EventProducer` wraps one librdkafka producer (confluent-kafka: acks=all, batching
with linger, retries), which costs a few microseconds of Python a record where kafka-python
cost tens. Every event is checked against its contract first; an event that fails goes to
the dead-letter topic with the reason instead of its own topic. A delivery that fails after
the retries is dead-lettered too, and if even that fails it is appended to a local spool
file, so nothing is lost silently.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaException, Producer

from retail.contracts import (
    DEAD_LETTER_TOPIC,
    ContractViolation,
    contract,
    event_key,
    topic,
    topic_for_event_type,
    validate_event,
)
from retail.contracts.columnar import encode_json, json_ready, needs_row_encoding, valid_rows
from retail.io.kafka import partition_for
from retail.io.kafka_fetch import librdkafka_config
from retail.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass
class ProducerStats:
    sent: int = 0  # handed to the client for an event topic
    acked: int = 0  # acknowledged by the broker (event topics)
    failed: int = 0  # delivery failed after retries
    invalid: int = 0  # rejected by the contract
    dead_lettered: int = 0  # acknowledged on the dead-letter topic
    spooled: int = 0  # could not even be dead-lettered: written to the spool file

    def add(self, other: ProducerStats) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)


class EventSink(Protocol):
    """The interface of an event producer; :class:`EventProducer` is the Kafka backend."""

    def send(self, event: Mapping[str, Any]) -> None: ...
    def flush(self, timeout_s: float | None = None) -> None: ...
    def close(self) -> None: ...


def dead_letter_event(*, payload: object, reason: str, error: str, field: str | None,
                      source_topic: str | None, event_type: str | None, key: str | None,
                      producer: str) -> dict[str, Any]:
    """A ``dead_letter`` event that records what was wrong and carries the original payload."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else (
        orjson.dumps(payload, default=repr).decode() if not isinstance(payload, str) else payload)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "event_id": str(uuid.uuid4()), "event_type": "dead_letter", "schema_version": 1,
        "event_time": now, "source_topic": source_topic, "intended_event_type": event_type,
        "key": key, "reason": reason, "error": error or "unknown error", "error_field": field,
        "payload": text, "producer": producer,
    }


class EventProducer:
    """Validate, key and send events; count every outcome.

    librdkafka reports each delivery to a callback that only queues it; the outcomes are
    settled in batches (:meth:`_reap`, every 1,024 sends and in :meth:`flush`): each is
    counted and passed to ``on_delivery(topic, key, value, error)`` if given (``error`` is
    None on success), and a failed event is dead-lettered.
    """

    def __init__(self, settings: KafkaSettings, *, spool: Path | None = None,
                 name: str = "retail-producer",
                 on_delivery: Callable[[str, bytes, bytes, Exception | None], None] | None = None):
        self.settings = settings
        self.name = name
        self.spool = spool
        self.on_delivery = on_delivery
        self.stats = ProducerStats()
        self._partitions: dict[str, int] = {}
        self._pending = 0  # handed to librdkafka, outcome not yet settled
        self._reports: list[tuple[Any, Any]] = []
        self._closed = False
        self._producer = Producer({
            **librdkafka_config(settings),
            "acks": "all",
            "linger.ms": settings.linger_ms,
            "batch.size": settings.batch_size,
            "message.send.max.retries": settings.retries,
            "request.timeout.ms": settings.request_timeout_ms,
            "message.timeout.ms": settings.delivery_timeout_ms,
            "max.in.flight.requests.per.connection": 5,
            "enable.idempotence": False,
            "logger": logging.getLogger("kafka.librdkafka"),  # quiet like kafka-python's
        })

    def _partition(self, topic_name: str, key: bytes) -> int:
        n = self._partitions.get(topic_name)
        if n is None:
            n = topic(topic_name).partitions
            self._partitions[topic_name] = n
        return partition_for(key, n)

    def send(self, event: Mapping[str, Any]) -> None:
        """Validate and send one event (a dict as in its JSON contract)."""
        try:
            contract = validate_event(event)
            value = orjson.dumps(event)
        except (ContractViolation, TypeError) as exc:
            self.stats.invalid += 1
            et = event.get("event_type") if isinstance(event, Mapping) else None
            self.dead_letter(event, reason="contract_violation" if isinstance(
                exc, ContractViolation) else "serialization_error", error=str(exc),
                field=getattr(exc, "field", None), event_type=et if isinstance(et, str) else None)
            return
        self._send(contract.topic, event_key(event).encode(), value)

    def send_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        for e in events:
            self.send(e)

    def send_table(self, event_type: str, table: pa.Table) -> None:
        """Validate and send a table of events of one type (columns as in the contract).

        Valid rows are encoded column-wise; invalid rows take the row path, which names
        the field in the dead-letter record. If a valid row needs row encoding (control
        characters), the whole table goes row by row so that per-key order holds.
        """
        if table.num_rows == 0:
            return
        c = contract(event_type)
        doc = json_ready(table)
        ok = valid_rows(c, doc)
        if pc.any(pc.and_(ok, needs_row_encoding(doc))).as_py():
            self.send_many(doc.to_pylist())
            return
        if not pc.all(ok).as_py():
            self.send_many(doc.filter(pc.invert(ok)).to_pylist())
            doc = doc.filter(ok)
        keys = pc.binary_join_element_wise(
            pc.fill_null(doc["store_id"], "*") if "store_id" in doc.column_names else "*",
            pc.fill_null(doc["product_id"], "*") if "product_id" in doc.column_names else "*",
            "|")
        for key, value in zip(pc.cast(keys, pa.binary()).to_pylist(), encode_json(doc)):
            self._send(c.topic, key, value)

    def _send(self, topic_name: str, key: bytes, value: bytes) -> None:
        partition = self._partition(topic_name, key)
        while True:
            try:
                self._producer.produce(topic_name, value, key, partition,
                                       on_delivery=self._report)
                break
            except BufferError:  # librdkafka's queue is full: let deliveries drain
                self._producer.poll(0.1)
                self._reap()
        self.stats.sent += 1
        self._pending += 1
        if self._pending % 1024 == 0:
            self._producer.poll(0)
            self._reap()

    def _report(self, error: Any, message: Any) -> None:
        self._reports.append((error, message))

    def _reap(self) -> None:
        """Settle the reported deliveries: count them, dead-letter the ones that failed."""
        reports, self._reports = self._reports, []
        for error, message in reports:
            self._pending -= 1
            topic_name, key, value = message.topic(), message.key(), message.value()
            exc = None if error is None else KafkaException(error)
            if self.on_delivery is not None:
                self.on_delivery(topic_name, key, value, exc)
            if topic_name == DEAD_LETTER_TOPIC:
                if exc is None:
                    self.stats.dead_lettered += 1
                else:
                    self._spool(value, exc)
            elif exc is None:
                self.stats.acked += 1
            else:
                self.stats.failed += 1
                log.warning("delivery failed", extra={"retail_fields": {
                    "topic": topic_name, "error": repr(exc)}})
                self.dead_letter(value, reason="delivery_failed", error=repr(exc),
                                 field=None, event_type=None, source_topic=topic_name,
                                 key=key.decode())

    def dead_letter(self, payload: object, *, reason: str, error: str, field: str | None,
                    event_type: str | None, source_topic: str | None = None,
                    key: str | None = None) -> None:
        """Send a dead-letter record; spool it to disk if the dead-letter topic fails too."""
        if source_topic is None and event_type:
            try:
                source_topic = topic_for_event_type(event_type)
            except KeyError:
                source_topic = None
        if key is None and isinstance(payload, Mapping):
            key = event_key(payload)
        dl = dead_letter_event(payload=payload, reason=reason, error=error, field=field,
                               source_topic=source_topic, event_type=event_type, key=key,
                               producer=self.name)
        self._send(DEAD_LETTER_TOPIC, (key or "*|*").encode(), orjson.dumps(dl))
        self.stats.sent -= 1  # `sent` counts event-topic sends only

    def _spool(self, value: bytes, exc: Exception | None) -> None:
        self.stats.spooled += 1
        log.error("dead-letter delivery failed; spooling",
                  extra={"retail_fields": {"error": repr(exc), "spool": str(self.spool)}})
        if self.spool is not None:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            with self.spool.open("ab") as fh:
                fh.write(value + b"\n")

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every send is acknowledged or failed, and count the outcomes.

        Settling can send more (dead letters of failed sends), hence the loop.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._pending:
            left = -1 if deadline is None else max(0.0, deadline - time.monotonic())
            self._producer.flush(left)
            before = self._pending
            self._reap()
            if self._pending and self._pending == before and left == 0.0:
                raise TimeoutError(f"{self._pending} sends still unconfirmed "
                                   f"after {timeout_s}s")

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Flush outstanding events and close the client (once everything is settled: a
        flush that timed out raises, and librdkafka frees the client with the object)."""
        self.flush(timeout_s)
        if not self._closed:
            self._closed = True
            self._producer.close()
