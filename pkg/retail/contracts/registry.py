"""Event contracts: versioned JSON Schemas, composed with the shared envelope and compiled.

Schema files live in ``schemas/<event_type>/v<N>.json`` and hold only the event's own
fields. The registry adds the envelope (``schemas/envelope/v1.json``): ``event_id``,
``event_type`` (fixed to the event type), ``schema_version`` (fixed to N) and
``event_time``, closes the object (unknown fields are errors) and compiles a validator.
``Contract.schema`` is the full, standalone JSON Schema (draft-07) that other tools can use.
What JSON Schema cannot say (a sale line's arithmetic, timestamps bounded by what they mean)
is in :mod:`retail.contracts.semantics`, checked after the schema.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from retail.contracts.semantics import (LineTotal, TimeSpan, duplicate_key, first_broken,
                                       rules_for)
from retail.contracts.topics import topic_for_event_type

ENVELOPE_FIELDS = ("event_id", "event_type", "schema_version", "event_time")
_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


class ContractViolation(ValueError):
    """An event does not match its contract. ``field`` names the offending field (or None)."""

    def __init__(self, event_type: str | None, message: str, field: str | None = None):
        self.event_type = event_type
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Contract:
    """One event type at one schema version."""

    event_type: str
    version: int
    schema: dict[str, Any]
    topic: str
    _validate: Any = field(repr=False, compare=False)
    rules: tuple[LineTotal | TimeSpan, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.schema["properties"])

    def validate(self, event: Mapping[str, Any]) -> None:
        """Raise :class:`ContractViolation` naming the first bad field: the schema first,
        then the contract's :mod:`~retail.contracts.semantics` rules."""
        try:
            self._validate(event)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = [p for p in (exc.path or []) if p != "data"]
            name = ".".join(str(p) for p in path) or None
            if name is None and exc.rule == "required":
                name = _missing_field(exc.message)
            elif name is None and exc.rule == "additionalProperties":
                name = _extra_field(event, self.fields)
            msg = exc.message.replace("data.", "").replace("data ", "event ")
            raise ContractViolation(
                self.event_type, f"{self.event_type} v{self.version}: {msg}", name
            ) from None
        # JSON has no NaN or infinity, and range checks let NaN through: refuse both.
        for key, value in event.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ContractViolation(self.event_type, f"{self.event_type} v{self.version}: "
                                        f"{key} must be a finite number, got {value}", key)
        broken = first_broken(self.rules, event)
        if broken is not None:
            raise ContractViolation(self.event_type, f"{self.event_type} v{self.version}: "
                                    f"{broken[1]}", broken[0])

    def validate_keys(self, text: bytes | str, event: Mapping[str, Any]) -> None:
        """Raise :class:`ContractViolation` if the JSON object ``text``, parsed as
        ``event``, gives a key more than once (naming that key)."""
        twice = duplicate_key(text, event)
        if twice is not None:
            raise ContractViolation(self.event_type, f"{self.event_type} v{self.version}: key "
                                    f"{twice} is given more than once (JSON parsers disagree "
                                    "on which value counts)", twice)


def _missing_field(message: str) -> str | None:
    # fastjsonschema: "data must contain ['quantity'] properties"
    found = re.search(r"\['([^']+)'", message)
    return found.group(1) if found else None


def _extra_field(event: Mapping[str, Any], known: tuple[str, ...]) -> str | None:
    extra = sorted(set(event) - set(known))
    return extra[0] if extra else None


def _load_json(*parts: str) -> dict[str, Any]:
    path = resources.files("retail.contracts").joinpath("schemas", *parts)
    return json.loads(path.read_text(encoding="utf-8"))


def _compose(event_type: str, version: int, own: dict[str, Any]) -> dict[str, Any]:
    envelope = _load_json("envelope", "v1.json")
    schema = copy.deepcopy(own)
    props = copy.deepcopy(envelope["properties"])
    props["event_type"] = {"const": event_type}
    props["schema_version"] = {"const": version}
    props.update(schema["properties"])
    schema["properties"] = props
    schema["required"] = list(ENVELOPE_FIELDS) + [
        f for f in schema["required"] if f not in ENVELOPE_FIELDS
    ]
    schema["definitions"] = {**envelope["definitions"], **schema.get("definitions", {})}
    schema["additionalProperties"] = False
    return schema


@cache
def registry() -> dict[tuple[str, int], Contract]:
    """Every contract, keyed by ``(event_type, version)``."""
    out: dict[tuple[str, int], Contract] = {}
    root = resources.files("retail.contracts").joinpath("schemas")
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir() or folder.name == "envelope":
            continue
        for file in folder.iterdir():
            m = _VERSION_FILE.match(file.name)
            if not m:
                continue
            version = int(m.group(1))
            schema = _compose(folder.name, version, json.loads(file.read_text(encoding="utf-8")))
            out[(folder.name, version)] = Contract(
                event_type=folder.name,
                version=version,
                schema=schema,
                topic=topic_for_event_type(folder.name),
                _validate=fastjsonschema.compile(schema),
                rules=rules_for(folder.name, tuple(schema["properties"])),
            )
    return out


def event_types() -> list[str]:
    return sorted({t for t, _ in registry()})


def contract(event_type: str, version: int | None = None) -> Contract:
    """The contract for ``event_type`` at ``version`` (default: the latest)."""
    versions = sorted(v for t, v in registry() if t == event_type)
    if not versions:
        raise ContractViolation(
            event_type, f"unknown event_type {event_type!r}; known: {', '.join(event_types())}",
            "event_type",
        )
    chosen = versions[-1] if version is None else version
    if (event_type, chosen) not in registry():
        raise ContractViolation(
            event_type,
            f"{event_type} has no schema_version {chosen!r}; known: {versions}",
            "schema_version",
        )
    return registry()[(event_type, chosen)]


def validate_event(event: Any) -> Contract:
    """Validate any event by its own ``event_type`` and ``schema_version``; return its contract."""
    if not isinstance(event, Mapping):
        raise ContractViolation(None, f"event must be a JSON object, got {type(event).__name__}")
    event_type = event.get("event_type")
    if not isinstance(event_type, str):
        raise ContractViolation(None, "event_type is missing or not a string", "event_type")
    version = event.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ContractViolation(event_type, "schema_version is missing or not an integer",
                                "schema_version")
    found = contract(event_type, version)
    found.validate(event)
    return found


def event_key(event: Mapping[str, Any]) -> str:
    """Partition key ``store_id|product_id``; store-level events use ``store_id|*``."""
    return f"{event.get('store_id') or '*'}|{event.get('product_id') or '*'}"
