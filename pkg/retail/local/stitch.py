"""One result from chDB's streamed chunks, in formats where chunks do not simply concatenate.

chDB's streaming API formats each chunk as a whole output of its own: every chunk of
``TSVWithNames`` starts with the names again, every ``Arrow`` chunk is a complete IPC file,
every ``JSON`` chunk a complete document. Measured on chDB 4.4 (200,000 rows, 4 chunks):
TSV, CSV, JSONEachRow, RowBinary and Native concatenate to exactly the whole result; the
others do not. So a result streams when its chunks can be joined:

* row formats without header or footer: as they come;
* ``...WithNames`` / ``...WithNamesAndTypes`` text formats: the header lines of every chunk
  but the first are dropped;
* ``Arrow`` / ``ArrowStream``: the record batches of every chunk are written into one IPC
  file or stream as they come (an IPC file whose schema has dictionaries, which only
  ``output_format_arrow_low_cardinality_as_dictionary=1`` gives, is written at the end with
  unified dictionaries: a file cannot replace one);

and every other format (JSON, JSONCompact, XML, Parquet, ORC, Avro, Pretty, ...) is produced
whole by the engine, as before.
"""

from __future__ import annotations

from collections.abc import Iterator

_CONCATENATE = {f.lower() for f in (
    "TabSeparated", "TSV", "TabSeparatedRaw", "TSVRaw", "CSV", "JSONEachRow", "JSONLines",
    "NDJSON", "JSONStringsEachRow", "JSONCompactEachRow", "JSONCompactStringsEachRow",
    "RowBinary", "Native", "Values", "LineAsString", "RawBLOB", "Null", "CustomSeparated",
    "CustomSeparatedIgnoreSpaces")}
_HEADER_LINES = {**{f.lower(): 1 for f in (
    "TabSeparatedWithNames", "TSVWithNames", "TabSeparatedRawWithNames", "TSVRawWithNames",
    "CSVWithNames", "JSONCompactEachRowWithNames", "JSONCompactStringsEachRowWithNames")},
    **{f.lower(): 2 for f in (
        "TabSeparatedWithNamesAndTypes", "TSVWithNamesAndTypes",
        "TabSeparatedRawWithNamesAndTypes", "TSVRawWithNamesAndTypes",
        "CSVWithNamesAndTypes", "JSONCompactEachRowWithNamesAndTypes",
        "JSONCompactStringsEachRowWithNamesAndTypes")}}
_ARROW = {"arrow", "arrowstream"}


def streams(fmt: str) -> bool:
    """Whether a result in ``fmt`` can go out chunk by chunk."""
    name = fmt.lower()
    return name in _CONCATENATE or name in _HEADER_LINES or name in _ARROW


def stitch(fmt: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks of one result in ``fmt`` (one of :func:`streams`) as one output."""
    name = fmt.lower()
    if name in _HEADER_LINES:
        return _drop_headers(chunks, _HEADER_LINES[name])
    if name in _ARROW:
        return _arrow(chunks, file_format=name == "arrow")
    return chunks


def _drop_headers(chunks: Iterator[bytes], lines: int) -> Iterator[bytes]:
    first = True
    for chunk in chunks:
        if first:
            first = False
            yield chunk
            continue
        pos = 0
        for _ in range(lines):
            pos = chunk.index(b"\n", pos) + 1
        if pos < len(chunk):
            yield chunk[pos:]


class _Sink:
    """A file-like object for pyarrow's writers that hands the written bytes on."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _arrow(chunks: Iterator[bytes], file_format: bool) -> Iterator[bytes]:
    import pyarrow as pa

    sink, writer, held = _Sink(), None, []
    pyfile = pa.PythonFile(sink, mode="w")
    schema = None
    for chunk in chunks:
        reader = (pa.ipc.open_file(chunk) if file_format else pa.ipc.open_stream(chunk))
        batches = ([reader.get_batch(i) for i in range(reader.num_record_batches)]
                   if file_format else list(reader))
        if schema is None:
            schema = reader.schema
            if file_format and any(pa.types.is_dictionary(f.type) for f in schema):
                held = batches  # a file cannot replace a dictionary: unify them at the end
                continue
            writer = (pa.ipc.new_file(pyfile, schema) if file_format
                      else pa.ipc.new_stream(pyfile, schema))
        if writer is None:
            held.extend(batches)
            continue
        for batch in batches:
            writer.write_batch(batch)
        if out := sink.take():
            yield out
    if writer is None and schema is not None:
        options = pa.ipc.IpcWriteOptions(unify_dictionaries=True)
        writer = pa.ipc.new_file(pyfile, schema, options=options)
        writer.write_table(pa.Table.from_batches(held, schema))
    if writer is not None:
        writer.close()
        if out := sink.take():
            yield out
