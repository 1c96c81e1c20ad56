"""The retail_kafka streaming source against the real local broker and real Spark."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaProducer
from kafka.admin import NewTopic

from retail.io.kafka import admin_client
from retail.io.spark_kafka import KafkaDataSource

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark() -> Iterator:
    from pyspark.sql import SparkSession

    # Spark's Python workers must run this interpreter: the source module lives in its venv.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("test-retail-kafka")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.ui.enabled", "false").getOrCreate())
    session.dataSource.register(KafkaDataSource)
    yield session
    session.stop()


def new_topic(broker, partitions: int = 3) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    admin = admin_client(broker.settings)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def produce(broker, topic: str, counts: dict[int, int], tag: str = "") -> set[bytes]:
    """``counts[p]`` records into partition p; returns every value sent."""
    p = KafkaProducer(bootstrap_servers=broker.settings.bootstrap_servers, linger_ms=5)
    sent = set()
    for part, n in counts.items():
        for i in range(n):
            value = f"{tag}{part}-{i}".encode()
            p.send(topic, key=f"k{i}".encode(), value=value, partition=part)
            sent.add(value)
    p.flush()
    p.close()
    return sent


def run(spark, broker, topic: str, checkpoint, **options) -> list[list]:
    """One availableNow run; returns the rows of each micro-batch."""
    batches: list[list] = []
    reader = (spark.readStream.format("retail_kafka")
              .option("kafka.bootstrap.servers", broker.settings.bootstrap_servers)
              .option("subscribe", topic).option("flavor", "tansu"))
    for key, value in options.items():
        reader = reader.option(key, value)
    query = (reader.load().writeStream
             .foreachBatch(lambda df, _id: batches.append(df.collect()))
             .option("checkpointLocation", str(checkpoint)).trigger(availableNow=True).start())
    query.awaitTermination(120)
    assert query.exception() is None, query.exception()
    return batches


def test_every_record_arrives_once_with_kafkas_columns(spark, broker, tmp_path):
    topic = new_topic(broker)
    sent = produce(broker, topic, {0: 700, 1: 30, 2: 0})  # skewed partitions
    rows = [r for batch in run(spark, broker, topic, tmp_path / "cp") for r in batch]
    assert sorted(bytes(r.value) for r in rows) == sorted(sent)
    first = next(r for r in rows if r.partition == 1 and r.offset == 0)
    assert (first.topic, bytes(first.key), bytes(first.value)) == (topic, b"k0", b"1-0")
    assert first.timestamp is not None


def test_a_cap_per_trigger_spreads_batches_by_backlog_and_loses_nothing(spark, broker,
                                                                        tmp_path):
    topic = new_topic(broker)
    sent = produce(broker, topic, {0: 900, 1: 100, 2: 0})
    batches = run(spark, broker, topic, tmp_path / "cp", maxOffsetsPerTrigger="250")
    assert len(batches) >= 4 and all(len(b) <= 250 for b in batches)
    first = batches[0]
    # 900:100 backlog -> 225 and 25 in the first batch, not 125 and 125
    assert sum(r.partition == 0 for r in first) == 225
    assert sum(r.partition == 1 for r in first) == 25
    assert sorted(bytes(r.value) for b in batches for r in b) == sorted(sent)


def test_a_restarted_query_resumes_after_its_checkpoint(spark, broker, tmp_path):
    topic = new_topic(broker)
    first = produce(broker, topic, {0: 50, 1: 50}, tag="a")
    got_first = {bytes(r.value) for b in run(spark, broker, topic, tmp_path / "cp") for r in b}
    second = produce(broker, topic, {0: 20, 2: 5}, tag="b")
    got_second = [bytes(r.value) for b in run(spark, broker, topic, tmp_path / "cp") for r in b]
    assert got_first == first
    assert sorted(got_second) == sorted(second)  # nothing re-read, nothing missed


def test_starting_at_latest_skips_what_was_there(spark, broker, tmp_path):
    topic = new_topic(broker)
    produce(broker, topic, {0: 10})
    assert sum(len(b) for b in run(spark, broker, topic, tmp_path / "cp",
                                   startingOffsets="latest")) == 0


def test_offsets_that_went_backwards_stop_the_query_instead_of_skipping(spark, broker,
                                                                        tmp_path):
    topic = new_topic(broker, partitions=1)
    produce(broker, topic, {0: 10})
    assert sum(len(b) for b in run(spark, broker, topic, tmp_path / "cp")) == 10
    admin = admin_client(broker.settings)
    try:  # the topic is recreated: its offsets start again at 0
        admin.delete_topics([topic])
        time.sleep(0.5)
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    produce(broker, topic, {0: 3})
    query = (spark.readStream.format("retail_kafka")
             .option("kafka.bootstrap.servers", broker.settings.bootstrap_servers)
             .option("subscribe", topic).option("flavor", "tansu").load()
             .writeStream.foreachBatch(lambda df, _id: None)
             .option("checkpointLocation", str(tmp_path / "cp"))
             .trigger(availableNow=True).start())
    with pytest.raises(Exception, match="offsets went backwards"):
        query.awaitTermination(120)
