"""Contracts applied to whole Arrow tables: validation and JSON encoding, column at a time.

Validating and serialising row by row in Python costs more per event than sending it, so
bulk producers validate columns with Arrow compute kernels and encode JSON by joining
column texts. The row validator stays the reference: the columnar one is compiled from
the same JSON Schema, refuses to compile a keyword it does not implement (so a new
constraint can never be skipped silently), and rows it rejects are re-checked row by row to
get the exact message for the dead-letter record. The rules beyond JSON Schema come from
:mod:`retail.contracts.semantics`, which evaluates each both ways. Tests check both agree.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retail.contracts.registry import Contract
from retail.contracts.semantics import rows_keep

_ANNOTATIONS = {"description", "title", "$comment", "examples", "default"}
_IMPLEMENTED = _ANNOTATIONS | {"type", "const", "enum", "pattern", "minimum", "maximum",
                               "exclusiveMinimum", "exclusiveMaximum", "minLength",
                               "maxLength", "not", "$ref"}
_TYPE_OK = {
    "string": pa.types.is_string,
    "integer": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    "boolean": pa.types.is_boolean,
}


class UnsupportedSchema(NotImplementedError):
    """The schema uses a keyword the columnar validator cannot check."""


def resolve_property(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in prop:
        ref = prop["$ref"]
        name = ref.removeprefix("#/definitions/")
        merged = {k: v for k, v in prop.items() if k != "$ref"}
        prop = {**schema["definitions"][name], **merged}
    return prop


def _check(col: pa.ChunkedArray, rule: str, arg: Any) -> pa.ChunkedArray | None:
    if rule == "const":
        return pc.equal(col, pa.scalar(arg, col.type)) if not isinstance(arg, str) or \
            pa.types.is_string(col.type) else None
    if rule == "enum":
        return pc.is_in(col, value_set=pa.array([v for v in arg if v is not None], col.type))
    if rule == "pattern":
        return pc.match_substring_regex(col, arg)
    if rule == "minimum":
        return pc.greater_equal(col, arg)
    if rule == "maximum":
        return pc.less_equal(col, arg)
    if rule == "exclusiveMinimum":
        return pc.greater(col, arg)
    if rule == "exclusiveMaximum":
        return pc.less(col, arg)
    if rule == "minLength":
        return pc.greater_equal(pc.utf8_length(col), arg)
    if rule == "maxLength":
        return pc.less_equal(pc.utf8_length(col), arg)
    if rule == "not":
        if set(arg) != {"const"}:
            raise UnsupportedSchema(f"'not' supports only const, got {arg}")
        return pc.invert(pc.equal(col, pa.scalar(arg["const"], col.type)))
    raise UnsupportedSchema(rule)


def valid_rows(contract: Contract, table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """A boolean per row: True where the row satisfies ``contract``, its semantic rules
    included (a sale line's arithmetic, time bounds).

    ``table`` holds the event as JSON would (times already formatted as strings). A
    missing required column, an extra column or a column of the wrong type fails every
    row. Raises :class:`UnsupportedSchema` if the schema needs a keyword not handled here.
    """
    schema = contract.schema
    n = table.num_rows
    all_false = pa.array([False] * n, pa.bool_())
    names = set(table.column_names)
    if not set(schema["required"]) <= names or not names <= set(schema["properties"]):
        return all_false
    ok = pa.array([True] * n, pa.bool_())
    for name in table.column_names:
        prop = resolve_property(schema, schema["properties"][name])
        unknown = set(prop) - _IMPLEMENTED
        if unknown:
            raise UnsupportedSchema(f"{contract.event_type}.{name}: {sorted(unknown)}")
        col = table[name]
        types = prop.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        nullable = "null" in types or (not types and None in prop.get("enum", []))
        concrete = [t for t in types if t != "null"]
        if "const" in prop or "enum" in prop:
            concrete = concrete or ["string" if isinstance(
                (prop.get("enum") or [prop.get("const")])[0], str) else "integer"]
        if concrete and not any(_TYPE_OK[t](col.type) for t in concrete) \
                and not pa.types.is_null(col.type):
            return all_false
        col_ok = pa.array([True] * n, pa.bool_())
        if "integer" in concrete and pa.types.is_floating(col.type):
            # JSON Schema: 2.0 is an integer, 2.5 is not.
            col_ok = pc.equal(col, pc.floor(col))
        if not pa.types.is_null(col.type):
            for rule, arg in prop.items():
                if rule in _ANNOTATIONS or rule == "type":
                    continue
                verdict = _check(col, rule, arg)
                if verdict is None:
                    return all_false
                col_ok = pc.and_kleene(col_ok, verdict)
        present = pc.is_valid(col)
        col_ok = pc.if_else(present, pc.fill_null(col_ok, False), nullable)
        ok = pc.and_(ok, col_ok)
    return pc.and_(ok, rows_keep(contract.rules, table))


def json_ready(table: pa.Table) -> pa.Table:
    """The table as its JSON documents carry it: timestamps as ISO-8601 UTC text with Z."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            utc = field.type.tz in ("UTC", "+00:00")
            if not utc:
                raise TypeError(f"{field.name}: timestamps must be UTC, got tz={field.type.tz}")
            text = pc.strftime(table[field.name], format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(i, field.name, text)
    return table


def _json_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each value of ``col`` as JSON text (``null`` for nulls)."""
    t = col.type
    if pa.types.is_string(t):
        esc = pc.replace_substring(col, "\\", "\\\\")
        esc = pc.replace_substring(esc, '"', '\\"')
        text = pc.binary_join_element_wise('"', esc, '"', "")
    elif pa.types.is_boolean(t):
        text = pc.if_else(col, "true", "false")
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        text = pc.cast(col, pa.string())
    elif pa.types.is_null(t):
        return pa.chunked_array([pa.array(["null"] * len(col), pa.string())])
    else:
        raise TypeError(f"cannot encode {t} as JSON; format it first")
    return pc.fill_null(text, "null")


def needs_row_encoding(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Rows the column encoder must not handle: control characters or non-finite numbers."""
    flag = pa.array([False] * table.num_rows, pa.bool_())
    for name in table.column_names:
        col = table[name]
        if pa.types.is_string(col.type):
            bad = pc.match_substring_regex(col, r"[\x00-\x1f\x7f]")
        elif pa.types.is_floating(col.type):
            bad = pc.invert(pc.is_finite(col))
        else:
            continue
        flag = pc.or_(flag, pc.fill_null(bad, False))
    return flag


def encode_json(table: pa.Table) -> list[bytes]:
    """One compact JSON document per row, keys in column order.

    Callers route rows flagged by :func:`needs_row_encoding` through orjson instead.
    """
    if table.num_rows == 0:
        return []
    pieces: list[Any] = []
    for i, name in enumerate(table.column_names):
        pieces.append(("{" if i == 0 else ",") + f'"{name}":')
        pieces.append(_json_text(table[name]))
    pieces.append("}")
    joined = pc.binary_join_element_wise(*pieces, "")
    return pc.cast(joined, pa.binary()).to_pylist()
