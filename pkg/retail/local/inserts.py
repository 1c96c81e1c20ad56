"""``INSERT ... FORMAT <fmt>`` with its data: the data is read as data only, never as SQL.

Arrow bodies are scanned in place (chDB's ``Python()`` table function over Arrow's buffers,
the same path as an in-process insert); every other format goes through a spool file read by
``INSERT ... FROM INFILE`` with a real INSERT's rules (omitted fields take the column's
DEFAULT, named formats match by name). Appending data to the query text would let a blank
line and a statement after it run as SQL.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from retail.local.running import Conn, Summary
from retail.local.sqltext import quote, unquote


def _read_arrow(data: bytes, fmt: str):
    """An Arrow IPC body (file or stream) as a table over the body's own buffers, or None."""
    import pyarrow as pa

    try:
        buf = pa.BufferReader(data)
        reader = pa.ipc.open_file(buf) if fmt == "Arrow" else pa.ipc.open_stream(buf)
        return reader.read_all()
    except (pa.ArrowInvalid, OSError):
        return None  # let the engine parse it and report the error its own way


def insert(conn: Conn, head: re.Match, inline: bytes, data: bytes | None, spool_dir: Path,
           marker: str = "") -> Summary:
    """Run the INSERT whose head is ``head``; ``inline`` is data after FORMAT in the query
    text, ``data`` the request body's."""
    payload = inline + b"\n" + data if inline.strip() and data else (inline + (data or b""))
    summary = Summary()
    if not payload.strip():
        return summary
    in_fmt = head.group("fmt").decode()
    table = head.group("table").decode()
    cols = [unquote(c) for c in (head.group("cols") or b"").decode().split(",") if c.strip()]
    settings = (head.group("settings") or b"").decode()
    if in_fmt in ("Arrow", "ArrowStream"):
        arrow = _read_arrow(payload, in_fmt)
        if arrow is not None and set(cols) <= set(arrow.column_names):
            cols = cols or arrow.column_names
            names = ", ".join("`" + c.replace("`", "\\`") + "`" for c in cols)
            summary.add(conn.query(f"{marker}INSERT INTO {table} ({names}) {settings} "
                                   f"SELECT {names} FROM Python(arrow)"))
            return summary
    col_list = f" ({', '.join('`' + c + '`' for c in cols)})" if cols else ""
    fd, spool = tempfile.mkstemp(prefix="retail-insert-", dir=spool_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        summary.add(conn.query(f"{marker}INSERT INTO {table}{col_list} FROM INFILE "
                               f"{quote(spool)} {settings} FORMAT {in_fmt}"))
    finally:
        os.unlink(spool)
    return summary
