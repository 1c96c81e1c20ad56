"""Reading offset ranges with librdkafka, against the real local broker."""

from __future__ import annotations

import pyarrow as pa
import pytest
from kafka import KafkaProducer

from retail.io.kafka import end_offsets_of
from retail.io.kafka_fetch import RECORD_SCHEMA, librdkafka_config, read_ranges
from retail.settings import KafkaSettings
from tests.integration.test_spark_kafka_source import new_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def topic(broker) -> str:
    """Two partitions: 0 holds 700 records (in several record batches), 1 holds 40."""
    name = new_topic(broker, partitions=2)
    p = KafkaProducer(bootstrap_servers=broker.settings.bootstrap_servers, linger_ms=2,
                      batch_size=4096)
    for part, n in ((0, 700), (1, 40)):
        for i in range(n):
            key = None if i % 7 == 0 else f"k{i}".encode()
            p.send(name, key=key, value=f"{part}-{i}".encode(), partition=part,
                   timestamp_ms=1_700_000_000_000 + i)
    p.flush()
    p.close()
    return name


def read(broker, ranges, **kw) -> pa.Table:
    batches = list(read_ranges(broker.settings, ranges, **kw))
    assert all(b.schema == RECORD_SCHEMA for b in batches)
    return pa.Table.from_batches(batches, RECORD_SCHEMA)


def test_a_range_gives_exactly_its_records_in_order(broker, topic) -> None:
    got = read(broker, [(topic, 0, 150, 613), (topic, 1, 0, 40)])
    rows = got.to_pylist()
    zero = [r for r in rows if r["partition"] == 0]
    one = [r for r in rows if r["partition"] == 1]
    assert [r["offset"] for r in zero] == list(range(150, 613))
    assert [r["offset"] for r in one] == list(range(40))
    assert [r["value"] for r in zero] == [f"0-{i}".encode() for i in range(150, 613)]
    assert [r["key"] for r in zero] == [None if i % 7 == 0 else f"k{i}".encode()
                                        for i in range(150, 613)]
    assert {r["topic"] for r in rows} == {topic}
    assert zero[0]["timestamp"].timestamp() == pytest.approx(1_700_000_000.150)


def test_an_empty_range_reads_nothing(broker, topic) -> None:
    assert list(read_ranges(broker.settings, [(topic, 0, 5, 5)])) == []


def test_the_whole_partition_up_to_its_true_end(broker, topic) -> None:
    ends = end_offsets_of(broker.settings, [topic])
    got = read(broker, [(topic, p, 0, end) for (_, p), end in ends.items()])
    assert got.num_rows == 740


def test_a_range_past_the_end_times_out_naming_it(broker, topic) -> None:
    with pytest.raises(TimeoutError, match=f"no records for 1 s.*{topic}"):
        read(broker, [(topic, 1, 30, 45)], idle_s=1.0)


def test_librdkafka_config_maps_security_and_drops_unset() -> None:
    plain = librdkafka_config(KafkaSettings(bootstrap_servers="a:9092,b:9092"))
    assert plain["bootstrap.servers"] == "a:9092,b:9092"
    assert plain["security.protocol"] == "plaintext"
    assert not any(k.startswith(("sasl.", "ssl.")) for k in plain)
    sasl = librdkafka_config(KafkaSettings(
        bootstrap_servers="a:9093", security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password="p",
        ssl_cafile="/etc/ca.crt"))
    assert (sasl["security.protocol"], sasl["sasl.mechanism"], sasl["sasl.username"],
            sasl["sasl.password"], sasl["ssl.ca.location"]) == (
        "sasl_ssl", "SCRAM-SHA-512", "u", "p", "/etc/ca.crt")
