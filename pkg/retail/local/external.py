"""Tables a request brings or asks about that the engine cannot serve as they come.

* **External data** (docs: engines/table-engines/special/external-data): a query may come
  with tables of its own, as file fields of a ``multipart/form-data`` body, each described
  by the URL parameters ``<name>_structure`` (``id UInt32, name String``) or ``<name>_types``
  (``UInt32,String``: columns ``_1``, ``_2``) and ``<name>_format`` (TabSeparated). They
  become temporary tables of the request's connection, filled from a spool file.
* **SHOW CREATE TABLE system.<table>**: system tables have no stored metadata in chDB; the
  statement is built from ``system.columns`` and ``system.tables`` as a server shows it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from retail.local.errors import ClickHouseError
from retail.local.http_io import ExternalFile
from retail.local.running import Conn
from retail.local.sqltext import quote

_NAME = re.compile(r"[A-Za-z_]\w*")
_FORMAT = re.compile(r"\w+")

SHOW_CREATE_SYSTEM = """
SELECT concat('CREATE TABLE system.', {retail_system_table:String}, '\\n(\\n',
    arrayStringConcat(arrayMap(c -> concat('    `', c.2, '` ', c.3,
        if(c.4 = '', '', concat(' COMMENT \\'', replaceAll(replaceAll(c.4, '\\\\', '\\\\\\\\'),
            '\\'', '\\\\\\''), '\\''))),
        arraySort(groupArray((position, name, type, comment)))), ',\\n'),
    '\\n)\\nENGINE = ', any(t.engine),
    if(any(t.comment) = '', '', concat('\\nCOMMENT \\'', replaceAll(any(t.comment), '\\'',
        '\\\\\\''), '\\''))) AS statement
FROM system.columns AS c
INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
WHERE c.database = 'system' AND c.table = {retail_system_table:String}
"""


def check_system_table(conn: Conn, table: str) -> None:
    found = conn.query("SELECT count() FROM system.tables WHERE database = 'system' AND "
                       "name = {t:String}", params={"t": table}).bytes()
    if found.strip() in (b"", b"0"):
        raise ClickHouseError(60, f"Table system.{table} does not exist", "UNKNOWN_TABLE")


def param_names(files: list[ExternalFile]) -> set[str]:
    """The URL parameters that describe external tables (not settings)."""
    return {f"{f.name}_{suffix}" for f in files for suffix in ("structure", "types", "format")}


def _split_types(types: str) -> list[str]:
    """``UInt32,Decimal(10, 2),String`` -> its types (commas inside parentheses stay)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(types):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(types[start:i].strip())
            start = i + 1
    out.append(types[start:].strip())
    return [t for t in out if t]


def attach(conn: Conn, files: list[ExternalFile], params: dict[str, str], spool_dir: Path
           ) -> list[str]:
    """Create and fill a temporary table per external file; returns their names."""
    names = []
    for ext in files:
        if not _NAME.fullmatch(ext.name):
            raise ClickHouseError(36, f"external table name '{ext.name}' must be an "
                                  "identifier", "BAD_ARGUMENTS")
        structure = params.get(f"{ext.name}_structure", "")
        if not structure and params.get(f"{ext.name}_types"):
            types = _split_types(params[f"{ext.name}_types"])
            structure = ", ".join(f"_{i} {t}" for i, t in enumerate(types, 1))
        if not structure:
            raise ClickHouseError(36, f"Neither structure nor types have been provided for "
                                  f"external table {ext.name}. Use fields {ext.name}_structure "
                                  f"or {ext.name}_types to do so.", "BAD_ARGUMENTS")
        fmt = params.get(f"{ext.name}_format") or "TabSeparated"
        if not _FORMAT.fullmatch(fmt):
            raise ClickHouseError(73, f"Unknown format {fmt}", "UNKNOWN_FORMAT")
        conn.dirty = True  # a pooled connection with these tables is not reused
        # The structure goes in as a string value, never as SQL text.
        conn.query(f"CREATE TEMPORARY TABLE `{ext.name}` EMPTY AS SELECT * FROM "
                   f"format(TabSeparated, {{s:String}}, '')", params={"s": structure})
        names.append(ext.name)
        if not ext.data.strip():
            continue
        fd, spool = tempfile.mkstemp(prefix="retail-external-", dir=spool_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(ext.data)
            conn.query(f"INSERT INTO `{ext.name}` FROM INFILE {quote(spool)} FORMAT {fmt}")
        finally:
            os.unlink(spool)
    return names


def detach(conn: Conn, names: list[str]) -> None:
    """Drop a session connection's external tables after its request."""
    for name in names:
        conn.query(f"DROP TEMPORARY TABLE IF EXISTS `{name}`")
