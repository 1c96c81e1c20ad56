"""``retail warehouse serve``: ClickHouse's HTTP interface in front of one chDB directory.

chDB lets only one process open a data directory, yet the stream job, batch jobs, the CLI
and BI tools all need the warehouse at once. This server owns the directory and speaks the
part of ClickHouse's HTTP protocol that clients use (clickhouse-connect, DBeaver, Grafana,
curl), so every component talks to the local warehouse as it talks to a production server:

* ``GET|POST /?query=...`` or the query in the body; one statement per request;
  ``INSERT ... FORMAT <fmt>`` with the data in the body (:mod:`retail.local.inserts`);
* queries run at once on a pool of engine connections (:mod:`retail.local.chdb_engine`);
  sessions (``session_id``) keep settings, database and temporary tables of their own
  (:mod:`retail.local.sessions`); a client that hangs up cancels its read-only query
  (:mod:`retail.local.watch`);
* results stream as the engine produces them (chunked, compressed on request); the first
  ``buffer_size`` bytes (1 MiB) are held so an early error still gets its HTTP status;
  ``wait_end_of_query=1`` holds the whole result (spilling to disk) and reports the final
  summary; an error after the first byte ends the body in ClickHouse's exception block;
* ``X-ClickHouse-Format|Query-Id|Timezone|Summary|Server-Display-Name|Exception-Code|
  Exception-Tag`` headers; errors with ClickHouse's HTTP status per code; ``/ping``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from retail.local import external
from retail.local.chdb_engine import ChdbEngine, new_marker
from retail.local.errors import ClickHouseError
from retail.local.http_io import decode_body, decoders, form_fields, read_body
from retail.local.native_revision import at_revision
from retail.local.protocol import PROTOCOL_PARAMS, authenticate, queue_wait, revision
from retail.local.responses import ResponseWriter
from retail.local.running import Conn, Running, Summary
from retail.local.sessions import Sessions, parse_set, session_timeout
from retail.local.sqltext import (
    decode_query,
    is_read_only,
    output_format,
    show_create_system_table,
    split_body,
)
from retail.local.watch import DisconnectWatch

log = logging.getLogger(__name__)


class WarehouseServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one :class:`ChdbEngine`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # a burst of dashboard clients connecting at once

    def __init__(self, engine: ChdbEngine, host: str, port: int, user: str = "default",
                 password: str = "", display_name: str = "retail-local") -> None:
        if host not in ("127.0.0.1", "localhost", "::1") and not password:
            raise ValueError("refusing to serve the warehouse beyond loopback without a "
                             "password; set RETAIL_WAREHOUSE__PASSWORD")
        super().__init__((host, port), _Handler)
        self.engine, self.user, self.password = engine, user, password
        self.display_name = display_name
        self.codecs = decoders()
        self.sessions = Sessions(engine.open_connection)
        self.watch = DisconnectWatch()

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):  # the client went away
            log.debug("client %s went away: %s", client_address, exc)
            return
        log.exception("unexpected error serving %s", client_address)

    def server_close(self) -> None:
        super().server_close()
        self.watch.stop()
        self.sessions.close()

    def shutdown_soon(self) -> None:
        """Stop serve_forever from a signal handler (shutdown() would deadlock there)."""
        threading.Thread(target=self.shutdown, daemon=True).start()


class _Handler(ResponseWriter):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add about 40 ms to every answer.
    disable_nagle_algorithm = True
    server: WarehouseServer

    def log_message(self, fmt: str, *args: object) -> None:  # route to logging, not stderr
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle(readonly=True)

    def do_POST(self) -> None:
        self._handle(readonly=False)

    def do_HEAD(self) -> None:
        self._send(200, b"", {"Content-Type": "text/html; charset=UTF-8"})

    # -- request handling ---------------------------------------------------------------
    def _handle(self, readonly: bool) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True, errors="surrogateescape"))
        body = read_body(self.rfile, self.headers)
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and readonly
                                                          and "query" not in params):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        query_id = params.get("query_id") or str(uuid.uuid4())
        self._began = False
        try:
            if url.path != "/":
                raise ClickHouseError(0, f"There is no handle {url.path}. Use / for queries, "
                                      "/ping for health", "NO_HANDLER")
            body = decode_body(body, self.headers.get("Content-Encoding") or "",
                               self.server.codecs)
            files: list = []
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                # clickhouse-connect sends big query parameters (and external data) as a form
                fields, files = form_fields(self.headers["Content-Type"], body)
                params.update(fields)
                body = b""
            authenticate(self.headers, params, self.server.user, self.server.password)
            sql, data = self._split(params.get("query", ""), body)
            if params.get("decompress") == "1" or params.get("compress") == "1":
                raise ClickHouseError(1, "ClickHouse-native block compression (compress=1, "
                                      "decompress=1) is not supported by the local server; "
                                      "use HTTP Content-Encoding", "UNSUPPORTED_METHOD")
            with self.server.sessions.use(
                    params.get("session_id", ""), timeout_s=session_timeout(params),
                    check=params.get("session_check") == "1") as session_conn, \
                    self.server.engine.lease(session_conn, queue_wait(params)) as conn:
                self._run(conn, session_conn is not None, sql, data, params, files,
                          readonly, query_id)
        except ClickHouseError as exc:
            self._fail(exc, query_id)
        except ConnectionError as exc:  # the client went away mid-request
            log.debug("client went away: %s", exc)
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - answer the client, keep serving
            log.exception("unexpected error serving a query")
            self._fail(ClickHouseError(1001, f"{type(exc).__name__}: {exc}", "STD_EXCEPTION"),
                       query_id)

    def _run(self, conn: Conn, in_session: bool, sql: str, data: bytes | None,
             params: dict[str, str], files: list, readonly: bool, query_id: str) -> None:
        engine = self.server.engine
        skip = PROTOCOL_PARAMS | external.param_names(files)
        settings = {k: v for k, v in params.items()
                    if k not in skip and not k.startswith("param_")}
        query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        assignments = parse_set(sql) if data is None else None
        if assignments is not None:  # in a session it stays; else it lasts for its request
            if in_session:
                engine.set_session(conn, assignments)
            else:
                engine.check_settings(conn, assignments)
            self._send_result(Running.done(None, Summary()), params, query_id,
                              lambda: self.server.sessions.release(params["session_id"])
                              if in_session else None)
            return
        tables = external.attach(conn, files, params, engine.spool_dir) if files else []
        if (system_table := show_create_system_table(sql)) is not None:
            external.check_system_table(conn, system_table)
            fmt = params.get("default_format") or "TabSeparated"
            sql = external.SHOW_CREATE_SYSTEM + " FORMAT " + output_format(sql, fmt)
            query_params["retail_system_table"] = system_table
        # A session keeps the database its USE chose unless the request names one.
        database = params.get("database") or (None if in_session else "default")
        marker = new_marker()
        cancel = (is_read_only(sql) and
                  params.get("cancel_http_readonly_queries_on_client_close", "1") != "0")
        watching = (self.server.watch.watching(self.connection, lambda: engine.kill(marker))
                    if cancel else contextlib.nullcontext())
        with watching:
            running = engine.start(
                conn, sql, data, database=database,
                settings=settings, params=query_params,
                default_format=params.get("default_format") or "TabSeparated",
                readonly=readonly or params.get("readonly", "0") not in ("0", ""),
                marker=marker)
            session_id = params.get("session_id", "")

            def done() -> None:  # before the last byte: the session is free when it arrives
                running.close()
                if tables and in_session:
                    external.detach(conn, tables)
                if in_session:
                    self.server.sessions.release(session_id)

            chunks: Iterator[bytes] = iter(running)
            rev = revision(params)
            if running.fmt == "Native" and rev:
                chunks = at_revision(chunks, rev, lambda: engine.result_types(
                    sql, database or conn.database or "default", query_params))
            try:
                self._send_result(running, params, query_id, done, chunks)
            finally:
                done()

    @staticmethod
    def _split(query: str, body: bytes) -> tuple[str, bytes | None]:
        """Query text and INSERT data: the query parameter, or the head of the body."""
        if query:
            return decode_query(query.encode(errors="surrogateescape")), body or None
        return split_body(body)


def serve(path: Path, host: str, port: int, user: str = "default", password: str = "",
          ready: object | None = None, max_queries: int = 100) -> None:
    """Open the chDB directory and serve until interrupted (SIGINT/SIGTERM)."""
    engine = ChdbEngine(path, max_queries=max_queries)
    server = WarehouseServer(engine, host, port, user, password)
    log.info("local ClickHouse %s (chDB) on http://%s:%d, data in %s; up to %d queries at "
             "once", engine.version, host, port, path, max_queries)
    if callable(ready):
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
