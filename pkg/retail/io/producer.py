"""Producing events to Kafka: validated, keyed, acknowledged by all replicas, and counted.

:class:`EventProducer` wraps one kafka-python producer (acks=all, batching with linger,
retries). Every event is checked against its contract first; an event that fails goes to
the dead-letter topic with the reason instead of its own topic. A delivery that fails after
the retries is dead-lettered too, and if even that fails it is appended to a local spool
file, so nothing is lost silently.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from kafka import KafkaProducer

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

    Delivery outcomes are settled from the in-flight queue, oldest first, instead of by a
    kafka-python callback per record (which costs more than the send itself); each settled
    record is counted and passed to ``on_delivery(topic, key, value, error)`` if given
    (``error`` is None on success). :meth:`flush` settles everything.
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
        self._inflight: deque[tuple[Any, str, bytes, bytes]] = deque()
        self._producer = KafkaProducer(
            **settings.client_config(),
            acks="all",
            linger_ms=settings.linger_ms,
            batch_size=settings.batch_size,
            retries=settings.retries,
            delivery_timeout_ms=settings.delivery_timeout_ms,
            max_in_flight_requests_per_connection=5,
        )

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
        future = self._producer.send(topic_name, key=key, value=value,
                                     partition=self._partition(topic_name, key))
        self.stats.sent += 1
        self._inflight.append((future, topic_name, key, value))
        if len(self._inflight) >= 4096:
            self._reap()

    def _reap(self) -> None:
        """Count finished sends, oldest first; dead-letter the ones that failed."""
        while self._inflight:
            future, topic_name, key, value = self._inflight[0]
            if not future.is_done:
                return
            self._inflight.popleft()
            if self.on_delivery is not None:
                self.on_delivery(topic_name, key, value, future.exception)
            if topic_name == DEAD_LETTER_TOPIC:
                if future.succeeded():
                    self.stats.dead_lettered += 1
                else:
                    self._spool(value, future.exception)
            elif future.succeeded():
                self.stats.acked += 1
            else:
                self.stats.failed += 1
                log.warning("delivery failed", extra={"retail_fields": {
                    "topic": topic_name, "error": repr(future.exception)}})
                self.dead_letter(value, reason="delivery_failed", error=repr(future.exception),
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
        while self._inflight:
            newest = self._inflight[-1][0]
            self._producer.flush(timeout=timeout_s)
            if not newest.is_done:
                raise TimeoutError(f"{len(self._inflight)} sends still unconfirmed "
                                   f"after {timeout_s}s")
            self._reap()

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Flush outstanding events and close the client."""
        try:
            self.flush(timeout_s)
        finally:
            self._producer.close(timeout=timeout_s)
