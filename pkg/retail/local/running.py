"""One chDB connection, and a statement running on it whose result streams block by block.

chDB's connection object (``chdb._chdb``) is used directly: its Python wrapper treats a chunk
without rows as the end, which drops the header-only result of formats such as JSON or
TSVWithNames on an empty result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from retail.local.errors import ClickHouseError
from retail.local.stitch import stitch, streams


class Conn:
    """A chDB connection and the session state the server keeps for it."""

    def __init__(self, raw: object) -> None:
        self.raw = raw
        self.database = "default"
        self.base: dict[str, str] = {}  # settings SET in its session
        self.dirty = False  # holds state of a request without session: not to be pooled
        self.session = False  # a session's own connection
        self.closed = False

    def query(self, sql: str, fmt: str = "TSV", params: dict[str, str] | None = None):
        try:
            res = self.raw.query(sql, fmt, params=params or {})
        except Exception as exc:  # chDB raises RuntimeError with ClickHouse's message
            raise ClickHouseError.from_engine(exc) from None
        if res.has_error():
            raise ClickHouseError.from_engine(RuntimeError(res.error_message()))
        return res

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.raw.close()


@dataclass
class Summary:
    """What ``X-ClickHouse-Summary`` reports."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0

    @classmethod
    def of(cls, res: object | None, started: float | None = None) -> Summary:
        summary = cls(started=started or time.perf_counter())
        if res is not None:
            summary.add(res)
        summary.elapsed_s = time.perf_counter() - summary.started
        return summary

    def add(self, res: object) -> None:
        # chDB's rows_read() counts result rows; storage_* counts what was scanned.
        self.read_rows = max(self.read_rows, res.storage_rows_read())
        self.read_bytes = max(self.read_bytes, res.storage_bytes_read())
        self.written_rows += res.rows_written()
        self.written_bytes += res.bytes_written()
        self.result_rows += res.rows_read()
        self.result_bytes += res.size()

    def header(self) -> dict[str, str]:
        return {"read_rows": str(self.read_rows), "read_bytes": str(self.read_bytes),
                "written_rows": str(self.written_rows),
                "written_bytes": str(self.written_bytes), "total_rows_to_read": "0",
                "result_rows": str(self.result_rows), "result_bytes": str(self.result_bytes),
                "elapsed_ns": str(int(self.elapsed_s * 1e9))}


class Running:
    """A statement's result: iterate for its chunks as the engine produces them; ``close``
    cancels what is left and restores the connection's settings."""

    def __init__(self, fmt: str | None, summary: Summary, conn: Conn | None = None,
                 handle: object | None = None, finish: Callable[[], None] | None = None,
                 body: bytes = b"") -> None:
        self.fmt, self.summary, self._body = fmt, summary, body
        self._conn, self._handle, self._finish = conn, handle, finish
        self._lock = threading.Lock()
        self._done = handle is None

    @classmethod
    def done(cls, fmt: str | None, summary: Summary, body: bytes = b"") -> Running:
        """A statement that has finished, with its whole result (if any)."""
        return cls(fmt, summary, body=body)

    @classmethod
    def stream(cls, conn: Conn, text: str, fmt: str, params: dict[str, str] | None,
               finish: Callable[[], None]) -> Running:
        started = time.perf_counter()
        if streams(fmt):
            try:
                handle = conn.raw.send_query(text, fmt, params=params or {})
                return cls(fmt, Summary(started=started), conn, handle, finish)
            except Exception as exc:
                if "Streaming query is not supported" not in str(exc):
                    raise ClickHouseError.from_engine(exc) from None
        # A format whose chunks cannot be joined (see retail.local.stitch), or a statement
        # chDB does not stream (EXISTS, SHOW CREATE, ...): the result comes whole.
        res = conn.query(text, fmt, params)
        finish()
        return cls.done(fmt, Summary.of(res, started), res.bytes())

    def __iter__(self) -> Iterator[bytes]:
        if self._body:
            body, self._body = self._body, b""
            yield body
        if not self._done:
            yield from stitch(self.fmt or "", self._chunks())

    def _chunks(self) -> Iterator[bytes]:
        while not self._done:
            try:
                res = self._conn.raw.streaming_fetch_result(self._handle)
            except Exception as exc:
                self._end()
                raise ClickHouseError.from_engine(exc) from None
            if res is not None and res.has_error():
                self._end()
                raise ClickHouseError.from_engine(RuntimeError(res.error_message()))
            if res is None or (res.size() == 0 and res.rows_read() == 0):
                self._end()
                return
            self.summary.add(res)
            self.summary.elapsed_s = time.perf_counter() - self.summary.started
            yield res.bytes()

    def _end(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self.summary.elapsed_s = time.perf_counter() - self.summary.started
        if self._finish is not None:
            self._finish()

    def close(self) -> None:
        """Cancel the rest of the result, if any (idempotent)."""
        if self._done:
            return
        try:
            self._conn.raw.streaming_cancel_query(self._handle)
        except Exception:  # noqa: BLE001 - already finished or failed: nothing to cancel
            pass
        self._end()
