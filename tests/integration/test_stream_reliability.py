"""The stream processor under failure: a killed job, poison records, a restarted broker,
and the lake on S3.

Each test checks exact numbers against the simulator's truth: every event once in the
warehouse (with and without FINAL) and once in the lake, every poison record once in
quarantine and once on the dead-letter topic.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from kafka import KafkaProducer
from moto.server import ThreadedMotoServer

from conftest import Broker, free_port
from retail.contracts import validate_event
from retail.contracts.columnar import json_ready
from retail.contracts.topics import DEAD_LETTER_TOPIC, topic_for_event_type, topics
from retail.io.kafka import end_offsets_of, ensure_topics, read_topic
from retail.io.lake import LakeWriter
from retail.io.producer import EventProducer
from retail.settings import KafkaSettings, LakeSettings
from retail.sim.catalog import generate_catalog
from retail.sim.engine import SimConfig, Simulator
from retail.warehouse.load import load_dimensions
from tests.integration.stream_harness import REPLAY_LATE_AFTER_MINUTES, SimRun, StreamEnv

pytestmark = pytest.mark.integration

SALES_TOPIC = "retail-sales-transactions"
S3_KEY, S3_SECRET = "test-key", "test-secret"


# --- fixtures and helpers -------------------------------------------------------------------

@pytest.fixture
def stream_env(fresh_broker, fresh_database, migrated, tmp_path) -> Iterator[StreamEnv]:
    yield StreamEnv(kafka=fresh_broker.settings, warehouse=fresh_database, wh=migrated,
                    root=tmp_path, stream={"late_after_minutes": REPLAY_LATE_AFTER_MINUTES})


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port (its backend is shared by the process:
    tests use bucket names or prefixes of their own)."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # not a log line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    werkzeug.setLevel(level)


def _create_bucket(endpoint: str, bucket: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET)
    try:
        s3.create_bucket(Bucket=bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


class StreamProcess:
    """``python -m retail stream run`` in its own session, its output collected by a thread.

    Always used as a context manager: leaving it kills the whole process group (the Python
    driver, Spark's JVM and its Python workers)."""

    def __init__(self, env: dict[str, str], *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "retail", "stream", "run", *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, text=True)
        self.lines: list[str] = []
        self._eof = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def batches_printed(self) -> int:
        with self._cond:
            return sum(1 for ln in self.lines if ln.startswith("batch "))

    def wait_for(self, done: Callable[[], bool], timeout_s: float, what: str,
                 poll_s: float = 0.5) -> None:
        """Wait until ``done()``; fail with the output if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if self.proc.poll() is not None:
                self._reader.join(5)
                if not done():
                    raise AssertionError(f"the stream exited with {self.proc.returncode} "
                                         f"before {what}:\n{self.output[-4000:]}")
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout_s:g}s:\n"
                                     f"{self.output[-4000:]}")
            with self._cond:
                self._cond.wait(poll_s)

    def wait(self, timeout_s: float) -> int:
        """Wait for the job to exit by itself; its exit code (fails with the output)."""
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the stream did not exit within {timeout_s:g}s:\n"
                                 f"{self.output[-4000:]}") from None
        self._reader.join(10)
        return code

    def _session(self) -> list[int]:
        """Processes still in the session the job started (Spark's Python daemons put
        themselves in process groups of their own)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == self.proc.pid:  # fields after the name: state ppid pgrp sid
                pids.append(int(stat.parent.name))
        return pids

    def kill(self) -> None:
        """SIGKILL the job's process group, then anything left in its session."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        for pid in self._session():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reader.join(10)

    def __enter__(self) -> StreamProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def s3_broker(tmp: Path, endpoint: str, bucket: str) -> Broker:
    """A Tansu broker whose storage engine is an S3 bucket (moto), so it survives restarts."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": S3_KEY,
           "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    return Broker(tmp, engine=f"s3://{bucket}/", env=env)


def _two_days_ago() -> date:
    return datetime.now(UTC).date() - timedelta(days=2)


def _rate_for(events: int, *, stores: int, products: int, seed: int = 7) -> float:
    """The simulator rate that makes about ``events`` events on the day ``simulate`` uses.

    A day's volume depends on its weekday and season (a Saturday has 1.6 times a Tuesday's,
    Black Friday 2.5 times): fixing the volume keeps each test's run time steady."""
    catalog = generate_catalog(stores, products, seed)
    config = SimConfig(seed=seed, rate=10.0, start=_two_days_ago(), days=1)
    n = sum(t.num_rows for b in Simulator(catalog, config).run() for t in b.tables.values())
    return round(10.0 * events / max(n, 1), 3)


def _simulate_tables(env: StreamEnv, *, stores: int, products: int, rate: float,
                     seed: int = 7) -> SimRun:
    """Simulate a day (two days ago) without sending it; load the chain's dimensions."""
    start = _two_days_ago()
    catalog = generate_catalog(stores, products, seed)
    sim = Simulator(catalog, SimConfig(seed=seed, rate=rate, start=start, days=1))
    load_dimensions(env.wh, catalog, start, 2)
    parts: dict[str, list[pa.Table]] = {}
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            parts.setdefault(event_type, []).append(table)
    return SimRun({k: pa.concat_tables(v) for k, v in parts.items()}, sim.ground_truth())


def _send(kafka: KafkaSettings, tables: dict[str, pa.Table]) -> int:
    producer = EventProducer(kafka, name="test-sim")
    for event_type, table in tables.items():
        producer.send_table(event_type, table)
    producer.close()
    assert producer.stats.failed == 0 and producer.stats.invalid == 0, producer.stats
    return producer.stats.acked


def _split_by_time(tables: dict[str, pa.Table], cut: datetime
                   ) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Events before ``cut`` and the rest (each key's events stay in order)."""
    before, after = {}, {}
    for event_type, table in tables.items():
        early = pc.less(table["event_time"], pa.scalar(cut, table.schema.field(
            "event_time").type))
        before[event_type] = table.filter(early)
        after[event_type] = table.filter(pc.invert(early))
    return before, after


def _signed_sums(sales: pa.Table) -> tuple[int, Decimal]:
    sign = pc.if_else(pc.equal(sales["transaction_type"], "return"), -1, 1)
    units = pc.sum(pc.multiply(sales["quantity"], sign)).as_py()
    revenue = sum(Decimal(str(v)) * s for v, s in zip(sales["line_total"].to_pylist(),
                                                      sign.to_pylist(), strict=True))
    return units, revenue


def _ids_by_topic(sim: SimRun) -> dict[str, list[str]]:
    by_topic: dict[str, list[str]] = {}
    for event_type, table in sim.tables.items():
        if table.num_rows:
            by_topic.setdefault(topic_for_event_type(event_type), []).extend(
                table["event_id"].to_pylist())
    return by_topic


def _assert_landed_exactly_once(env: StreamEnv, sim: SimRun, lake: LakeWriter) -> None:
    """Warehouse (with and without FINAL), stock levels and the lake against the truth."""
    total = sum(t.num_rows for t in sim.tables.values())
    sales = sim.count("sales_transaction")
    units, revenue = _signed_sums(sim.tables["sales_transaction"])
    (n, q, r), = env.rows("SELECT count(), sum(quantity), sum(revenue) FROM fact_sales")
    (n_final,), = env.rows("SELECT count() FROM fact_sales FINAL")
    assert (n, n_final) == (sales, sales), "sales events lost or duplicated"
    assert (q, r) == (units, revenue)
    (moves,), = env.rows("SELECT count() FROM fact_inventory")
    assert moves == sim.count("inventory_update")
    (raw, raw_ids), = env.rows("SELECT count(), uniqExact(event_id) FROM raw_events")
    assert (raw, raw_ids) == (total, total)
    (quarantined,), = env.rows("SELECT count() FROM quarantine_events")
    assert quarantined == 0
    (batches, batch_rows, distinct), = env.rows(
        "SELECT count(), sum(input_rows), uniqExact(stream_id, batch_id) FROM stream_batches")
    assert batch_rows == total and batches == distinct, "a micro-batch was recorded twice"

    levels = dict(((s + "|" + p), q) for s, p, q in env.rows(
        "SELECT store_id, product_id, quantity_on_hand FROM inventory_levels_current FINAL"))
    updates = sim.tables["inventory_update"]
    moved = {f"{s}|{p}" for s, p in zip(updates["store_id"].to_pylist(),
                                        updates["product_id"].to_pylist(), strict=True)}
    assert levels == {k: v for k, v in sim.stock.items() if k in moved}
    (disc,), = env.rows("SELECT count() FROM stream_alerts FINAL "
                        "WHERE alert_type = 'inventory_discrepancy'")
    assert disc == 0

    for topic, want in _ids_by_topic(sim).items():
        got = lake.read(topic)["event_id"].to_pylist()
        assert len(got) == len(set(got)), f"{topic}: duplicates in the lake"
        assert sorted(got) == sorted(want), topic


# --- 1. kill -9 mid-stream, then resume from the checkpoint ----------------------------------

def test_a_killed_stream_resumes_from_its_checkpoint_and_lands_every_event_once(stream_env):
    sim = stream_env.simulate(stores=1, products=30,
                              rate=_rate_for(7000, stores=1, products=30))
    total = sum(t.num_rows for t in sim.tables.values())
    cap = 2000
    assert total > 3 * cap  # several micro-batches: the kill lands mid-stream

    def half_written() -> bool:
        """A micro-batch after the first two, not the last, has written its raw events but
        not yet recorded itself (the batch row is its last write)."""
        if job.batches_printed() < 2:
            return False
        (raw, recorded), = stream_env.rows(
            "SELECT (SELECT count() FROM raw_events), "
            "(SELECT toUInt64(sum(input_rows)) FROM stream_batches)")
        return recorded < raw < total

    with StreamProcess(stream_env.env(max_offsets_per_trigger=cap)) as job:
        job.wait_for(half_written, 150, "a half-written micro-batch", poll_s=0.05)
        job.kill()  # kill -9 in the middle of that micro-batch
    killed_output = job.output
    (before,), = stream_env.rows("SELECT count() FROM raw_events")
    assert 2 * cap < before < total, f"the kill did not land mid-stream:\n{killed_output}"
    # The batches Spark committed in the checkpoint before the kill, and the rows they
    # recorded (a batch's stream_batches row is its last write, before the commit). The kill
    # can land after a batch's last write and before its commit: that batch is not done.
    committed = sorted(int(p.name) for p in (stream_env.checkpoint / "commits").iterdir()
                       if p.name.isdigit())
    assert len(committed) >= 2, killed_output
    (done,), = stream_env.rows(
        "SELECT toUInt64(sum(input_rows)) FROM (SELECT batch_id, any(input_rows) AS input_rows "
        "FROM stream_batches WHERE batch_id IN {ids:Array(Int64)} GROUP BY batch_id)",
        {"ids": committed})
    printed = {int(m.group(1)): int(m.group(2).replace(",", "")) for m in re.finditer(
        r"^batch (\d+): ([\d,]+) rows", killed_output, re.M)}
    assert all(printed[b] == cap for b in committed if b in printed), killed_output

    summary = stream_env.run(max_offsets_per_trigger=cap)
    assert summary.rejected_rows == 0
    assert summary.duplicates_dropped == 0  # the dedup state did not remember the lost batch
    # The restart replays every batch not committed (the half-written one, and one that had
    # finished but not been committed) and goes on: together they read each record once.
    assert done + summary.input_rows == total, (committed, killed_output)
    _assert_landed_exactly_once(stream_env, sim, LakeWriter(LakeSettings(
        root=str(stream_env.lake_root))))


# --- 2. poison records ------------------------------------------------------------------------

_MISSING = object()  # a field left out of a poison sale


def _poison_records(base: dict) -> dict[bytes, tuple[bytes | None, str, str | None]]:
    """Key -> (value, expected reason, expected error_field) of each poison record."""
    def sale(**changes: object) -> bytes:
        event = {**base, "event_id": str(uuid.uuid4()), **changes}
        return orjson.dumps({k: v for k, v in event.items() if v is not _MISSING})

    return {
        b"poison-not-json": (b"this is { not JSON", "serialization_error", None),
        b"poison-bad-utf8": (b'{"event_id": "\xff\xfe\xc3\x28"}', "serialization_error",
                             None),
        b"poison-huge": (b'{"padding": "' + b"x" * 200_000 + b'"}', "invalid", None),
        b"poison-array": (b"[1, 2, 3]", "serialization_error", None),
        b"poison-quantity-text": (sale(quantity="2"), "contract_violation", "quantity"),
        b"poison-quantity-zero": (sale(quantity=0), "contract_violation", "quantity"),
        b"poison-no-store": (sale(store_id=_MISSING), "contract_violation", "store_id"),
        b"poison-unicode-store": (sale(store_id="S0000\u00e9"), "contract_violation",
                                  "store_id"),
        b"poison-unknown-type": (sale(event_type="refund_request"), "unknown_event_type",
                                 "event_type"),
        b"poison-tombstone": (None, "serialization_error", None),
    }


def test_poison_records_are_quarantined_and_dead_lettered_once_each(stream_env):
    sim = stream_env.simulate(stores=1, products=20,
                              rate=_rate_for(3000, stores=1, products=20))
    total = sum(t.num_rows for t in sim.tables.values())
    base = json_ready(sim.tables["sales_transaction"].slice(0, 1)).to_pylist()[0]
    validate_event(base)  # the poison below is a good sale with one thing wrong
    poison = _poison_records(base)
    producer = KafkaProducer(bootstrap_servers=stream_env.kafka.bootstrap_servers, acks="all",
                             max_request_size=1024 * 1024)
    where = {}  # key -> (partition, offset) the broker gave the record
    for key, (value, _, _) in poison.items():
        meta = producer.send(SALES_TOPIC, key=key, value=value).get(timeout=30)
        where[key.decode()] = (meta.partition, meta.offset)
    producer.close()

    summary = stream_env.run()
    assert summary.input_rows == total + len(poison)
    assert summary.rejected_rows == len(poison)
    (sales,), = stream_env.rows("SELECT count() FROM fact_sales")
    assert sales == sim.count("sales_transaction")
    (raw,), = stream_env.rows("SELECT count() FROM raw_events")
    assert raw == total

    want = {key.decode(): (reason, field) for key, (_, reason, field) in poison.items()}
    quarantined = stream_env.rows(
        "SELECT key, reason, error_field, topic, error, payload, partition, offset "
        "FROM quarantine_events")
    assert len(quarantined) == len(poison)
    assert {k: (reason, field) for k, reason, field, *_ in quarantined} == want
    assert {r[0]: (r[6], r[7]) for r in quarantined} == where
    assert {r[3] for r in quarantined} == {SALES_TOPIC}
    by_key = {r[0]: (r[4], r[5]) for r in quarantined}
    huge = poison[b"poison-huge"][0]
    assert by_key["poison-huge"][1] == huge.decode()  # kept whole, all 200 KB
    assert f"{len(huge)} bytes exceeds the 65536-byte limit" in by_key["poison-huge"][0]
    assert by_key["poison-tombstone"][1] == ""
    assert by_key["poison-not-json"][1] == "this is { not JSON"

    letters = [orjson.loads(r.value) for r in read_topic(stream_env.kafka, DEAD_LETTER_TOPIC)]
    assert len(letters) == len(poison)
    assert {d["key"]: (d["reason"], d["error_field"]) for d in letters} == want
    assert {(d["source_topic"], d["producer"]) for d in letters} == {
        (SALES_TOPIC, "stream-processor")}
    for d in letters:
        partition, offset = where[d["key"]]
        assert d["error"].endswith(f"(at {SALES_TOPIC}[{partition}]@{offset})"), d["error"]
    cut = next(d for d in letters if d["key"] == "poison-huge")["payload"]
    assert cut.startswith('{"padding": "xxx') and \
        f"[cut at 65536 of {len(huge)} characters" in cut


# --- 3. the broker restarts under a running stream ------------------------------------------

def test_the_stream_survives_a_broker_restart_without_losing_or_repeating(
        s3_endpoint, fresh_database, migrated, tmp_path):
    bucket = f"tansu-{uuid.uuid4().hex[:8]}"
    _create_bucket(s3_endpoint, bucket)
    broker = s3_broker(tmp_path, s3_endpoint, bucket)
    job: StreamProcess | None = None
    try:
        broker.start()
        ensure_topics(broker.settings, topics())
        env = StreamEnv(kafka=broker.settings, warehouse=fresh_database, wh=migrated,
                        root=tmp_path, stream={"late_after_minutes": REPLAY_LATE_AFTER_MINUTES})
        sim = _simulate_tables(env, stores=1, products=20,
                               rate=_rate_for(4500, stores=1, products=20))
        total = sum(t.num_rows for t in sim.tables.values())
        times = sorted(sim.tables["sales_transaction"]["event_time"].to_pylist())
        first, rest = _split_by_time(sim.tables, times[len(times) // 2])
        sent_first = _send(broker.settings, first)
        assert 0 < sent_first < total

        job = StreamProcess(env.env(max_offsets_per_trigger=1000))
        job.wait_for(lambda: job.batches_printed() >= 2, 150, "two finished micro-batches")
        names = [t.name for t in topics()]
        ends = end_offsets_of(broker.settings, names)
        broker.stop()
        time.sleep(5)
        broker.start()  # same port, same bucket: the topics and offsets are still there
        assert end_offsets_of(broker.settings, names) == ends, (
            f"Tansu's s3:// engine ({broker.engine}) lost data over a restart")
        assert _send(broker.settings, rest) == total - sent_first

        sales = sim.count("sales_transaction")

        def all_sales_landed() -> bool:
            (n,), = env.rows("SELECT count() FROM fact_sales")
            return n >= sales

        job.wait_for(all_sales_landed, 150, f"{sales} rows in fact_sales")
        (raw_n,), = env.rows("SELECT count() FROM raw_events")
        deadline = time.monotonic() + 60
        while raw_n < total and time.monotonic() < deadline:  # the last batch may be finishing
            time.sleep(1)
            (raw_n,), = env.rows("SELECT count() FROM raw_events")
        job.proc.send_signal(signal.SIGTERM)  # what Kubernetes sends the container
        code = job.wait(90)
        output = job.output
        assert code == 0, output[-4000:]
        flat = " ".join(output.split())  # rich wraps long lines at 80 columns
        restarts = len(re.findall(r"restarting from the checkpoint", flat))
        done = re.search(r"done: .*? (\d+) restarts", flat)
        assert done and int(done.group(1)) == restarts, output[-4000:]
        _assert_landed_exactly_once(env, sim, LakeWriter(LakeSettings(root=str(env.lake_root))))
    finally:
        if job is not None:
            job.kill()
        broker.stop()


# --- 4. the lake on S3 ------------------------------------------------------------------------

def test_the_stream_writes_the_lake_to_s3_hive_partitioned(stream_env, s3_endpoint):
    from retail.streaming.job import StreamRunner

    _create_bucket(s3_endpoint, "retail-raw-data")
    lake_settings = LakeSettings(root=f"s3://retail-raw-data/raw-{uuid.uuid4().hex[:8]}",
                                 s3_endpoint=s3_endpoint, s3_tls=False,
                                 s3_access_key=S3_KEY, s3_secret_key=S3_SECRET)
    sim = stream_env.simulate(stores=1, products=20,
                              rate=_rate_for(3000, stores=1, products=20))
    settings = stream_env.settings().model_copy(update={"lake": lake_settings})
    summary = StreamRunner(settings, max_restarts=0).run(available_now=True)
    assert summary.input_rows == sum(t.num_rows for t in sim.tables.values())
    assert summary.rejected_rows == 0
    assert not stream_env.lake_root.exists()  # nothing went to the local default

    lake = LakeWriter(lake_settings)
    want = _ids_by_topic(sim)
    for topic, ids in want.items():
        got = lake.read(topic)["event_id"].to_pylist()
        assert sorted(got) == sorted(ids), topic

    files = [f.path for f in lake.fs.get_file_info(pafs.FileSelector(lake.base, recursive=True))
             if f.type == pafs.FileType.File]
    layout = re.compile(r"^(?P<topic>[a-z-]+)/year=(?P<y>\d{4})/month=(?P<m>\d{2})/"
                        r"day=(?P<d>\d{2})/[^/]+\.parquet$")
    seen_topics, rows = set(), 0
    for path in files:
        match = layout.match(path.removeprefix(lake.base + "/"))
        assert match, f"not hive-partitioned: {path}"
        seen_topics.add(match["topic"])
        table = pq.read_table(path, filesystem=lake.fs)
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        days = set(pc.strftime(table["event_time"], format="%Y-%m-%d").to_pylist())
        assert days == {day.isoformat()}, path  # each file holds its partition's day only
        rows += table.num_rows
    assert seen_topics == set(want)
    assert rows == summary.input_rows
