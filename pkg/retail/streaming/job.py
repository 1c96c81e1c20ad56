"""The stream processor: Kafka -> Spark Structured Streaming -> warehouse, lake, Kafka.

:class:`StreamRunner` wires the clients, starts the query (restarting it from its
checkpoint with backoff when it fails, e.g. while the broker restarts) and stops it cleanly
between micro-batches on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from retail.contracts.topics import DEAD_LETTER_TOPIC, topics
from retail.io.lake import LakeWriter
from retail.io.producer import EventProducer
from retail.io.warehouse import ClickHouseWarehouse
from retail.settings import Settings
from retail.streaming.processor import BatchReport, MicroBatchProcessor
from retail.streaming.publish import StreamPublisher
from retail.transforms.events import drop_duplicate_events
from retail.transforms.parsed import parse_to_blobs
from retail.transforms.validate import parse_events

ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
JVM_KAFKA = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
OUTPUT_TOPICS = {DEAD_LETTER_TOPIC, "retail-restock-alerts"}


def input_topics() -> list[str]:
    """Every event topic the POS side writes (not the stream's own outputs)."""
    return [t.name for t in topics() if t.name not in OUTPUT_TOPICS]


def spark_session(settings: Settings, app_name: str = "retail-stream-processor") -> SparkSession:
    # Spark's Python workers must run this interpreter (the one with the package installed).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    s = settings.stream
    builder = (SparkSession.builder.appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", str(s.shuffle_partitions))
               .config("spark.sql.streaming.stateStore.providerClass", ROCKSDB)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # Micro-batches are small: adaptive re-planning costs more than it saves.
               .config("spark.sql.adaptive.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit: our own master
        builder = (builder.master(s.spark_master).config("spark.ui.enabled", "false")
                   .config("spark.driver.memory", s.spark_driver_memory))
        if logging.getLogger("pyspark").getEffectiveLevel() > logging.INFO:  # not --verbose
            quiet = resources.files("retail.streaming").joinpath("log4j2-quiet.properties")
            builder = builder.config("spark.driver.extraJavaOptions",
                                     f"-Dlog4j2.configurationFile=file:{quiet}")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def jvm_kafka_available(spark: SparkSession) -> bool:
    try:
        spark._jvm.java.lang.Class.forName(JVM_KAFKA)  # noqa: SLF001
    except Exception:  # noqa: BLE001  (py4j wraps ClassNotFoundException)
        return False
    return True


def kafka_stream(spark: SparkSession, settings: Settings, *, fast_path: bool = True
                 ) -> DataFrame:
    """The stream's input: each record parsed and judged against the contracts in Spark's
    Python workers (:mod:`retail.transforms.parsed`).

    By default as Arrow IPC blobs (one column ``parsed``; the processor opens them), read
    by the Python source, which parses what it reads in the same task, or by Spark's JVM
    connector, if present, followed by the parse. With ``dedup_minutes`` (Spark's own
    memory of event ids, a state store keyed per event) as one row per record instead."""
    s = settings.stream
    use_jvm = s.source == "jvm" or (s.source == "auto" and jvm_kafka_available(spark))
    as_rows = bool(s.dedup_minutes)
    if not use_jvm:
        from retail.io.spark_kafka import KafkaDataSource

        spark.dataSource.register(KafkaDataSource)
    options = source_options(settings, jvm=use_jvm)
    parse = {"max_bytes": s.max_event_bytes, "max_future_minutes": s.max_future_minutes,
             "fast_path": fast_path}
    if not use_jvm and not as_rows:
        options.update(parse="true", maxEventBytes=str(s.max_event_bytes),
                       maxFutureMinutes=str(s.max_future_minutes),
                       fastPath=str(fast_path).lower())
    stream = spark.readStream.format("kafka" if use_jvm else "retail_kafka").options(
        **options).load()
    if as_rows:
        return parse_events(stream, content_hash=True, **parse)
    return parse_to_blobs(stream, **parse) if use_jvm else stream


def source_options(settings: Settings, *, jvm: bool) -> dict[str, str]:
    """Options of the Kafka source: Spark's JVM ``kafka`` format (``jvm``) or ours."""
    s, k = settings.stream, settings.resolved_kafka()
    options = {"kafka.bootstrap.servers": k.bootstrap_servers,
               "subscribe": ",".join(input_topics()), "startingOffsets": s.starting_offsets}
    if s.max_offsets_per_trigger:
        options["maxOffsetsPerTrigger"] = str(s.max_offsets_per_trigger)
    if not jvm:
        options["flavor"] = k.flavor
        return options
    options["kafka.security.protocol"] = k.security_protocol
    if k.ssl_cafile:  # e.g. Strimzi's cluster CA: the JVM client reads PEM directly
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = str(k.ssl_cafile)
    if k.sasl_mechanism and k.sasl_username and k.sasl_password:
        module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                  if k.sasl_mechanism == "PLAIN"
                  else "org.apache.kafka.common.security.scram.ScramLoginModule")
        options["kafka.sasl.mechanism"] = k.sasl_mechanism
        options["kafka.sasl.jaas.config"] = (
            f'{module} required username="{k.sasl_username}" '
            f'password="{k.sasl_password.get_secret_value()}";')
    return options


class StopRequested(RuntimeError):
    """A micro-batch refused to start because the stream was asked to stop."""


@dataclass
class RunSummary:
    batches: int = 0
    input_rows: int = 0
    rejected_rows: int = 0
    alerts: int = 0
    seconds: float = 0.0
    restarts: int = 0
    duplicates_dropped: int = 0

    def add(self, r: BatchReport) -> None:
        self.batches += 1
        self.input_rows += r.input_rows
        self.rejected_rows += r.rejected_rows
        self.alerts += r.alerts
        self.duplicates_dropped += r.duplicate_rows


class StreamRunner:
    """Run the stream until stopped (or, with ``available_now``, until caught up)."""

    def __init__(self, settings: Settings, *, on_batch: Callable[[BatchReport], None] | None = None,
                 on_event: Callable[[str], None] | None = None, max_restarts: int = 5):
        settings.stream_checkpoint()  # fail fast: required outside env=local
        self.settings = settings
        self.on_batch = on_batch
        self.on_event = on_event or (lambda msg: None)
        self.max_restarts = max_restarts
        self.summary = RunSummary()
        self._stop = threading.Event()
        self._batch_lock = threading.Lock()
        self._stream_id: str | None = None
        self._id_ready = threading.Event()
        self.query: StreamingQuery | None = None
        self._counted: set[tuple] = set()
        self._progressed = False
        self._last_batch: int | None = None  # the last micro-batch this query processed
        # After a Python worker crash (a record that slipped past the parse guard), the
        # rest of the run parses with the row path alone: slower, but no native reader.
        self.row_path_only = False

    def request_stop(self) -> None:
        """Stop after the micro-batch in progress (safe from a signal handler)."""
        self._stop.set()

    def _current_stream_id(self) -> str:
        if not self._id_ready.wait(120):
            raise RuntimeError("the streaming query did not report its id")
        assert self._stream_id is not None
        return self._stream_id

    def _report(self, report: BatchReport) -> None:
        self._progressed = True
        self.summary.add(report)
        if self.on_batch:
            self.on_batch(report)

    def run(self, *, available_now: bool = False, handle_signals: bool = False) -> RunSummary:
        """Run until stopped, caught up (``available_now``) or failed past ``max_restarts``.

        With ``handle_signals`` (from the main thread), SIGINT and SIGTERM stop the stream
        after the micro-batch in progress. They are installed after Spark starts, because
        Spark's own SIGINT handler cancels the running jobs mid-batch.
        """
        started = time.monotonic()
        settings = self.settings
        spark = spark_session(settings)
        previous = {}
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.request_stop())
        # No HTTP session: a micro-batch's sinks and look-ups run in several threads, and
        # ClickHouse refuses concurrent queries within one session.
        wh = ClickHouseWarehouse.connect(settings.resolved_warehouse(),
                                         autogenerate_session_id=False)
        producer = EventProducer(settings.resolved_kafka(), name="stream-processor")
        publisher = StreamPublisher(producer, max_payload_chars=settings.stream.max_event_bytes)
        processor = MicroBatchProcessor(
            settings.stream, warehouse=wh, lake=LakeWriter(settings.lake),
            publisher=publisher, stream_id=self._current_stream_id, on_batch=self._report)

        def guarded(df: DataFrame, batch_id: int) -> None:
            with self._batch_lock:
                if self._stop.is_set():
                    # Not started, so Spark does not commit it: the next run processes it.
                    # (Waiting here instead would deadlock with ``query.stop()``, which
                    # waits for this batch.)
                    raise StopRequested(f"micro-batch {batch_id} not started: stopping")
                processor(df, batch_id)
                self._last_batch = batch_id

        failures = 0
        try:
            while not self._stop.is_set():
                self._progressed = False
                error = self._run_query(spark, guarded, available_now)
                if error is None or self._stop.is_set():
                    break
                # Count consecutive failures only: a stream that recovered starts afresh.
                failures = 1 if self._progressed else failures + 1
                if failures > self.max_restarts:
                    raise error
                delay = min(2 ** failures, 30)
                self.summary.restarts += 1
                if not self.row_path_only and worker_crashed(error):
                    self.row_path_only = True
                    self.on_event("a Python worker crashed parsing a micro-batch: from now on "
                                  "this run judges every record on its own (the row path), so "
                                  "the record that crashed it is quarantined")
                self.on_event(f"stream failed ({root_cause(error)}); restarting from the "
                              f"checkpoint in {delay}s ({failures}/{self.max_restarts})")
                if self._stop.wait(delay):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            publisher.close()
            wh.close()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _run_query(self, spark: SparkSession, fn: Callable, available_now: bool
                   ) -> Exception | None:
        s = self.settings.stream
        events = kafka_stream(spark, self.settings, fast_path=not self.row_path_only)
        if s.dedup_minutes:
            # Copies collapse in Spark's memory first; other versions of an id pass, and the
            # event memory (streaming/seen.py), which catches copies on its own, tells them
            # apart.
            events = drop_duplicate_events(events, within_minutes=s.dedup_minutes,
                                           content="content_hash")
        writer = (events.writeStream.foreachBatch(fn).queryName("retail_stream")
                  .option("checkpointLocation", self.settings.stream_checkpoint()))
        if available_now:
            writer = writer.trigger(availableNow=True)
        elif s.trigger_seconds > 0:
            writer = writer.trigger(processingTime=f"{s.trigger_seconds} seconds")
        self._id_ready.clear()
        self._last_batch = None
        query = self.query = writer.start()
        self._stream_id = str(query.id)
        self._id_ready.set()
        try:
            return self._watch(query)
        finally:
            self._count_duplicates(query)

    def _watch(self, query: StreamingQuery) -> Exception | None:
        """Wait until ``query`` ends or a stop is asked; the query's error, if it failed."""
        try:
            while query.isActive and not self._stop.is_set():
                query.awaitTermination(0.5)
                self._count_duplicates(query)
        except Exception as exc:  # noqa: BLE001  (StreamingQueryException and py4j errors)
            if not self._stop.is_set():
                return exc
            # Asked to stop, and the query ended on its own: a terminal's Ctrl-C reaches
            # Spark's Python helpers too. An unfinished batch was not committed; the next
            # run takes it.
        if not self._stop.is_set():
            return None
        self.on_event("stopping after the current micro-batch ...")
        try:
            if query.isActive:  # wait for the batch in progress, then stop
                with self._batch_lock:
                    pass  # a batch that starts from now on refuses to run (``guarded``)
                self._await_commit(query)
                query.stop()
        except Exception as exc:  # noqa: BLE001
            return exc
        return None

    def _await_commit(self, query: StreamingQuery, timeout: float = 60.0) -> None:
        """Wait until Spark has committed the last batch this query processed.

        ``foreachBatch`` returns before Spark writes the batch to the checkpoint's commit
        log; stopping the query in between leaves the batch uncommitted, and the next run
        would process it again. Spark reports a batch's progress only after committing it.
        """
        if self._last_batch is None:
            return
        deadline = time.monotonic() + timeout
        while query.isActive and time.monotonic() < deadline:
            progress = query.lastProgress
            if progress is not None and progress["batchId"] >= self._last_batch:
                return
            time.sleep(0.05)

    def _count_duplicates(self, query: StreamingQuery) -> None:
        """Add up Spark's count of rows its deduplication dropped, once per batch."""
        for progress in query.recentProgress or []:
            batch = (query.id, progress.get("batchId"))
            if batch in self._counted:
                continue
            self._counted.add(batch)
            for op in progress.get("stateOperators", []):
                metrics = op.get("customMetrics", {})
                self.summary.duplicates_dropped += int(metrics.get("numDroppedDuplicateRows", 0))


WORKER_CRASH = "Python worker exited unexpectedly (crashed)"


def worker_crashed(error: BaseException) -> bool:
    """Whether a failed query's error is Spark's report of a crashed Python worker."""
    return WORKER_CRASH in str(error)


_CAUSE = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Unavailable)\b: .+)$")


def root_cause(exc: BaseException) -> str:
    """The root cause of a failed query: the last ``SomeError: message`` line of the Python
    traceback Spark wraps (the first line only says the foreachBatch function failed)."""
    lines = str(exc).split("=== Streaming Query ===")[0].splitlines()
    causes = [m.group(1) for ln in lines if (m := _CAUSE.match(ln))
              and not m.group(1).startswith(("org.apache.spark", "pyspark."))]
    text = causes[-1] if causes else next((ln.strip() for ln in lines if ln.strip()),
                                          type(exc).__name__)
    return text[:300]
