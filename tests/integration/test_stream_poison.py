"""Records that crashed the stream's Python worker (issue 15), through a real broker and
the real stream: each shape first in every partition of a micro-batch and again in its
middle, between the events of a simulated day.

The day is cut into one slice per shape; each slice is streamed on its own
(Trigger.AvailableNow, no restarts allowed), so every micro-batch begins, in every
partition of every input topic, with the shape of its turn. The stream must finish every
run, land every simulated event once, and quarantine each poison record once with its
reason and its exact bytes.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from kafka import KafkaProducer

from retail.contracts.columnar import json_ready
from retail.contracts.topics import DEAD_LETTER_TOPIC, topic
from retail.io.kafka import read_topic
from retail.io.lake import LakeWriter
from retail.io.producer import EventProducer
from retail.settings import LakeSettings
from retail.sim.catalog import generate_catalog
from retail.sim.engine import SimConfig, Simulator
from retail.streaming.job import input_topics
from retail.warehouse.load import load_dimensions
from tests.integration.stream_harness import REPLAY_LATE_AFTER_MINUTES, StreamEnv
from tests.pkg.transforms.crashing_shapes import crashing_shapes, matches

pytestmark = pytest.mark.integration


@pytest.fixture
def stream_env(fresh_broker, fresh_database, migrated, tmp_path) -> Iterator[StreamEnv]:
    yield StreamEnv(kafka=fresh_broker.settings, warehouse=fresh_database, wh=migrated,
                    root=tmp_path, stream={"late_after_minutes": REPLAY_LATE_AFTER_MINUTES})


def simulated_day(env: StreamEnv) -> dict[str, pa.Table]:
    """A small chain's day (two days ago), not sent; its dimensions loaded."""
    start = datetime.now(UTC).date() - timedelta(days=2)
    catalog = generate_catalog(1, 20, 7)
    sim = Simulator(catalog, SimConfig(seed=7, rate=4.0, start=start, days=1))
    load_dimensions(env.wh, catalog, start, 2)
    parts: dict[str, list[pa.Table]] = {}
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            parts.setdefault(event_type, []).append(table)
    return {k: pa.concat_tables(v) for k, v in parts.items()}


def time_slices(tables: dict[str, pa.Table], n: int) -> list[dict[str, pa.Table]]:
    """``n`` consecutive slices of the day by event time (each key's events stay in order)."""
    times = pa.concat_arrays([t["event_time"].combine_chunks() for t in tables.values()])
    first, last = pc.min(times).as_py(), pc.max(times).as_py()
    step = (last - first) / n
    cuts = [first + step * i for i in range(1, n)]
    out = []
    for lo, hi in zip([None, *cuts], [*cuts, None], strict=True):
        part = {}
        for event_type, table in tables.items():
            t = table["event_time"]
            keep = pc.and_(pc.greater_equal(t, pa.scalar(lo, t.type)) if lo else
                           pc.is_valid(t), pc.less(t, pa.scalar(hi, t.type)) if hi else
                           pc.is_valid(t))
            part[event_type] = table.filter(keep)
        out.append(part)
    return out


def send_events(env: StreamEnv, tables: dict[str, pa.Table]) -> None:
    producer = EventProducer(env.kafka, name="test-sim")
    for event_type, table in tables.items():
        producer.send_table(event_type, table)
    producer.close()
    assert producer.stats.failed == 0 and producer.stats.invalid == 0, producer.stats


def send_everywhere(producer: KafkaProducer, name: str, value: bytes, where: str
                    ) -> dict[str, bytes]:
    """``value`` into every partition of every input topic; key -> value."""
    sent = {}
    for name_of_topic in input_topics():
        for p in range(topic(name_of_topic).partitions):
            key = f"poison|{name}|{name_of_topic}|{p}|{where}"
            producer.send(name_of_topic, key=key.encode(), value=value,
                          partition=p).get(timeout=30)
            sent[key] = value
    return sent


def test_no_crashing_shape_stops_the_stream_first_in_every_partition_or_mid_batch(stream_env):
    day = simulated_day(stream_env)
    good_sale = json_ready(day["sales_transaction"].slice(0, 1)).to_pylist()[0]
    shapes = crashing_shapes(good_sale)
    total = sum(t.num_rows for t in day.values())
    producer = KafkaProducer(bootstrap_servers=stream_env.kafka.bootstrap_servers,
                             acks="all", max_request_size=1024 * 1024)
    poison: dict[str, bytes] = {}
    input_rows = 0
    for (name, shape), (first_half, second_half) in zip(
            shapes.items(), _pairs(time_slices(day, 2 * len(shapes))), strict=True):
        poison |= send_everywhere(producer, name, shape.value, "first")
        send_events(stream_env, first_half)
        poison |= send_everywhere(producer, name, shape.value, "middle")
        send_events(stream_env, second_half)
        summary = stream_env.run()  # no restarts allowed: a worker crash fails the test
        assert summary.restarts == 0
        input_rows += summary.input_rows
    producer.close()
    assert input_rows == total + len(poison)

    (sales, units, revenue), = stream_env.rows(
        "SELECT count(), sum(quantity), sum(revenue) FROM fact_sales")
    assert sales == day["sales_transaction"].num_rows
    (moves,), = stream_env.rows("SELECT count() FROM fact_inventory")
    assert moves == day["inventory_update"].num_rows
    (raw, raw_ids), = stream_env.rows("SELECT count(), uniqExact(event_id) FROM raw_events")
    assert raw == raw_ids == total
    lake = LakeWriter(LakeSettings(root=str(stream_env.lake_root)))
    landed = lake.read("retail-sales-transactions").to_pandas()  # the lake reads in pandas
    assert len(landed) == sales

    quarantined = stream_env.rows(
        "SELECT key, reason, error, payload_base64 FROM quarantine_events")
    assert Counter(k for k, *_ in quarantined) == Counter(list(poison))  # each one once
    for key, reason, error, kept in quarantined:
        shape = shapes[key.split("|")[1]]
        assert matches(shape, reason, error), (key, reason, error)
        assert base64.b64decode(kept) == poison[key]  # the exact bytes

    letters = [orjson.loads(r.value) for r in read_topic(stream_env.kafka, DEAD_LETTER_TOPIC)]
    assert Counter(d["key"] for d in letters) == Counter(list(poison))
    for d in letters:
        exact = base64.b64decode(d["payload_base64"]) if "payload_base64" in d else \
            d["payload"].encode()
        assert exact == poison[d["key"]], d["key"]


def _pairs(slices: list) -> list[tuple]:
    return list(zip(slices[::2], slices[1::2], strict=True))
