"""Records that crashed Spark's Python worker or got past the columnar path before the
parse guard (issue 15), each with the row path's verdict: shared by the unit tests and the
stream's integration test."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class Shape(NamedTuple):
    value: bytes
    reason: str | None  # None: a good event
    error: str  # the reject_error, or its beginning when it ends with "..."


def nested(event: dict[str, Any], depth: int) -> bytes:
    """``event`` with one extra field nested ``depth`` arrays deep."""
    return orjson.dumps(event)[:-1] + b',"extra":' + b"[" * depth + b"]" * depth + b"}"


def crashing_shapes(event: dict[str, Any]) -> dict[str, Shape]:
    """Each shape, made from a good ``event`` (one with a ``store_id``)."""
    text = orjson.dumps(event)
    bad = text.replace(b'"store_id":"', b'"store_id":"\xff\xfe', 1)
    at = bad.index(b"\xff")
    top = "serialization_error"
    return {
        "null": Shape(b"null", top, "not a JSON object but a NoneType"),
        "empty array": Shape(b"[]", top, "not a JSON object but a list"),
        "string": Shape(b'"x"', top, "not a JSON object but a str"),
        "number": Shape(b"123", top, "not a JSON object but a int"),
        "nested 20,000 deep": Shape(nested(event, 20_000), top, "nested deeper than 32 levels"),
        "nested 10,000 deep": Shape(nested(event, 10_000), top, "nested deeper than 32 levels"),
        "invalid UTF-8 in a string": Shape(bad, top, f"not valid UTF-8 at byte {at}"),
        "truncated": Shape(text[:-9], top, "not valid JSON: ..."),
        "byte order mark": Shape(b"\xef\xbb\xbf" + text, top, "not valid JSON: ..."),
    }


def padded(event: dict[str, Any]) -> bytes:
    """A good event with blanks around it: the row path takes it, the reader is not given
    it."""
    return b" \t" + orjson.dumps(event) + b"  "


def matches(shape: Shape, reason: str | None, error: str | None) -> bool:
    if shape.reason is None:
        return reason is None
    if shape.error.endswith("..."):
        return reason == shape.reason and (error or "").startswith(shape.error[:-3])
    return (reason, error) == (shape.reason, shape.error)
