"""Kafka topic definitions, loaded from ``topics.yaml`` (the one source of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

DEAD_LETTER_TOPIC = "retail-dead-letter"


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    replicas: int
    retention_ms: int
    cleanup_policy: str
    event_types: tuple[str, ...]
    description: str

    def configs(self) -> dict[str, str]:
        """Topic-level configs as Kafka expects them (CreateTopics, KafkaTopic.spec.config)."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


@cache
def topics() -> tuple[Topic, ...]:
    raw = yaml.safe_load(resources.files("retail.contracts").joinpath("topics.yaml").read_text())
    defaults = raw["defaults"]
    out = []
    for t in raw["topics"]:
        merged = {**defaults, **t}
        out.append(
            Topic(
                name=merged["name"],
                partitions=int(merged["partitions"]),
                replicas=int(merged["replicas"]),
                retention_ms=int(merged["retention_ms"]),
                cleanup_policy=merged["cleanup_policy"],
                event_types=tuple(merged["event_types"]),
                description=merged["description"],
            )
        )
    return tuple(out)


def topic(name: str) -> Topic:
    for t in topics():
        if t.name == name:
            return t
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(t.name for t in topics())}")


def topic_for_event_type(event_type: str) -> str:
    for t in topics():
        if event_type in t.event_types:
            return t.name
    raise KeyError(f"no topic carries event_type {event_type!r}; add it to topics.yaml")
