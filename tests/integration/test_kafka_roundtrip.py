"""Producing to and consuming from the real local broker (Tansu) over the Kafka protocol."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
from kafka import TopicPartition
from kafka.partitioner.default import murmur2

from retail.contracts import event_key, topic, topic_for_event_type
from retail.io.kafka import (consumer, end_offsets, end_offsets_of, offsets_consumer,
                             partition_for, read_topic)
from retail.io.parallel import ParallelProducer
from retail.io.producer import EventProducer
from retail.sim import SimConfig, Simulator, generate_catalog, to_json_events
from retail.simulate import KafkaSink, backfill

pytestmark = pytest.mark.integration


def small_run(seed: int = 7, days: int = 1):
    sim = Simulator(generate_catalog(3, 150, seed), SimConfig(seed=seed, rate=15, days=days))
    return sim


def test_every_simulated_event_arrives_once_with_counts_equal(fresh_broker):
    sim = small_run()
    summary = backfill(sim, KafkaSink(ParallelProducer(fresh_broker.settings, workers=2)))
    assert summary.total > 10_000
    assert summary.producer.acked == summary.total
    assert summary.producer.failed == summary.producer.invalid == 0

    per_topic = Counter()
    for event_type, n in summary.events.items():
        per_topic[topic_for_event_type(event_type)] += n
    for name, expected in per_topic.items():
        assert sum(end_offsets(fresh_broker.settings, name).values()) == expected, name

    records = read_topic(fresh_broker.settings, "retail-sales-transactions")
    ids = [orjson.loads(r.value)["event_id"] for r in records]
    assert len(ids) == len(set(ids)) == summary.events["sales_transaction"]


def test_keys_land_in_stable_partitions_as_the_java_client_would_place_them(fresh_broker):
    sim = small_run(seed=11)
    backfill(sim, KafkaSink(ParallelProducer(fresh_broker.settings, workers=2)))
    records = read_topic(fresh_broker.settings, "retail-inventory-updates")
    n = topic("retail-inventory-updates").partitions
    seen: dict[bytes, int] = {}
    for r in records:
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % n == partition_for(r.key, n)
        assert seen.setdefault(r.key, r.partition) == r.partition
        assert r.key.decode() == event_key(orjson.loads(r.value))
    assert len(seen) > 50


def test_per_key_order_is_the_order_of_stock_movements(fresh_broker):
    sim = small_run(seed=5, days=2)
    backfill(sim, KafkaSink(ParallelProducer(fresh_broker.settings, workers=2)))
    last: dict[bytes, int] = {}
    for r in sorted(read_topic(fresh_broker.settings, "retail-inventory-updates"),
                    key=lambda r: (r.partition, r.offset)):
        e = orjson.loads(r.value)
        if r.key in last:
            assert e["new_quantity"] == last[r.key] + e["quantity_change"]
        last[r.key] = e["new_quantity"]
    truth = sim.ground_truth()
    assert {k.decode(): v for k, v in last.items()} == {k: truth[k] for k in
                                                        (k.decode() for k in last)}


def _sale(**overrides):
    sim = small_run()
    event = to_json_events(next(sim.run()).tables["sales_transaction"].slice(0, 1))[0]
    event.update(overrides)
    return event


def test_a_malformed_event_goes_to_the_dead_letter_topic_with_its_reason(fresh_broker):
    delivered = []
    producer = EventProducer(fresh_broker.settings, name="test-producer",
                             on_delivery=lambda t, k, v, err: delivered.append((t, err)))
    good, bad = _sale(), _sale(quantity=0)
    producer.send(good)
    producer.send(bad)
    producer.close()
    assert (producer.stats.sent, producer.stats.acked) == (1, 1)
    assert sorted(delivered) == [("retail-dead-letter", None),
                                 ("retail-sales-transactions", None)]
    assert (producer.stats.invalid, producer.stats.dead_lettered) == (1, 1)

    sales = read_topic(fresh_broker.settings, "retail-sales-transactions")
    assert [orjson.loads(r.value)["event_id"] for r in sales] == [good["event_id"]]
    [dead] = read_topic(fresh_broker.settings, "retail-dead-letter")
    record = orjson.loads(dead.value)
    assert record["reason"] == "contract_violation"
    assert record["error_field"] == "quantity"
    assert "quantity" in record["error"]
    assert record["source_topic"] == "retail-sales-transactions"
    assert record["producer"] == "test-producer"
    assert orjson.loads(record["payload"]) == bad
    assert dead.key.decode() == event_key(bad)


def test_a_table_with_bad_rows_sends_the_good_ones_and_dead_letters_the_rest(fresh_broker):
    sim = small_run()
    table = next(sim.run()).tables["sales_transaction"].slice(0, 200)
    prices = table["unit_price"].to_pylist()
    prices[3] = -1.0
    prices[150] = 0.0
    import pyarrow as pa

    broken = table.set_column(table.column_names.index("unit_price"), "unit_price",
                              pa.array(prices))
    producer = EventProducer(fresh_broker.settings)
    producer.send_table("sales_transaction", broken)
    producer.close()
    assert (producer.stats.acked, producer.stats.invalid, producer.stats.dead_lettered) == \
        (198, 2, 2)
    dead = [orjson.loads(r.value) for r in read_topic(fresh_broker.settings, "retail-dead-letter")]
    assert sorted(d["error_field"] for d in dead) == ["unit_price", "unit_price"]
    bad_ids = {broken["event_id"][3].as_py(), broken["event_id"][150].as_py()}
    assert {orjson.loads(d["payload"])["event_id"] for d in dead} == bad_ids


def test_a_consumer_group_resumes_from_its_committed_offsets_after_a_restart(broker, group_id):
    producer = EventProducer(broker.settings)
    sim = small_run(seed=21)
    events = to_json_events(next(sim.run()).tables["inventory_update"].slice(0, 400))
    first, second = events[:250], events[250:]
    name = "retail-inventory-updates"
    before = sum(end_offsets(broker.settings, name).values())
    producer.send_many(first)
    producer.flush()

    def consume_until(c, want: int) -> list[dict]:
        got: list[dict] = []
        deadline = time.monotonic() + 60
        while len(got) < want and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend(orjson.loads(r.value) for r in recs)
        return got

    c1 = consumer(broker.settings, group_id=group_id)
    c1.subscribe([name])
    got1 = consume_until(c1, before + len(first))
    c1.commit()
    c1.close()

    producer.send_many(second)
    producer.close()
    c2 = consumer(broker.settings, group_id=group_id)
    c2.subscribe([name])
    got2 = consume_until(c2, len(second))
    c2.close()
    ours = {e["event_id"] for e in events}
    assert [e for e in got1 if e["event_id"] in ours] and len(got2) == len(second)
    assert {e["event_id"] for e in got2} == {e["event_id"] for e in second}
    assert not {e["event_id"] for e in got1} & {e["event_id"] for e in got2}


def test_end_offsets_are_true_although_the_broker_reports_a_short_high_watermark(fresh_broker):
    producer = EventProducer(fresh_broker.settings)
    events = to_json_events(next(small_run(seed=3).run()).tables["inventory_update"])
    producer.send_many(events)
    producer.close()
    name = "retail-inventory-updates"
    true_end = end_offsets(fresh_broker.settings, name)
    assert sum(true_end.values()) == len(events)
    c = consumer(fresh_broker.settings, group_id=None)
    reported = c.end_offsets([TopicPartition(name, p) for p in true_end])
    c.close()
    # Tansu answers ListOffsets(latest) with the last batch's base offset + 1.
    assert all(reported[TopicPartition(name, p)] <= off for p, off in true_end.items())
    assert sum(reported.values()) < len(events)


def test_a_kept_offsets_consumer_answers_each_end_check_without_waiting_out_a_fetch(
        fresh_broker):
    """A streaming source asks for the true ends before every micro-batch with one kept
    consumer. With kafka-python's default fetch wait (500 ms) each call after the first
    waited for the fetch the previous one left in flight: 0.6 s a call on Tansu, 0.13 s
    with the offsets consumer's 10 ms."""
    producer = EventProducer(fresh_broker.settings)
    events = to_json_events(next(small_run(seed=4).run()).tables["inventory_update"])
    producer.send_many(events)
    producer.close()
    name = "retail-inventory-updates"
    c = offsets_consumer(fresh_broker.settings)
    try:
        seconds = []
        for _ in range(5):
            t = time.perf_counter()
            ends = end_offsets_of(fresh_broker.settings, [name], client=c)
            seconds.append(time.perf_counter() - t)
            assert sum(ends.values()) == len(events)
    finally:
        c.close()
    assert sorted(seconds)[2] < 0.45, seconds


def test_a_delivery_that_fails_is_spooled_to_disk_when_even_the_dead_letter_topic_is_down(
        fresh_broker, tmp_path):
    settings = fresh_broker.settings.model_copy(update={
        "delivery_timeout_ms": 3000, "request_timeout_ms": 1000, "retries": 1})
    spool = tmp_path / "spool.jsonl"
    producer = EventProducer(settings, spool=spool)
    producer.send(_sale())
    producer.flush()
    fresh_broker.stop()
    lost = _sale()
    producer.send(lost)
    producer.close(timeout_s=20)
    assert producer.stats.acked == 1 and producer.stats.failed == 1
    assert producer.stats.spooled == 1
    [line] = spool.read_bytes().splitlines()
    record = orjson.loads(line)
    assert record["reason"] == "delivery_failed"
    assert orjson.loads(record["payload"])["event_id"] == lost["event_id"]
