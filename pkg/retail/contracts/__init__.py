"""Versioned event contracts and topic definitions."""

from retail.contracts.registry import (
    ENVELOPE_FIELDS,
    Contract,
    ContractViolation,
    contract,
    event_key,
    event_types,
    registry,
    validate_event,
)
from retail.contracts.topics import DEAD_LETTER_TOPIC, Topic, topic, topic_for_event_type, topics

__all__ = [
    "DEAD_LETTER_TOPIC",
    "ENVELOPE_FIELDS",
    "Contract",
    "ContractViolation",
    "Topic",
    "contract",
    "event_key",
    "event_types",
    "registry",
    "topic",
    "topic_for_event_type",
    "topics",
    "validate_event",
]
