"""``retail warehouse serve``: ClickHouse's HTTP interface in front of one chDB session.

chDB lets only one process open a data directory, yet the stream job, batch jobs, the CLI
and BI tools all need the warehouse at once. This server owns the session and speaks the
part of ClickHouse's HTTP protocol that clients use, so every component talks to the local
warehouse exactly as it talks to a production server (clickhouse-connect, DBeaver, Grafana,
curl):

* ``GET|POST /?query=...`` or the query in the body; ``INSERT ... FORMAT <fmt>`` with the data
  in the body (chunked or not, ``Content-Encoding`` gzip/deflate/zstd/lz4/br);
* ``multipart/form-data`` bodies (clickhouse-connect's form for big query parameters);
* ``database``, ``default_format``, ``query_id``, ``param_<name>`` and any other parameter as a
  per-query setting; ``GET`` implies read-only, like ClickHouse;
* results in the requested format (``FORMAT`` clause, else ``default_format``, else
  TabSeparated), compressed when the client asks with ``enable_http_compression=1``;
* ``X-ClickHouse-Format|Query-Id|Timezone|Summary|Server-Display-Name`` headers;
* errors as ``Code: N. DB::Exception: ...`` with ClickHouse's HTTP status and
  ``X-ClickHouse-Exception-Code``; basic auth or ``X-ClickHouse-User``/``Key``; ``/ping``.
"""

from __future__ import annotations

import base64
import gzip
import hmac
import json
import logging
import threading
import uuid
import zlib
from email.policy import default as email_policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from retail.local.chdb_engine import ChdbEngine, ClickHouseError, Result, split_body
from retail.local.sessions import Sessions, parse_set, session_timeout

log = logging.getLogger(__name__)

# URL parameters that are not settings.
_PROTOCOL_PARAMS = {"query", "database", "default_format", "user", "password", "query_id",
                    "session_id", "session_timeout", "session_check", "compress", "decompress",
                    "quota_key", "buffer_size", "wait_end_of_query", "enable_http_compression",
                    "readonly", "role", "http_zlib_compression_level",
                    "client_protocol_version", "send_progress_in_http_headers",
                    "http_headers_progress_interval_ms", "cancel_http_readonly_queries_on_client_close"}
# ClickHouse's exceptionCodeToHTTPStatus, by error name.
_STATUS_BY_NAME = {
    **dict.fromkeys(("CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
                     "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME",
                     "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
                     "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "TOO_DEEP_AST",
                     "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR",
                     "INCORRECT_DATA", "TYPE_MISMATCH"), 400),
    **dict.fromkeys(("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
                     "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING",
                     "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
                     "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY"), 404),
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "READONLY",
                     "ACCESS_DENIED"), 403),
    "REQUIRED_PASSWORD": 401,
    "NOT_IMPLEMENTED": 501,
    "QUERY_IS_TOO_LARGE": 413,
    "NO_HANDLER": 404,  # not a ClickHouse error name: an unknown path answers 404 as it does
}
_CONTENT_TYPES = {"TabSeparated": "text/tab-separated-values; charset=UTF-8",
                  "TSV": "text/tab-separated-values; charset=UTF-8",
                  "CSV": "text/csv; charset=UTF-8", "JSON": "application/json; charset=UTF-8",
                  "JSONEachRow": "application/x-ndjson; charset=UTF-8"}


def _zstd():  # the stdlib module from 3.14, its backport before (a clickhouse-connect dep)
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    return zstd


def _decoders() -> dict[str, object]:
    import lz4.frame

    codecs: dict[str, object] = {
        "gzip": gzip.decompress, "x-gzip": gzip.decompress, "deflate": zlib.decompress,
        "lz4": lz4.frame.decompress, "zstd": _zstd().decompress}
    try:
        import brotli  # optional, like in ClickHouse clients
        codecs["br"] = brotli.decompress
    except ImportError:
        pass
    return codecs


def _encoders() -> dict[str, object]:
    import lz4.frame

    zstd = _zstd()
    return {"gzip": lambda b: gzip.compress(b, 1), "deflate": lambda b: zlib.compress(b, 1),
            "lz4": lz4.frame.compress, "zstd": lambda b: zstd.compress(b, 1)}


class WarehouseServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one :class:`ChdbEngine`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine: ChdbEngine, host: str, port: int, user: str = "default",
                 password: str = "", display_name: str = "retail-local") -> None:
        if host not in ("127.0.0.1", "localhost", "::1") and not password:
            raise ValueError("refusing to serve the warehouse beyond loopback without a "
                             "password; set RETAIL_WAREHOUSE__PASSWORD")
        super().__init__((host, port), _Handler)
        self.engine, self.user, self.password = engine, user, password
        self.display_name = display_name
        self.decoders, self.encoders = _decoders(), _encoders()
        self.sessions = Sessions()

    def shutdown_soon(self) -> None:
        """Stop serve_forever from a signal handler (shutdown() would deadlock there)."""
        threading.Thread(target=self.shutdown, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
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
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._read_body()
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and readonly
                                                          and "query" not in params):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        query_id = params.get("query_id") or ""
        try:
            if url.path != "/":
                raise ClickHouseError(0, f"There is no handle {url.path}. Use / for queries, "
                                      "/ping for health", "NO_HANDLER")
            body = self._decode(body)
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                # clickhouse-connect sends big query parameters as an HTML form
                params.update(form_fields(self.headers["Content-Type"], body))
                body = b""
            self._authenticate(params)
            sql, data = self._split(params.get("query", ""), body)
            if params.get("decompress") == "1" or params.get("compress") == "1":
                raise ClickHouseError(1, "ClickHouse-native block compression (compress=1, "
                                      "decompress=1) is not supported by the local server; "
                                      "use HTTP Content-Encoding", "UNSUPPORTED_METHOD")
            with self.server.sessions.use(
                    params.get("session_id", ""), timeout_s=session_timeout(params),
                    check=params.get("session_check") == "1") as session:
                result = self._execute(sql, data, params, session, readonly)
        except ClickHouseError as exc:
            self._send_error(exc, query_id)
            return
        except Exception as exc:  # noqa: BLE001 - answer the client, keep serving
            log.exception("unexpected error serving a query")
            self._send_error(ClickHouseError(1001, f"{type(exc).__name__}: {exc}",
                                             "STD_EXCEPTION"), query_id)
            return
        if query_id:
            result.query_id = query_id
        self._send_result(result, params)

    def _execute(self, sql: str, data: bytes | None, params: dict[str, str],
                 session: dict[str, str], readonly: bool) -> Result:
        """One statement with the session's settings under the request's own; a SET goes
        into the session (outside one it lasts for its request: nothing to keep)."""
        engine = self.server.engine
        settings = {**session, **{k: v for k, v in params.items()
                                  if k not in _PROTOCOL_PARAMS and not k.startswith("param_")}}
        assignments = parse_set(sql) if data is None else None
        if assignments is not None:
            engine.execute("SELECT 1", settings=assignments)  # unknown names fail here
            session.update(assignments)
            return Result(b"", "")  # no result: no X-ClickHouse-Format, like ClickHouse
        return engine.execute(
            sql, data, database=params.get("database") or "default", settings=settings,
            params={k[6:]: v for k, v in params.items() if k.startswith("param_")},
            default_format=params.get("default_format") or "TabSeparated",
            readonly=readonly or params.get("readonly", "0") not in ("0", ""))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _decode(self, body: bytes) -> bytes:
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if not encoding or encoding == "identity" or not body:
            return body
        decoder = self.server.decoders.get(encoding)
        if decoder is None:
            raise ClickHouseError(1, f"Unknown Content-Encoding '{encoding}'",
                                  "UNSUPPORTED_METHOD")
        try:
            return decoder(body)
        except Exception as exc:
            raise ClickHouseError(432, f"Cannot decompress {encoding} body: {exc}",
                                  "UNKNOWN_CODEC") from None

    def _authenticate(self, params: dict[str, str]) -> None:
        user, password = "default", ""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                raise ClickHouseError(516, "Malformed Basic authorization header",
                                      "AUTHENTICATION_FAILED") from None
        user = self.headers.get("X-ClickHouse-User") or params.get("user") or user
        password = self.headers.get("X-ClickHouse-Key") or params.get("password") or password
        ok_user = hmac.compare_digest(user.encode(), self.server.user.encode())
        if not (ok_user and hmac.compare_digest(password.encode(), self.server.password.encode())):
            if ok_user and not password and self.server.password:
                raise ClickHouseError(194, f"{user}: Authentication failed: password is "
                                      "required", "REQUIRED_PASSWORD")
            raise ClickHouseError(516, f"{user}: Authentication failed: password is incorrect, "
                                  "or there is no user with such name", "AUTHENTICATION_FAILED")

    @staticmethod
    def _split(query: str, body: bytes) -> tuple[str, bytes | None]:
        """Query text and INSERT data: the query parameter, or the head of the body."""
        if query:
            return query, body or None
        return split_body(body)

    # -- responses ----------------------------------------------------------------------
    def _headers(self, query_id: str, fmt: str | None = None) -> dict[str, str]:
        engine = self.server.engine
        headers = {"X-ClickHouse-Server-Display-Name": self.server.display_name,
                   "X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": engine.timezone}
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
            headers["Content-Type"] = _CONTENT_TYPES.get(fmt, "application/octet-stream")
        return headers

    def _send_result(self, result: Result, params: dict[str, str]) -> None:
        headers = self._headers(result.query_id, result.fmt)
        headers["X-ClickHouse-Summary"] = json.dumps({
            "read_rows": str(result.read_rows), "read_bytes": str(result.read_bytes),
            "written_rows": str(result.written_rows),
            "written_bytes": str(result.written_bytes), "total_rows_to_read": "0",
            "result_rows": str(result.result_rows), "result_bytes": str(len(result.body)),
            "elapsed_ns": str(int(result.elapsed_s * 1e9))}, separators=(",", ":"))
        body = result.body
        if params.get("enable_http_compression") == "1" and body:
            for enc in (e.split(";")[0].strip().lower()
                        for e in self.headers.get("Accept-Encoding", "").split(",")):
                if enc in self.server.encoders:
                    body = self.server.encoders[enc](body)
                    headers["Content-Encoding"] = enc
                    break
        self._send(200, body, headers)

    def _send_error(self, exc: ClickHouseError, query_id: str = "") -> None:
        headers = self._headers(query_id or str(uuid.uuid4()))
        headers.update({"Content-Type": "text/plain; charset=UTF-8",
                        "X-ClickHouse-Exception-Code": str(exc.code)})
        status = _STATUS_BY_NAME.get(exc.name, 500)
        self._send(status, exc.render(self.server.engine.version).encode(), headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (``query``, ``param_<name>``, ...).

    File fields carry external data tables, which the local server does not support."""
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            raise ClickHouseError(48, f"external data (form field {name!r}) is not supported "
                                  "by the local server", "NOT_IMPLEMENTED")
        if name:
            fields[str(name)] = part.get_payload(decode=True).decode("utf-8")
    return fields


def serve(path: Path, host: str, port: int, user: str = "default", password: str = "",
          ready: object | None = None) -> None:
    """Open the chDB directory and serve until interrupted (SIGINT/SIGTERM)."""
    engine = ChdbEngine(path)
    server = WarehouseServer(engine, host, port, user, password)
    log.info("local ClickHouse %s (chDB) on http://%s:%d, data in %s", engine.version, host,
             port, path)
    if callable(ready):
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
