"""Kafka: topic administration, end offsets, and reading topics back.

Everything here goes through kafka-python over the Kafka protocol, against production
Kafka (Strimzi) and the local Tansu broker alike; producing and the stream's record reads
use librdkafka (:mod:`retail.io.producer`, :mod:`retail.io.kafka_fetch`).
``settings.flavor == "tansu"`` switches on the workaround for Tansu's high-watermark bug
(ListOffsets(latest) returns the base offset of the last record batch + 1): the true end is
found by fetching from there to the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from retail.contracts import Topic
from retail.settings import KafkaSettings

log = logging.getLogger(__name__)

# Polls large enough that one poll returns a whole fetched batch: Tansu's default-sized
# poll once cut a batch short while finding the end offset (see ENVIRONMENT.md).
_MAX_POLL_RECORDS = 100_000


class KafkaUnavailable(RuntimeError):
    """The brokers did not answer; the message says where we looked and what to do."""


@lru_cache(maxsize=65_536)
def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, as the Java client), cached per key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def admin_client(settings: KafkaSettings, timeout_s: float = 10.0) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(**settings.client_config(),
                                bootstrap_timeout_ms=int(timeout_s * 1000))
    except KafkaTimeoutError:
        raise KafkaUnavailable(
            f"no Kafka broker answered at {settings.bootstrap_servers} within "
            f"{timeout_s:g}s; start one with `retail local up` or set "
            "RETAIL_KAFKA__BOOTSTRAP_SERVERS"
        ) from None


def ensure_topics(settings: KafkaSettings, wanted: Iterable[Topic]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(t.name, t.partitions, t.replicas, topic_configs=t.configs())
            for t in wanted if t.name not in existing
        ]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:  # raced with another creator: fine
                pass
        return [n.name for n in new]
    finally:
        admin.close()


def consumer(settings: KafkaSettings, **overrides: object) -> KafkaConsumer:
    """A consumer with settings that work on both brokers (short session for fast joins)."""
    cfg = {
        **settings.client_config(),
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_records": _MAX_POLL_RECORDS,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "value_deserializer": None,
    }
    cfg.update(overrides)
    return KafkaConsumer(**cfg)


def offsets_consumer(settings: KafkaSettings) -> KafkaConsumer:
    """A consumer for finding end offsets (no group). Its fetches wait at most 10 ms for
    data: with the default 500 ms, the fetch a kept consumer leaves in flight made every
    later call wait for it, so a streaming source's check before each micro-batch took
    0.6 s instead of 0.13 s."""
    return consumer(settings, group_id=None, fetch_max_wait_ms=10)


def _drain_ends(c: KafkaConsumer, reported: dict[TopicPartition, int], idle_s: float
                ) -> dict[TopicPartition, int]:
    """True ends on Tansu, all partitions at once: read from the start of each partition's
    last record batch (the reported end - 1) until every such partition has answered and a
    poll stays empty for ``idle_s``."""
    ends = dict(reported)
    waiting = {tp for tp, off in reported.items() if off > 0}
    if not waiting:
        return ends
    c.assign(list(waiting))
    for tp in waiting:
        c.seek(tp, reported[tp] - 1)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        got = c.poll(timeout_ms=int(idle_s * 1000), max_records=_MAX_POLL_RECORDS)
        for tp, records in got.items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                waiting.discard(tp)
        if not got and not waiting:
            return ends
    raise KafkaUnavailable(f"could not read the last record batch of {sorted(waiting)} "
                           "within 30 s")


def end_offsets_of(settings: KafkaSettings, topics: list[str], idle_s: float = 0.05, *,
                   client: KafkaConsumer | None = None) -> dict[tuple[str, int], int]:
    """True end offset of every partition of ``topics`` (missing topics have none), with a
    consumer of its own or the ``client`` given (kept open: a caller asking every second)."""
    c = client or offsets_consumer(settings)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t)
                                                                    or set())]
        reported = c.end_offsets(tps) if tps else {}
        if settings.flavor == "tansu":
            reported = _drain_ends(c, reported, idle_s)
        return {(tp.topic, tp.partition): off for tp, off in reported.items()}
    finally:
        if client is None:
            c.close()


def end_offsets(settings: KafkaSettings, topic: str, idle_s: float = 0.05) -> dict[int, int]:
    """True end offset per partition of ``topic``."""
    return {p: off for (_, p), off in end_offsets_of(settings, [topic], idle_s).items()}


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    end_offsets: dict[int, int]

    @property
    def messages(self) -> int:
        return sum(self.end_offsets.values())


def describe(settings: KafkaSettings) -> list[TopicState]:
    """Every topic on the cluster with partitions and true end offsets."""
    admin = admin_client(settings)
    try:
        names = sorted(n for n in admin.list_topics() if not n.startswith("__"))
    finally:
        admin.close()
    out = []
    for name in names:
        offs = end_offsets(settings, name)
        out.append(TopicState(name, len(offs), offs))
    return out


def read_topic(settings: KafkaSettings, topic: str, idle_s: float = 1.0) -> list:
    """Every record of ``topic`` from the beginning up to its true end (tests, status).

    On Tansu the true end is found by reading until a poll stays empty for ``idle_s``: the
    default 0.05 s of a streaming source's offset check once returned an end 6 records short
    on a loaded 2-core CI machine, where a fetch response can take longer than that."""
    ends = end_offsets(settings, topic, idle_s)
    if not ends:
        raise ValueError(f"topic {topic!r} does not exist at {settings.bootstrap_servers}")
    c = consumer(settings, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        records = []
        remaining = {tp: ends[tp.partition] for tp in tps if ends[tp.partition] > 0}
        deadline = time.monotonic() + max(idle_s, 30.0)
        while remaining and time.monotonic() < deadline:
            for tp, recs in c.poll(timeout_ms=200, max_records=_MAX_POLL_RECORDS).items():
                records.extend(recs)
                if recs and recs[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
        if remaining:
            raise TimeoutError(f"{topic}: could not read to the end of {sorted(remaining)}")
        return records
    finally:
        c.close()
