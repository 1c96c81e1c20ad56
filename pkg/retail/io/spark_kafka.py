"""Kafka as a Spark 4 Python streaming data source: ``spark.readStream.format("retail_kafka")``.

Where Spark's JVM Kafka connector is not on the classpath (local runs, CI), this source
reads Kafka with librdkafka (:mod:`retail.io.kafka_fetch`; kafka-python finds the end
offsets) and gives the same columns as Spark's ``kafka`` format:
``key, value, topic, partition, offset, timestamp``. Offsets live in Spark's checkpoint
(as ``{"topic:partition": next_offset}``), never in consumer-group commits, so a restarted
query resumes exactly after the last committed micro-batch.

Options: ``kafka.bootstrap.servers`` (required), ``subscribe`` (comma-separated topics,
required), ``startingOffsets`` (``earliest`` | ``latest``, default ``earliest``),
``maxOffsetsPerTrigger`` (optional cap per micro-batch), ``flavor`` (``kafka`` | ``tansu``;
``tansu`` finds true end offsets despite the local broker's high-watermark bug), ``slices``
(Spark tasks per micro-batch, default 2: each reads its share of the partitions with one
consumer), ``parse`` (``true``: each task also parses what it read and hands Spark the
parsed rows as Arrow IPC blobs, one column ``parsed``, instead of Kafka's columns: see
:mod:`retail.transforms.parsed`; with it ``maxEventBytes``, ``maxFutureMinutes`` and
``fastPath`` as :func:`retail.transforms.validate.parse_events` takes them).

A cap is split across partitions in proportion to each partition's backlog: an even split
over skewed partitions lets the busy ones fall behind while the event-time watermark, driven
by the others, moves on and drops their events as late.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (ReadAllAvailable, ReadLimit, ReadMaxRows,
                                              SupportsTriggerAvailableNow)

SCHEMA = ("key binary, value binary, topic string, partition int, offset long, "
          "timestamp timestamp")
_REQUIRED = ("kafka.bootstrap.servers", "subscribe")


def split_cap(start: dict[str, int], end: dict[str, int], cap: int | None) -> dict[str, int]:
    """End offsets that read at most ``cap`` records from ``start``, shared by backlog.

    Every partition gets ``cap * backlog / total`` (rounded down, the remainder to the
    largest fractional shares), so all partitions advance at the same pace in their backlog.
    """
    backlog = {k: max(end[k] - start.get(k, 0), 0) for k in end}
    total = sum(backlog.values())
    if cap is None or total <= cap:
        return dict(end)
    shares = {k: cap * b / total for k, b in backlog.items()}
    take = {k: int(s) for k, s in shares.items()}
    for k in sorted(shares, key=lambda k: (take[k] - shares[k], k))[:cap - sum(take.values())]:
        take[k] += 1
    return {k: start.get(k, 0) + take[k] for k in end}


@dataclass(frozen=True)
class KafkaSlice(InputPartition):
    """One Spark task's share of a micro-batch: ``(topic, partition, start, end)`` ranges
    read by one consumer (a task per Kafka partition costs more in task and connection
    set-up than reading the records)."""

    ranges: tuple[tuple[str, int, int, int], ...]


def slice_ranges(ranges: list[tuple[str, int, int, int]], slices: int) -> list[KafkaSlice]:
    """Deal ranges into at most ``slices`` groups of about equal record counts."""
    groups: list[list[tuple[str, int, int, int]]] = [[] for _ in range(max(slices, 1))]
    load = [0] * len(groups)
    for r in sorted(ranges, key=lambda r: r[3] - r[2], reverse=True):
        i = load.index(min(load))
        groups[i].append(r)
        load[i] += r[3] - r[2]
    return [KafkaSlice(tuple(sorted(g))) for g in groups if g]


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, given: dict[str, str]) -> None:
        # Spark hands options over case-insensitively (lower-cased keys).
        options = {k.lower(): v for k, v in given.items()}
        missing = [k for k in _REQUIRED if not options.get(k.lower())]
        if missing:
            raise ValueError(f"retail_kafka needs the option(s) {', '.join(missing)}")
        self.bootstrap = options["kafka.bootstrap.servers"]
        self.topics = [t.strip() for t in options["subscribe"].split(",") if t.strip()]
        self.starting = options.get("startingoffsets", "earliest")
        if self.starting not in ("earliest", "latest"):
            raise ValueError("startingOffsets must be 'earliest' or 'latest', got "
                             f"{self.starting!r}")
        cap = options.get("maxoffsetspertrigger")
        self.cap = int(cap) if cap else None
        if self.cap is not None and self.cap < 1:
            raise ValueError("maxOffsetsPerTrigger must be a positive integer")
        self.flavor = options.get("flavor", "kafka")
        self.slices = int(options.get("slices", "2"))
        if self.slices < 1:
            raise ValueError("slices must be a positive integer")
        self.target: dict[str, int] | None = None  # Trigger.AvailableNow: stop here
        self._offsets = None  # the consumer that finds end offsets (see _ends)
        self.parse = options.get("parse", "false").lower() == "true"
        self.max_bytes = int(options.get("maxeventbytes", "65536"))
        self.max_future_minutes = float(options.get("maxfutureminutes", "5"))
        self.fast_path = options.get("fastpath", "true").lower() == "true"

    def _settings(self):
        from retail.settings import KafkaSettings

        return KafkaSettings(bootstrap_servers=self.bootstrap, flavor=self.flavor)

    def _ends(self) -> dict[str, int]:
        """True end offsets, through one consumer kept for the query's life (the source asks
        before every micro-batch; a new consumer costs a connection and metadata each time)."""
        from retail.io.kafka import end_offsets_of, offsets_consumer

        if self._offsets is None:
            self._offsets = offsets_consumer(self._settings())
        try:
            ends = end_offsets_of(self._settings(), self.topics, client=self._offsets)
        except Exception:
            self._offsets.close()  # a broken connection: a new consumer next time
            self._offsets = None
            raise
        return {f"{t}:{p}": off for (t, p), off in ends.items()}

    def __getstate__(self) -> dict:
        """Spark ships the reader to its tasks: without the offsets consumer."""
        return {**self.__dict__, "_offsets": None}

    def initialOffset(self) -> dict:
        ends = self._ends()
        return dict(ends) if self.starting == "latest" else {k: 0 for k in ends}

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.cap) if self.cap else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        self.target = self._ends()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        # With Trigger.AvailableNow, what exists when the query starts, in capped batches.
        ends = dict(self.target) if self.target is not None else self._ends()
        behind = sorted(k for k, off in ends.items() if off < start.get(k, 0))
        if behind:  # like the JVM source's failOnDataLoss: never skip silently
            raise ValueError(
                f"Kafka offsets went backwards for {', '.join(behind)} (checkpoint at "
                f"{', '.join(str(start[k]) for k in behind)}, topic now ends at "
                f"{', '.join(str(ends[k]) for k in behind)}): the topic was recreated or the "
                "broker lost its data. Start from a new checkpoint directory.")
        cap = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        # A partition that appeared since the start is read from its beginning.
        return split_cap({k: start.get(k, 0) for k in ends}, ends, cap)

    def partitions(self, start: dict, end: dict) -> list[KafkaSlice]:
        ranges = []
        for key, stop in sorted(end.items()):
            begin = start.get(key, 0)
            if stop > begin:
                topic, _, part = key.rpartition(":")
                ranges.append((topic, int(part), begin, stop))
        return slice_ranges(ranges, self.slices)

    def read(self, partition: KafkaSlice) -> Iterator[pa.RecordBatch]:
        """The slice's records as Arrow batches (no per-row conversion into Spark rows),
        or with ``parse``, the slice parsed, as IPC blobs."""
        if not self.parse:
            yield from self._records(partition)
            return
        from retail.transforms.parsed import parsed_batches, to_blobs

        yield from to_blobs(parsed_batches(
            self._records(partition), max_bytes=self.max_bytes,
            max_future_minutes=self.max_future_minutes, fast_path=self.fast_path))

    def _records(self, partition: KafkaSlice) -> Iterator[pa.RecordBatch]:
        from retail.io.kafka_fetch import read_ranges
        from retail.transforms.validate import settle_worker_heap

        settle_worker_heap()  # (this worker, too, is reused and collected after each task)
        yield from read_ranges(self._settings(), partition.ranges)

    def stop(self) -> None:
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None

    def commit(self, end: dict) -> None:
        return None  # offsets are Spark's checkpoint, not a consumer group


class KafkaDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "retail_kafka"

    def schema(self) -> str:
        if str(self.options.get("parse", "false")).lower() == "true":
            from retail.transforms.parsed import BLOB_SCHEMA

            return BLOB_SCHEMA
        return SCHEMA

    def streamReader(self, schema) -> KafkaStreamReader:
        return KafkaStreamReader(dict(self.options))
