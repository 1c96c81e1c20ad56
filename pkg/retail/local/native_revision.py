"""Native output at a client's protocol revision, rewritten from chDB's revision-0 stream.

ClickHouse's HTTP interface writes ``FORMAT Native`` at the ``client_protocol_version=<n>`` a
client asks for; chDB writes revision 0 only. :class:`NativeRevision` rewrites chDB's stream as
it flows: each block gains the BlockInfo prefix, each column the custom-serialization byte (from
54454) and, given the true types, a ``DateTime`` its time zone (from 54337; chDB's revision-0
writer drops it). Column data is copied as is, skipped by type to find where a block ends.
Layouts: ClickHouse's Native format specification, "Protocol revision and the Native format"
and "Data types" (https://clickhouse.com/docs/reference/interfaces/specs/NativeFormat).
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Callable, Iterator
from typing import NamedTuple

from retail.local.errors import ClickHouseError

# DBMS_MIN_REVISION_WITH_* thresholds (ClickHouse's src/Core/ProtocolDefines.h).
_DATETIME_TIME_ZONE, _LOW_CARDINALITY, _CUSTOM_SERIALIZATION = 54337, 54405, 54454
_OUT_OF_ORDER_BUCKETS = 54480
# Types whose serialization changes with the revision (never re-encoded here).
_BY_REVISION = {"AggregateFunction": 54452, "Dynamic": 54473, "JSON": 54473, "Object": 54473}
_WIDTHS = {
    **dict.fromkeys(("UInt8", "Int8", "Bool", "Enum8", "Nothing"), 1),
    **dict.fromkeys(("UInt16", "Int16", "BFloat16", "Date", "Enum16"), 2),
    **dict.fromkeys(("UInt32", "Int32", "Float32", "Date32", "DateTime", "Time", "IPv4",
                     "Decimal32"), 4),
    **dict.fromkeys(("UInt64", "Int64", "Float64", "DateTime64", "Time64", "Decimal64"), 8),
    **dict.fromkeys(("UInt128", "Int128", "UUID", "IPv6", "Decimal128"), 16),
    **dict.fromkeys(("UInt256", "Int256", "Decimal256"), 32),
}
_DATETIME = re.compile(r"\bDateTime(?:\('(?:[^'\\]|\\.)*'\))?(?![\w(])")  # not DateTime64
_BARE_DATETIME = re.compile(r"\bDateTime(?![\w(])")
_ELEMENT_NAME = re.compile(r"^(?:`(?:[^`\\]|\\.)*`|[A-Za-z_]\w*)\s+(?=\S)")  # `name Type`
_SPACES = re.compile(r"\s+")


class _Node(NamedTuple):
    """How a type's data is laid out."""

    kind: str  # fixed | string | nullable | array | tuple | low_cardinality
    width: int = 0
    children: tuple[_Node, ...] = ()


class _Unsupported(Exception):
    """A type (or inner type) whose data cannot be skipped."""


class _Short(Exception):
    """The bytes so far end inside the current header or column."""


class _Reader:
    """A cursor over revision-0 Native bytes, raising :class:`_Short` past their end."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | bytearray) -> None:
        self.buf, self.pos = buf, 0

    def skip(self, size: int) -> int:
        start = self.pos
        self.pos += size
        if self.pos > len(self.buf):
            raise _Short
        return start

    def varuint(self) -> int:
        value = shift = 0
        while True:
            if self.pos >= len(self.buf):
                raise _Short
            byte = self.buf[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def uint64(self) -> int:
        return int.from_bytes(self.buf[self.skip(8):self.pos], "little")

    def text(self) -> str:
        return bytes(self.buf[self.skip(self.varuint()):self.pos]).decode()


def _arguments(inner: str) -> list[str]:
    """A type's arguments, split at top-level commas (quotes and backticks respected)."""
    parts, depth, start, quote, escaped = [], 0, 0, "", False
    for i, char in enumerate(inner):
        if escaped:
            escaped = False
        elif quote:
            escaped, quote = char == "\\", "" if char == quote else quote
        elif char in "'`\"":
            quote = char
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    return [*parts, inner[start:].strip()]


@lru_cache(maxsize=1024)
def _compile(type_name: str) -> _Node:
    """The layout of `type_name`'s data; :class:`_Unsupported` names the type it cannot skip."""
    base, _, rest = type_name.strip().partition("(")
    args = _arguments(rest[:-1]) if rest else []
    if base in _WIDTHS or base.startswith("Interval"):
        return _Node("fixed", _WIDTHS.get(base, 8))
    if base == "Decimal":
        digits = int(args[0])  # the precision sets the width
        return _Node("fixed", 4 if digits <= 9 else 8 if digits <= 18 else 16 if digits <= 38
                     else 32)
    if base == "FixedString":
        return _Node("fixed", int(args[0]))
    if base == "String":
        return _Node("string")
    if base in ("Nullable", "Array"):
        return _Node(base.lower(), children=(_compile(args[0]),))
    if base == "SimpleAggregateFunction":
        return _compile(args[1])
    if base not in ("Tuple", "Map", "Nested", "LowCardinality"):
        raise _Unsupported(base)
    elements = tuple(_compile(_ELEMENT_NAME.sub("", arg)) for arg in args)
    if base == "Tuple":
        return _Node("tuple", children=elements)
    if base == "LowCardinality":  # its dictionary holds T, never Nullable(T)
        inner = elements[0]
        keys = inner.children if inner.kind == "nullable" else (inner,)
        return _Node("low_cardinality", children=keys)
    return _Node("array", children=(_Node("tuple", children=elements),))  # Map, Nested


def _skip_prefix(node: _Node, reader: _Reader) -> None:
    """Skip a column's state prefixes (LowCardinality's key version), written before its data."""
    if node.kind == "low_cardinality":
        reader.skip(8)
        return
    for child in node.children:
        _skip_prefix(child, reader)


def _skip_data(node: _Node, reader: _Reader, rows: int) -> None:
    """Skip `rows` values of `node`'s data."""
    kind = node.kind
    if kind == "fixed":
        reader.skip(node.width * rows)
    elif kind == "string":  # a VarUInt length, then the bytes
        for _ in range(rows):
            reader.skip(reader.varuint())
    elif kind == "nullable":  # a null-map byte per row, then the values
        reader.skip(rows)
        _skip_data(node.children[0], reader, rows)
    elif kind == "array":  # a UInt64 end offset per row, then the elements up to the last one
        end = reader.skip(8 * rows) + 8 * rows
        elements = int.from_bytes(reader.buf[end - 8:end], "little") if rows else 0
        _skip_data(node.children[0], reader, elements)
    elif kind == "tuple":
        for child in node.children:
            _skip_data(child, reader, rows)
    elif rows:  # LowCardinality writes nothing for no rows (arrays all empty)
        flags = reader.uint64()  # index width 1 << low byte; bit 9: the block's dictionary follows
        if flags & 1 << 9:
            _skip_data(node.children[0], reader, reader.uint64())
        reader.skip(reader.uint64() << (flags & 0xFF))


def _refuse(name: str, type_name: str, why: str) -> ClickHouseError:
    return ClickHouseError(48, f"Column `{name}` has type {type_name}: {why}", "NOT_IMPLEMENTED")


def _column(reader: _Reader, rows: int) -> tuple[str, str, int]:
    """Read a column's name and type and skip its data; returns them and where the data starts."""
    name, type_name = reader.text(), reader.text()
    try:
        node = _compile(type_name)
    except (_Unsupported, ValueError, IndexError) as exc:
        inner = str(exc) if isinstance(exc, _Unsupported) else type_name
        since = _BY_REVISION.get(inner)
        also = f" (and ClickHouse changes its serialization at revision {since})" if since else ""
        raise _refuse(name, type_name, f"the local server cannot send {inner} data at a "
                      f"client_protocol_version above 0{also}. Query without "
                      "client_protocol_version, or CAST the column (to String, say)") from None
    data = reader.pos
    if rows:
        _skip_prefix(node, reader)
        _skip_data(node, reader, rows)
    return name, type_name, data


def _with_time_zones(chdb_type: str, true_type: str) -> str:
    """chDB's type name with `true_type`'s DateTime time zones, if the two differ only there."""
    ours, theirs = _DATETIME.split(chdb_type), _DATETIME.split(true_type)
    # DESCRIBE prints a Tuple over several lines: compare without spacing.
    if [_SPACES.sub("", part) for part in ours] != [_SPACES.sub("", part) for part in theirs]:
        return chdb_type
    zones = iter(_DATETIME.findall(true_type))
    return "".join(part + next(zones, "") for part in ours)


def _string(value: str) -> bytes:
    """`value` as Native writes a String: its VarUInt length, then its UTF-8 bytes."""
    data = value.encode()
    size, prefix = len(data), bytearray()
    while size >= 0x80:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    return bytes(prefix) + bytes([size]) + data


def needs_true_types(header_types: list[str], revision: int) -> bool:
    """Whether a DESCRIBE of the query is worth running: some `DateTime` may have lost its zone."""
    return revision >= _DATETIME_TIME_ZONE and any(_BARE_DATETIME.search(t) for t in header_types)


def first_block_types(data: bytes) -> list[str] | None:
    """The column types at the start of a revision-0 Native stream; None if not all there yet.

    Raises:
        ClickHouseError: NOT_IMPLEMENTED for a column whose data cannot be skipped.
    """
    reader = _Reader(data)
    try:
        columns, rows = reader.varuint(), reader.varuint()
        # the last column's data is not needed: skip no rows of it
        return [_column(reader, rows if i + 1 < columns else 0)[1] for i in range(columns)]
    except _Short:
        return None


class NativeRevision:
    """Rewrite chDB's revision-0 Native stream as a ClickHouse server writes it at `revision`.

    Feed chunks of any size; each call returns the blocks it completed. Only the block under way
    is held: its converted columns and the input of the column being read. Revision 0 passes
    chunks through untouched.

    Args:
        revision: the client's ``client_protocol_version``.
        true_types: the result's column types (from a DESCRIBE); their DateTime time zones replace
            the ones chDB's writer dropped. Any other difference keeps chDB's type name.
    """

    def __init__(self, revision: int, true_types: list[str] | None = None) -> None:
        self._revision = revision
        self._true_types = true_types if revision >= _DATETIME_TIME_ZONE else None
        # The spec's BlockInfo table: field 1 is_overflows=0, field 2 bucket_number=-1, field 3
        # out_of_order_buckets (empty) only from revision 54480, then the 0 terminator.
        out_of_order = b"\x03\x00" if revision >= _OUT_OF_ORDER_BUCKETS else b""
        self._block_info = b"\x01\x00\x02\xff\xff\xff\xff" + out_of_order + b"\x00"
        self._custom = b"\x00" if revision >= _CUSTOM_SERIALIZATION else b""
        self._buf = bytearray()  # input of the header or column being read
        self._block = bytearray()  # output of the block under way
        self._columns: int | None = None  # of the block under way; None between blocks
        self._rows = self._done = 0

    def feed(self, chunk: bytes) -> bytes:
        """Take the next chunk of chDB's output; return the converted blocks it completes."""
        if not self._revision:
            return chunk
        self._buf += chunk
        out = bytearray()
        while True:
            try:
                out += self._step()
            except _Short:
                # The column under way is read again with the next chunk: rare, as chDB's
                # chunks end on block boundaries.
                return bytes(out)

    def finish(self) -> bytes:
        """The end of chDB's output: nothing is left to send, or it stopped inside a block."""
        if self._revision and (self._buf or self._columns is not None):
            raise ClickHouseError(33, "chDB's Native output ended inside a block ("
                                  f"{len(self._buf)} bytes of a header or column unread): the "
                                  "result is incomplete", "CANNOT_READ_ALL_DATA")
        return b""

    def _step(self) -> bytes:
        """Convert the next block header or column; return the block if that completed it."""
        reader = _Reader(self._buf)
        if self._columns is None:
            self._columns, self._rows = reader.varuint(), reader.varuint()
            self._block, self._done = bytearray(self._block_info) + self._buf[:reader.pos], 0
        else:
            name, type_name, data = _column(reader, self._rows)
            if self._revision < _LOW_CARDINALITY and "LowCardinality" in type_name:
                raise _refuse(name, type_name, f"at client_protocol_version={self._revision} "
                              "ClickHouse sends LowCardinality as its base type, which the local "
                              "server cannot. Use client_protocol_version=0 or "
                              f">= {_LOW_CARDINALITY}")
            if self._true_types and self._done < len(self._true_types):
                type_name = _with_time_zones(type_name, self._true_types[self._done])
            self._block += _string(name) + _string(type_name) + self._custom
            self._block += self._buf[data:reader.pos]
            self._done += 1
        del self._buf[:reader.pos]
        if self._done < self._columns:
            return b""
        self._columns = None
        return bytes(self._block)


def at_revision(chunks: Iterator[bytes], revision: int,
                true_types: Callable[[], list[str] | None]) -> Iterator[bytes]:
    """A streamed revision-0 Native result as ClickHouse writes it at ``revision``;
    ``true_types`` (called only if a DateTime lost its time zone) describes the result."""
    first = next(chunks, None)
    if first is None:
        return
    types = first_block_types(first)
    converter = NativeRevision(revision, true_types() if types is not None and
                               needs_true_types(types, revision) else None)
    yield converter.feed(first)
    for chunk in chunks:
        if out := converter.feed(chunk):
            yield out
    if tail := converter.finish():
        yield tail
