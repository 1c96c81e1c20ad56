"""One persistent chDB session, driven the way a ClickHouse server drives its engine.

chDB runs the real ClickHouse engine in-process, but only one process may open a data
directory. :class:`ChdbEngine` owns that session for the local warehouse server
(:mod:`retail.local.chserver`) and executes one statement at a time: per-query database and
settings are applied with ``USE``/``SET`` and reset afterwards, ``INSERT ... FORMAT`` bodies
are handed to the engine (text inline, binary through a temporary file and ``file()``), and
engine errors come back as :class:`ClickHouseError` with ClickHouse's code and name.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from retail.warehouse.migrate import split_statements

log = logging.getLogger(__name__)

_COMMENTS = re.compile(r"(--[^\n]*\n?|/\*.*?\*/|\s+)", re.S)
_ACCESS = re.compile(
    r"^(?:(?:CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(?:USER|ROLE|ROW\s+POLICY|POLICY|QUOTA|"
    r"SETTINGS\s+PROFILE|PROFILE)\b|GRANT\b|REVOKE\b|SET\s+(?:DEFAULT\s+)?ROLE\b)", re.I)
# Statements that change data, schema or session state: refused in read-only mode. Anything
# else goes to the engine, which reports unknown statements as ClickHouse does (code 62).
_WRITE = re.compile(r"^(?:INSERT|CREATE|ALTER|DROP|TRUNCATE|RENAME|OPTIMIZE|SYSTEM|KILL|ATTACH|"
                    r"DETACH|DELETE|UPDATE|EXCHANGE|UNDROP|GRANT|REVOKE|SET|BACKUP|RESTORE|"
                    r"MOVE|REPLACE|UNDO)\b", re.I)
_INSERT_HEAD = re.compile(
    rb"\s*INSERT\s+INTO\s+(?:TABLE\s+)?(?P<table>(?:`[^`]+`|\"[^\"]+\"|[\w.])+)\s*"
    rb"(?:\((?P<cols>[^)]*)\))?\s*(?P<settings>SETTINGS\s+.*?)?\s*"
    rb"FORMAT\s+(?P<fmt>\w+)[ \t]*(?:\r?\n)?", re.I | re.S)
_OUTPUT_FORMAT = re.compile(r"\bFORMAT\s+(\w+)", re.I)
_LITERALS = re.compile(r"'(?:\\.|[^'\\])*'|--[^\n]*|/\*.*?\*/", re.S)
_ERROR = re.compile(r"^Code: (\d+)\. DB::Exception: (.*?)(?: \((\w+)\))?(?: \(version [^)]*\))?\s*$",
                    re.S)


class ClickHouseError(Exception):
    """An error as ClickHouse reports it: numeric code, symbolic name, message."""

    def __init__(self, code: int, message: str, name: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.name = code, message, name

    def render(self, version: str) -> str:
        suffix = f" ({self.name})" if self.name else ""
        return f"Code: {self.code}. DB::Exception: {self.message}{suffix} (version {version})\n"

    @classmethod
    def from_engine(cls, exc: BaseException) -> ClickHouseError:
        m = _ERROR.match(str(exc).strip())
        if not m:
            return cls(1001, str(exc).strip() or type(exc).__name__, "STD_EXCEPTION")
        return cls(int(m.group(1)), m.group(2), m.group(3) or "")


@dataclass
class Result:
    body: bytes
    fmt: str
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    elapsed_s: float = 0.0
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def strip_sql(sql: str) -> str:
    """The statement without leading comments and whitespace."""
    pos = 0
    while m := _COMMENTS.match(sql, pos):
        if m.end() == pos:
            break
        pos = m.end()
    return sql[pos:]


def is_access_control(sql: str) -> bool:
    return bool(_ACCESS.match(strip_sql(sql)))


def output_format(sql: str, default: str) -> str:
    """The format a query's result comes in: its last FORMAT clause outside strings and
    comments (SETTINGS may follow it), else ``default``; INSERTs name their input format."""
    if strip_sql(sql)[:6].upper() == "INSERT":
        return default
    found = _OUTPUT_FORMAT.findall(_LITERALS.sub(" ", sql))
    return found[-1] if found else default


def split_body(body: bytes) -> tuple[str, bytes | None]:
    """A request body that holds the query: the query text, and for ``INSERT ... FORMAT``
    the data after it (which may be binary)."""
    prefix = body[:1 << 16].decode("latin-1")  # one char per byte: offsets carry over
    skip = len(prefix) - len(strip_sql(prefix))
    head = _INSERT_HEAD.match(body, skip, skip + (1 << 16))
    if head is not None:
        return body[:head.end()].decode(errors="replace"), body[head.end():]
    try:
        return body.decode(), None
    except UnicodeDecodeError:
        raise ClickHouseError(62, "Query is not valid UTF-8", "SYNTAX_ERROR") from None


def is_read_only(sql: str) -> bool:
    return not _WRITE.match(strip_sql(sql))


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquote(ident: str) -> str:
    ident = ident.strip()
    return ident[1:-1] if ident[:1] in "`\"" and ident[-1:] == ident[:1] else ident


def _read_arrow(data: bytes, fmt: str):
    """An Arrow IPC body (file or stream) as a table over the body's own buffers, or None."""
    import pyarrow as pa

    try:
        buf = pa.BufferReader(data)
        reader = pa.ipc.open_file(buf) if fmt == "Arrow" else pa.ipc.open_stream(buf)
        return reader.read_all()
    except (pa.ArrowInvalid, OSError):
        return None  # let the engine parse it and report the error its own way


class ChdbEngine:
    """Serialized access to one chDB session at ``path``."""

    def __init__(self, path: Path, spool_dir: Path | None = None) -> None:
        from chdb import session as chdb_session  # heavy import, only where served

        path.mkdir(parents=True, exist_ok=True)
        try:
            self._session = chdb_session.Session(str(path))
        except Exception as exc:  # another process holds the directory
            raise ClickHouseError.from_engine(exc) from None
        self._lock = threading.Lock()
        shm = Path("/dev/shm")
        self._spool = spool_dir or (shm if shm.is_dir() and os.access(shm, os.W_OK)
                                    else Path(tempfile.gettempdir()))
        self._database = "default"
        self._warned_access = False
        self.version, self.timezone = self._scalar_row("SELECT version(), timezone()")

    def _scalar_row(self, sql: str) -> list[str]:
        return self._session.query(sql, "TSV").bytes().decode().rstrip("\n").split("\t")

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def execute(self, sql: str, data: bytes | None = None, *, database: str = "default",
                settings: dict[str, str] | None = None, params: dict[str, str] | None = None,
                default_format: str = "TabSeparated", readonly: bool = False) -> Result:
        """Run one statement; ``data`` is the body of an ``INSERT ... FORMAT``."""
        if not strip_sql(sql).strip() and not data:
            raise ClickHouseError(62, "Empty query", "SYNTAX_ERROR")
        if _INSERT_HEAD.match(strip_sql(sql).encode()) is None and \
                len(split_statements(sql if data is None else sql + "\n" + data.decode(
                    errors="replace"))) > 1:
            raise ClickHouseError(62, "Syntax error (Multi-statements are not allowed)",
                                  "SYNTAX_ERROR")
        if readonly and not is_read_only(sql):
            raise ClickHouseError(164, "Cannot execute query in readonly mode. For queries over "
                                  "HTTP, method GET implies readonly. You should use method "
                                  "POST for modifying queries", "READONLY")
        if is_access_control(sql):
            if not self._warned_access:
                log.warning("chDB has no access control: users, roles, grants, quotas and row "
                            "policies are skipped by the local server (a real server applies "
                            "them)")
                self._warned_access = True
            return Result(b"", default_format)
        fmt = output_format(sql, default_format)
        with self._lock:
            started = time.perf_counter()
            applied: list[str] = []
            try:
                self._use(database)
                self._apply(settings or {}, applied)
                res = self._run(sql, data, fmt, params)
            except ClickHouseError:
                raise
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            finally:
                self._reset(applied)
                if strip_sql(sql)[:3].upper() == "USE":
                    self._database = ""
            return Result(res.bytes() if res is not None else b"", fmt,
                          *(self._stats(res)), elapsed_s=time.perf_counter() - started)

    @staticmethod
    def _stats(res: object) -> tuple[int, int, int, int, int]:
        if res is None:
            return 0, 0, 0, 0, 0
        # chDB's rows_read() counts result rows; storage_* counts what was scanned.
        return (res.storage_rows_read(), res.storage_bytes_read(), res.rows_written(),
                res.bytes_written(), res.rows_read())

    def _use(self, database: str) -> None:
        if database != self._database:
            self._session.query(f"USE `{database.replace('`', '')}`")
            self._database = database

    def _apply(self, settings: dict[str, str], applied: list[str]) -> None:
        for name, value in settings.items():
            if not re.fullmatch(r"\w+", name):
                raise ClickHouseError(115, f"Unknown setting '{name}'", "UNKNOWN_SETTING")
            self._session.query(f"SET {name} = {_quote(value)}")
            applied.append(name)

    def _reset(self, applied: list[str]) -> None:
        for name in applied:
            try:
                self._session.query(f"SET {name} = DEFAULT")
            except Exception:  # noqa: BLE001 - a setting that cannot reset must not leak
                log.exception("could not reset setting %s", name)

    def _run(self, sql: str, data: bytes | None, fmt: str, params: dict[str, str] | None):
        raw = strip_sql(sql).encode()  # a leading comment must not hide an INSERT
        head = _INSERT_HEAD.match(raw)
        if head is None:
            # ClickHouse reads the query parameter and the body as one text.
            text = sql if data is None else sql + "\n" + data.decode()
            return self._session.query(text, fmt, params=params or None)
        inline = raw[head.end():]
        payload = inline + b"\n" + data if inline.strip() and data else (inline + (data or b""))
        return self._insert(head, payload, params)

    def _insert(self, head: re.Match, data: bytes, params: dict[str, str] | None):
        in_fmt = head.group("fmt").decode()
        if not data.strip():
            return None
        # The data is read as data only: from Arrow's buffers or from a spooled file in its
        # format, never appended to query text (where a blank line and a statement after it
        # would run as SQL).
        table = head.group("table").decode()
        cols = [_unquote(c) for c in (head.group("cols") or b"").decode().split(",") if c.strip()]
        settings = (head.group("settings") or b"").decode()
        if in_fmt in ("Arrow", "ArrowStream"):
            arrow = _read_arrow(data, in_fmt)
            if arrow is not None and set(cols) <= set(arrow.column_names):
                # Zero-copy: the engine scans the Arrow buffers in place (Python() table
                # function), the same path as an in-process insert.
                cols = cols or arrow.column_names
                names = ", ".join(f"`{c}`" for c in cols)
                return self._session.query(f"INSERT INTO {table} ({names}) {settings} SELECT "
                                           f"{names} FROM Python(arrow)", "TSV")
        # INSERT ... FROM INFILE reads the file in its format with a real INSERT's rules
        # (omitted fields take the column's DEFAULT, named formats match by name).
        col_list = f" ({', '.join('`' + c + '`' for c in cols)})" if cols else ""
        fd, spool = tempfile.mkstemp(prefix="retail-insert-", dir=self._spool)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return self._session.query(
                f"INSERT INTO {table}{col_list} FROM INFILE {_quote(spool)} {settings} "
                f"FORMAT {in_fmt}", "TSV")
        finally:
            os.unlink(spool)

