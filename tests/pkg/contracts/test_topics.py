"""Kafka topics match the platform design and carry every event type exactly once."""

from __future__ import annotations

import pytest

from retail.contracts import (
    DEAD_LETTER_TOPIC,
    contract,
    event_types,
    topic,
    topic_for_event_type,
    topics,
)

SEVEN_DAYS_MS = 604_800_000


def test_the_topic_names_are_exactly_the_designed_ones():
    assert {t.name for t in topics()} == {
        "retail-sales-transactions", "retail-inventory-updates", "retail-restock-alerts",
        "retail-price-changes", "retail-supplier-shipments", "retail-customer-events",
        "retail-dead-letter"}


def test_topic_names_are_unique():
    names = [t.name for t in topics()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("name", "partitions"), [
    ("retail-sales-transactions", 3),
    ("retail-inventory-updates", 3),
    ("retail-restock-alerts", 1),
    ("retail-price-changes", 2),
])
def test_a_topic_has_its_designed_partition_count(name, partitions):
    assert topic(name).partitions == partitions


def test_every_topic_keeps_events_for_seven_days():
    assert {t.name: t.retention_ms for t in topics()} == {
        t.name: SEVEN_DAYS_MS for t in topics()}


def test_topic_configs_are_strings_as_kafka_expects():
    assert topic("retail-price-changes").configs() == {
        "retention.ms": str(SEVEN_DAYS_MS), "cleanup.policy": "delete"}


@pytest.mark.parametrize("event_type", event_types())
def test_every_event_type_is_carried_by_exactly_one_topic(event_type):
    carriers = [t.name for t in topics() if event_type in t.event_types]
    assert len(carriers) == 1
    assert topic_for_event_type(event_type) == carriers[0] == contract(event_type).topic


def test_every_event_type_a_topic_carries_has_a_contract():
    carried = [e for t in topics() for e in t.event_types]
    assert sorted(carried) == event_types()


def test_the_dead_letter_topic_carries_dead_letters():
    assert topic(DEAD_LETTER_TOPIC).event_types == ("dead_letter",)
    assert DEAD_LETTER_TOPIC == "retail-dead-letter"


def test_an_unknown_topic_raises_a_key_error_naming_the_known_topics():
    with pytest.raises(KeyError) as info:
        topic("retail-nope")
    message = str(info.value)
    assert "retail-nope" in message
    assert all(t.name in message for t in topics())


def test_an_event_type_no_topic_carries_raises_a_key_error_naming_it():
    with pytest.raises(KeyError, match="refund"):
        topic_for_event_type("refund")
