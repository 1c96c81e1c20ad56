"""HTTP sessions of the local warehouse server, the way ClickHouse keeps them.

ClickHouse's HTTP interface (docs: interfaces/http, "HTTP sessions"): a request names a
session with ``session_id``; ``SET`` statements and settings live in that session only and
for ``session_timeout`` seconds (60) of idleness; a second request in a session that is
busy fails with ``SESSION_IS_LOCKED``; ``session_check=1`` fails with ``SESSION_NOT_FOUND``
for a session that does not exist. A ``SET`` outside any session lasts for its own request.

Each session has an engine connection of its own (chDB keeps session state per
connection): its ``SET``s, current database and temporary tables live there, and the
connection closes when the session expires. Requests without a session run on pooled
connections and leave nothing behind.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from retail.local.errors import ClickHouseError
from retail.local.running import Conn
from retail.local.sqltext import strip_sql

_SET = re.compile(r"SET\s+(?!(?:DEFAULT\s+)?ROLE\b)", re.I)
_ASSIGNMENT = re.compile(
    r"\s*(?P<name>\w+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|[^,'\s][^,]*?)\s*(?:,|$)", re.S)


def parse_set(sql: str) -> dict[str, str] | None:
    """The settings of a ``SET a = 1, b = 'x'`` statement; None if ``sql`` is no SET.

    Raises:
        ClickHouseError: a SET whose assignments cannot be read (SYNTAX_ERROR).
    """
    text = strip_sql(sql).rstrip().removesuffix(";").rstrip()
    head = _SET.match(text)
    if head is None:
        return None
    out, pos = {}, head.end()
    while pos < len(text):
        m = _ASSIGNMENT.match(text, pos)
        if m is None or m.end() == pos:
            raise ClickHouseError(62, f"Syntax error: cannot read the SET statement at "
                                  f"'{text[pos:pos + 30]}'", "SYNTAX_ERROR")
        value = m.group("value")
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[m.group("name")] = value
        pos = m.end()
    if not out:
        raise ClickHouseError(62, "Syntax error: SET names no setting", "SYNTAX_ERROR")
    return out


def session_timeout(params: dict[str, str]) -> float:
    """``session_timeout`` of a request's parameters in seconds (ClickHouse's default 60)."""
    try:
        value = float(params.get("session_timeout") or 60)
    except ValueError:
        raise ClickHouseError(72, "session_timeout must be a number of seconds, got "
                              f"'{params['session_timeout']}'", "CANNOT_PARSE_NUMBER") from None
    if value <= 0:
        raise ClickHouseError(69, f"session_timeout must be positive, got {value:g}",
                              "ARGUMENT_OUT_OF_BOUND")
    return value


@dataclass
class _Session:
    timeout_s: float
    conn: Conn | None = None
    busy: bool = False
    last_used: float = 0.0


class Sessions:
    """Every open session: its engine connection, whether a request runs in it, its expiry."""

    def __init__(self, open_connection: Callable[[], Conn],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._open_connection, self._clock = open_connection, clock
        self._lock = threading.Lock()
        self._open: dict[str, _Session] = {}

    @contextmanager
    def use(self, session_id: str, *, timeout_s: float = 60.0, check: bool = False
            ) -> Iterator[Conn | None]:
        """The connection of ``session_id`` for one request (None without a session), with
        the session held busy meanwhile."""
        if not session_id:
            yield None
            return
        with self._lock:
            now = self._clock()
            expired = [n for n, s in self._open.items()
                       if not s.busy and now - s.last_used > s.timeout_s]
            closing = [self._open.pop(n).conn for n in expired]
            session = self._open.get(session_id)
            if session is None:
                if check:
                    raise ClickHouseError(372, f"Session {session_id} not found",
                                          "SESSION_NOT_FOUND")
                session = self._open[session_id] = _Session(timeout_s)
            if session.busy:
                raise ClickHouseError(373, f"Session {session_id} is locked by a concurrent "
                                      "client", "SESSION_IS_LOCKED")
            session.busy, session.timeout_s = True, timeout_s
        for conn in closing:
            if conn is not None:
                conn.close()
        try:
            if session.conn is None or session.conn.closed:
                session.conn = self._open_connection()
                session.conn.session = True
            yield session.conn
        finally:
            self.release(session_id)

    def release(self, session_id: str) -> None:
        """End the request running in ``session_id`` (idempotent). Called before the last
        byte of a response is sent, so that the client's next request finds it free."""
        with self._lock:
            session = self._open.get(session_id)
            if session is not None and session.busy:
                session.busy, session.last_used = False, self._clock()

    def close(self) -> None:
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
        for session in sessions:
            if session.conn is not None:
                session.conn.close()
