"""Producing events to Kafka: validated, keyed, acknowledged by all replicas, and counted.

:class:`EventProducer` wraps one kafka-python producer (acks=all, batching with linger,
retries). Every event is checked against its contract first; an event that fails goes to
the dead-letter topic with the reason instead of its own topic. A delivery that fails after
the retries is dead-lettered too, and if even that fails it is appended to a local spool
file, so nothing is lost silently.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from kafka import KafkaProducer

from retail.contracts import (
    DEAD_LETTER_TOPIC,
    ContractViolation,
    event_key,
    topic,
    topic_for_event_type,
    validate_event,
)
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
    """Anything that takes events: the Kafka producer, or a test double of the same shape."""

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
    """Validate, key and send events; count every outcome. Thread-safe counters."""

    def __init__(self, settings: KafkaSettings, *, spool: Path | None = None,
                 name: str = "retail-producer"):
        self.settings = settings
        self.name = name
        self.spool = spool
        self.stats = ProducerStats()
        self._lock = threading.Lock()
        self._partitions: dict[str, int] = {}
        self._producer = KafkaProducer(
            **settings.client_config(),
            acks="all",
            linger_ms=settings.linger_ms,
            batch_size=settings.batch_size,
            retries=settings.retries,
            delivery_timeout_ms=settings.delivery_timeout_ms,
            max_in_flight_requests_per_connection=5,
        )

    def _count(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + n)

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
            self._count("invalid")
            et = event.get("event_type") if isinstance(event, Mapping) else None
            self.dead_letter(event, reason="contract_violation" if isinstance(
                exc, ContractViolation) else "serialization_error", error=str(exc),
                field=getattr(exc, "field", None), event_type=et if isinstance(et, str) else None)
            return
        key = event_key(event).encode()
        self._send(contract.topic, key, value, event)

    def send_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        for e in events:
            self.send(e)

    def _send(self, topic_name: str, key: bytes, value: bytes, event: Mapping[str, Any]) -> None:
        future = self._producer.send(topic_name, key=key, value=value,
                                     partition=self._partition(topic_name, key))
        self._count("sent")
        future.add_callback(self._on_ack)
        future.add_errback(self._on_error, topic_name, key, value, event)

    def _on_ack(self, _metadata: object) -> None:
        self._count("acked")

    def _on_error(self, exc: Exception, topic_name: str, key: bytes, value: bytes,
                  event: Mapping[str, Any]) -> None:
        self._count("failed")
        log.warning("delivery failed", extra={"retail_fields": {"topic": topic_name,
                                                                 "error": repr(exc)}})
        self.dead_letter(value, reason="delivery_failed", error=repr(exc), field=None,
                         event_type=event.get("event_type"), source_topic=topic_name,
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
        value = orjson.dumps(dl)
        dkey = (key or "*|*").encode()
        future = self._producer.send(DEAD_LETTER_TOPIC, key=dkey, value=value,
                                     partition=self._partition(DEAD_LETTER_TOPIC, dkey))
        future.add_callback(lambda _m: self._count("dead_lettered"))
        future.add_errback(lambda exc: self._spool(value, exc))

    def _spool(self, value: bytes, exc: Exception) -> None:
        self._count("spooled")
        log.error("dead-letter delivery failed; spooling",
                  extra={"retail_fields": {"error": repr(exc), "spool": str(self.spool)}})
        if self.spool is not None:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.spool.open("ab") as fh:
                fh.write(value + b"\n")

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Flush outstanding events and close the client."""
        self._producer.flush(timeout=timeout_s)
        self._producer.close(timeout=timeout_s)
