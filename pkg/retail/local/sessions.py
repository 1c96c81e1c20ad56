"""HTTP sessions of the local warehouse server, the way ClickHouse keeps them.

ClickHouse's HTTP interface (docs: interfaces/http, "HTTP sessions"): a request names a
session with ``session_id``; ``SET`` statements and settings live in that session only and
for ``session_timeout`` seconds (60) of idleness; a second request in a session that is
busy fails with ``SESSION_IS_LOCKED``; ``session_check=1`` fails with ``SESSION_NOT_FOUND``
for a session that does not exist. A ``SET`` outside any session lasts for its own request.

The one chDB session behind the server is shared by every client, so a ``SET`` never runs
on it: the server keeps each session's settings and hands them to the engine as the
request's own settings, which the engine applies and resets around the query.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from retail.local.chdb_engine import ClickHouseError, strip_sql

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
    settings: dict[str, str] = field(default_factory=dict)
    busy: bool = False
    last_used: float = 0.0


class Sessions:
    """Every open session's settings, whether a request is running in it, and its expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, _Session] = {}

    @contextmanager
    def use(self, session_id: str, *, timeout_s: float = 60.0, check: bool = False
            ) -> Iterator[dict[str, str]]:
        """The settings of ``session_id`` for one request (a fresh dict without a session),
        with the session held busy meanwhile."""
        if not session_id:
            yield {}
            return
        with self._lock:
            now = self._clock()
            for name in [n for n, s in self._open.items()
                         if not s.busy and now - s.last_used > s.timeout_s]:
                del self._open[name]
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
        try:
            yield session.settings
        finally:
            with self._lock:
                session.busy, session.last_used = False, self._clock()
