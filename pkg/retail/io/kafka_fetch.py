"""Reading known offset ranges of Kafka partitions fast, with librdkafka (confluent-kafka).

The stream's Python source (:mod:`retail.io.spark_kafka`) reads each micro-batch's ranges
here. kafka-python decodes record batches in Python, about 9 µs per record on our
machines; librdkafka decodes them in C, and the records cost about 2.5 µs each from the
fetch to an Arrow batch. Everything else (admin, end offsets, producers) stays on
kafka-python (:mod:`retail.io.kafka`).

Ranges are ``(topic, partition, start, end)``, end exclusive, and must be readable: an end
past the partition's true end waits ``idle_s`` and raises (on Tansu find the true end with
:func:`retail.io.kafka.end_offsets_of`, which works around its high-watermark bug).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pyarrow as pa
from confluent_kafka import Consumer, KafkaException, TopicPartition

from retail.settings import KafkaSettings

RECORD_SCHEMA = pa.schema([
    ("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()),
    ("partition", pa.int32()), ("offset", pa.int64()), ("timestamp", pa.timestamp("us", "UTC")),
])
_FETCH_BYTES = 32 * 1024 * 1024
# The most records one consume() call hands back (librdkafka allows up to 1,000,000).
_CONSUME_MAX = 100_000


def librdkafka_config(settings: KafkaSettings) -> dict[str, object]:
    """The settings as librdkafka's configuration (connection and security only)."""
    cfg: dict[str, object] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": settings.client_id,
        "security.protocol": settings.security_protocol.lower(),
        "socket.timeout.ms": settings.request_timeout_ms,
    }
    if settings.sasl_mechanism:
        cfg["sasl.mechanism"] = settings.sasl_mechanism
        cfg["sasl.username"] = settings.sasl_username
        cfg["sasl.password"] = (settings.sasl_password.get_secret_value()
                                if settings.sasl_password else None)
    if settings.ssl_cafile:
        cfg["ssl.ca.location"] = str(settings.ssl_cafile)
    return {k: v for k, v in cfg.items() if v is not None}


def _batch(topic: str, partition: int, messages: list) -> pa.RecordBatch:
    n = len(messages)
    return pa.RecordBatch.from_arrays([
        pa.array([m.key() for m in messages], pa.binary()),
        pa.array([m.value() for m in messages], pa.binary()),
        pa.array([topic] * n, pa.string()),
        pa.array([partition] * n, pa.int32()),
        pa.array([m.offset() for m in messages], pa.int64()),
        pa.array([m.timestamp()[1] * 1000 for m in messages], pa.int64()).cast(
            RECORD_SCHEMA.field("timestamp").type),
    ], schema=RECORD_SCHEMA)


def read_ranges(settings: KafkaSettings, ranges: Sequence[tuple[str, int, int, int]],
                idle_s: float = 30.0) -> Iterator[pa.RecordBatch]:
    """The records of ``ranges`` as Arrow batches of :data:`RECORD_SCHEMA` (Kafka's columns,
    as Spark's ``kafka`` source gives them), in offset order within each partition."""
    todo = {(t, p): [start, end] for t, p, start, end in ranges if end > start}
    if not todo:
        return
    c = Consumer({
        **librdkafka_config(settings),
        # assign() only: the group is never joined and nothing is committed.
        "group.id": f"{settings.client_id}-range-reader",
        "enable.auto.commit": False, "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        # Big fetches. (A small queued.min.messages, to prefetch less past the ranges, made
        # librdkafka back off a second at a time: fetch.queue.backoff.ms.)
        "fetch.max.bytes": _FETCH_BYTES, "max.partition.fetch.bytes": _FETCH_BYTES,
        "fetch.wait.max.ms": 500,
    })
    try:
        c.assign([TopicPartition(t, p, start) for (t, p), (start, _) in todo.items()])
        quiet_since = time.monotonic()
        while todo:
            left = sum(end - pos for pos, end in todo.values())
            # As many as are still needed: consume() waits out its timeout only when it
            # gets fewer than asked for.
            messages = c.consume(num_messages=min(left, _CONSUME_MAX), timeout=0.2)
            if messages:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > idle_s:
                raise TimeoutError(f"no records for {idle_s:g} s while reading "
                                   f"{sorted(todo.items())}")
            for key, run in _runs(messages):
                if key not in todo:
                    continue
                pos, end = todo[key]
                run = [m for m in run if pos <= m.offset() < end]
                if run:
                    yield _batch(key[0], key[1], run)
                    todo[key][0] = run[-1].offset() + 1
                if todo[key][0] >= end:
                    del todo[key]
                    c.pause([TopicPartition(key[0], key[1])])
    finally:
        c.close()


def _runs(messages: list) -> Iterator[tuple[tuple[str, int], list]]:
    """``messages`` grouped by partition (order kept within each); an error raises."""
    groups: dict[tuple[str, int], list] = {}
    for m in messages:
        err = m.error()
        if err is not None:
            raise KafkaException(err)
        groups.setdefault((m.topic(), m.partition()), []).append(m)
    return iter(groups.items())
