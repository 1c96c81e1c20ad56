"""A pool of chDB connections, driven the way a ClickHouse server drives its engine.

chDB runs the real ClickHouse engine in-process, and only one process may open a data
directory; within that process, any number of connections to it run queries in parallel,
each with its own session state (current database, settings, temporary tables). The
:class:`ChdbEngine` of the local warehouse server (:mod:`retail.local.chserver`) keeps:

* a pool of connections: each request leases one for as long as it runs (its result
  streaming included), at most ``max_queries`` at once; a request over the limit waits up to
  ``queue_wait_s`` and then fails with TOO_MANY_SIMULTANEOUS_QUERIES (202), like ClickHouse's
  ``max_concurrent_queries``;
* a control connection that keeps the engine open and cancels queries (``KILL QUERY``): each
  statement starts with a comment naming it, which ``system.processes`` shows;
* per request: the database (``USE``) and settings (``SET``, reset afterwards to the
  connection's own); a connection left with state of its own (``USE``, ``SET``, a temporary
  table) by a request without session is closed, not pooled.

A statement with a result streams it block by block (:class:`Running`), never whole.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retail.local.errors import ClickHouseError
from retail.local.inserts import insert
from retail.local.running import Conn, Running, Summary
from retail.local.sqltext import (
    INSERT_HEAD,
    check_one_statement,
    decode_query,
    is_access_control,
    is_read_only,
    leaves_connection_state,
    output_format,
    quote,
    returns_result,
    strip_sql,
    without_format,
)

log = logging.getLogger(__name__)


class ChdbEngine:
    """Connections to the chDB data directory at ``path``, leased one per running query."""

    def __init__(self, path: Path, spool_dir: Path | None = None, *, max_queries: int = 100,
                 queue_wait_s: float = 5.0) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._control = self.open_connection()  # keeps the engine up; KILL runs here
        self._control_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle: list[Conn] = []
        self.max_queries, self._queue_wait_s = max_queries, queue_wait_s
        self._slots = threading.BoundedSemaphore(max_queries)
        shm = Path("/dev/shm")
        self.spool_dir = spool_dir or (shm if shm.is_dir() and os.access(shm, os.W_OK)
                                    else Path(tempfile.gettempdir()))
        self._warned_access = False
        row = self._control.query("SELECT version(), timezone()").bytes()
        self.version, self.timezone = row.decode().rstrip("\n").split("\t")

    def open_connection(self) -> Conn:
        """A connection of its own (a session's), outside the pool."""
        from chdb import _chdb  # heavy import, only where served

        try:
            return Conn(_chdb.connect(self._path))
        except Exception as exc:  # another process holds the directory
            raise ClickHouseError.from_engine(exc) from None

    def close(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self._control.close()

    @contextmanager
    def lease(self, conn: Conn | None = None, wait_s: float | None = None) -> Iterator[Conn]:
        """A connection for one request: ``conn`` (a session's) or one from the pool, once
        fewer than ``max_queries`` run (waiting up to ``wait_s``, else the default)."""
        if not self._slots.acquire(timeout=self._queue_wait_s if wait_s is None else wait_s):
            raise ClickHouseError(202, f"Too many simultaneous queries. Maximum: "
                                  f"{self.max_queries}", "TOO_MANY_SIMULTANEOUS_QUERIES")
        pooled = conn is None
        try:
            if conn is None:
                with self._pool_lock:
                    conn = self._idle.pop() if self._idle else None
                conn = conn or self.open_connection()
            yield conn
        finally:
            if pooled and conn is not None:
                if conn.dirty or conn.closed:
                    conn.close()
                else:
                    with self._pool_lock:
                        self._idle.append(conn)
            self._slots.release()

    def kill(self, marker: str) -> None:
        """Cancel the statement that starts with ``marker`` (see :meth:`start`)."""
        with self._control_lock:
            try:
                self._control.query("KILL QUERY WHERE startsWith(query, {m:String}) ASYNC",
                                    params={"m": marker})
            except ClickHouseError as exc:
                log.warning("could not cancel query %s: %s", marker, exc.message)

    # -- statements -------------------------------------------------------------------------
    def start(self, conn: Conn, sql: str, data: bytes | None = None, *,
              database: str | None = "default", settings: dict[str, str] | None = None,
              params: dict[str, str] | None = None, default_format: str = "TabSeparated",
              readonly: bool = False, marker: str = "") -> Running:
        """Start one statement on ``conn``; ``data`` is the body of an ``INSERT ... FORMAT``.

        ``marker`` (a comment) starts the text the engine sees, so :meth:`kill` finds it;
        ``database`` None keeps the connection's current one (a session's ``USE``)."""
        if not strip_sql(sql).strip() and not data:
            raise ClickHouseError(62, "Empty query", "SYNTAX_ERROR")
        check_one_statement(sql, data)
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
            return Running.done(None, Summary())
        fmt = output_format(sql, default_format) if returns_result(sql) else None
        conn.dirty = conn.dirty or leaves_connection_state(sql)
        session_database = conn.database
        self._use(conn, database)
        applied = self._apply(conn, settings or {})
        uses = strip_sql(sql)[:3].upper() == "USE"

        def finish() -> None:
            self._reset(conn, applied)
            if conn.session and not uses and session_database:
                self._use(conn, session_database)  # the request's database was its own
            if uses:  # what the USE chose, if it ran
                try:
                    conn.database = conn.query("SELECT currentDatabase()").bytes().decode(
                        ).rstrip("\n")
                except ClickHouseError:
                    conn.database = ""

        try:
            raw = strip_sql(sql).encode()  # a leading comment must not hide an INSERT
            head = INSERT_HEAD.match(raw)
            if head is not None:
                summary = insert(conn, head, raw[head.end():], data, self.spool_dir, marker)
                finish()
                return Running.done(None, summary)
            # ClickHouse reads the query parameter and the body as one text.
            text = marker + (sql if data is None else sql + "\n" + decode_query(data))
            if fmt is None:
                summary = Summary.of(conn.query(text, "TSV", params))
                finish()
                return Running.done(None, summary)
            return Running.stream(conn, text, fmt, params, finish)
        except BaseException:
            finish()
            raise

    def execute(self, sql: str, data: bytes | None = None, **kwargs: object) -> Result:
        """Run one statement on a pooled connection and return its whole result."""
        with self.lease() as conn:
            running = self.start(conn, sql, data, **kwargs)  # type: ignore[arg-type]
            try:
                body = b"".join(running)
            finally:
                running.close()
            return Result(body, running.fmt or "", running.summary)

    def result_types(self, sql: str, database: str, params: dict[str, str]) -> list[str] | None:
        """The column types of what ``sql`` returns (DESCRIBE on a connection of its own:
        the request's is streaming), or None if the engine cannot tell."""
        conn = self.open_connection()
        try:
            self._use(conn, database)
            res = conn.query(f"DESCRIBE ({without_format(sql)})", "JSONCompact", params)
            return [row[1] for row in json.loads(res.bytes())["data"]]
        except (ClickHouseError, ValueError, KeyError) as exc:
            log.debug("cannot describe the result of %r: %s", sql[:200], exc)
            return None
        finally:
            conn.close()

    def set_session(self, conn: Conn, assignments: dict[str, str]) -> None:
        """``SET`` in a session: the settings stay on the session's connection."""
        self._apply(conn, assignments)
        conn.base.update(assignments)

    def check_settings(self, conn: Conn, assignments: dict[str, str]) -> None:
        """``SET`` without a session lasts for its request: only check that it would apply."""
        self._reset(conn, self._apply(conn, assignments))

    def _use(self, conn: Conn, database: str | None) -> None:
        """Make ``database`` current on ``conn`` (None: keep what its session chose)."""
        if database is not None and database != conn.database:
            conn.query("USE `" + database.replace("\\", "\\\\").replace("`", "\\`") + "`")
            conn.database = database

    @staticmethod
    def _apply(conn: Conn, settings: dict[str, str]) -> list[str]:
        applied: list[str] = []
        try:
            for name, value in settings.items():
                if not re.fullmatch(r"\w+", name):
                    raise ClickHouseError(115, f"Unknown setting '{name}'", "UNKNOWN_SETTING")
                conn.query(f"SET {name} = {quote(value)}")
                applied.append(name)
        except BaseException:
            ChdbEngine._reset(conn, applied)
            raise
        return applied

    @staticmethod
    def _reset(conn: Conn, applied: list[str]) -> None:
        for name in applied:
            value = conn.base.get(name)
            try:
                conn.query(f"SET {name} = " + ("DEFAULT" if value is None else quote(value)))
            except ClickHouseError:  # a setting that cannot reset must not leak
                log.exception("could not reset setting %s; dropping the connection", name)
                conn.dirty = True


class Result:
    """A whole result (for callers that want one, not the HTTP path)."""

    def __init__(self, body: bytes, fmt: str, summary: Summary) -> None:
        self.body, self.fmt, self.summary = body, fmt, summary
        self.query_id = str(uuid.uuid4())


def new_marker() -> str:
    return f"/* retail-query {uuid.uuid4().hex} */ "
