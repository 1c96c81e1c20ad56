"""How the local warehouse server answers: headers, whole or streamed bodies, errors.

A result goes out as the engine produces it. The first ``buffer_size`` bytes (1 MiB) are
held, so an error among them still gets its HTTP status; a longer result is sent chunked,
and an error after its first byte ends the body in ClickHouse's exception block (docs:
interfaces/http, "HTTP response codes caveats"). ``wait_end_of_query=1`` holds the whole
result (spilling to disk past ``buffer_size``) and answers with its final summary.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

from retail.local.errors import ClickHouseError
from retail.local.http_io import exception_block, exception_tag, pick_encoder
from retail.local.protocol import CONTENT_TYPES, STATUS_BY_NAME
from retail.local.running import Running

_MIB = 1 << 20


class ResponseWriter(BaseHTTPRequestHandler):
    """The answering half of the request handler."""

    _began = False

    def _headers(self, query_id: str, fmt: str | None = None) -> dict[str, str]:
        headers = {"X-ClickHouse-Server-Display-Name": self.server.display_name,
                   "X-ClickHouse-Query-Id": query_id,
                   "X-ClickHouse-Timezone": self.server.engine.timezone}
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
            headers["Content-Type"] = CONTENT_TYPES.get(fmt, "application/octet-stream")
        return headers

    def _send_result(self, running: Running, params: dict[str, str], query_id: str,
                     done: Callable[[], None], chunks: Iterator[bytes] | None = None) -> None:
        chunks = chunks if chunks is not None else iter(running)
        encoder = (pick_encoder(self.headers.get("Accept-Encoding", ""))
                   if params.get("enable_http_compression") == "1" else None)
        try:
            hold = int(params.get("buffer_size") or _MIB)
        except ValueError:
            raise ClickHouseError(72, "buffer_size must be a number of bytes, got "
                                  f"'{params['buffer_size']}'", "CANNOT_PARSE_NUMBER") from None
        if params.get("wait_end_of_query") == "1":
            self._send_whole(running, chunks, encoder, hold, query_id, done)
            return
        held, size, ended = [], 0, True
        for chunk in chunks:  # an error here still gets its HTTP status
            held.append(chunk)
            size += len(chunk)
            if size >= hold:
                ended = False
                break
        headers = self._headers(query_id, running.fmt)
        headers["X-ClickHouse-Summary"] = _summary(running)
        if ended:
            body = b"".join(held)
            if encoder is not None and body:
                body = encoder.feed(body) + encoder.end()
                headers["Content-Encoding"] = encoder.name
            done()
            self._send(200, body, headers)
            return
        tag = exception_tag()
        headers.update({"Transfer-Encoding": "chunked", "X-ClickHouse-Exception-Tag": tag})
        if encoder is not None:
            headers["Content-Encoding"] = encoder.name
        self._begin(200, headers)
        feed = encoder.feed if encoder is not None else (lambda b: b)
        try:
            for chunk in _chain(held, chunks):
                self._write_chunk(feed(chunk))
        except ClickHouseError as exc:  # too late for a status: ClickHouse's exception block
            self._write_chunk(feed(exception_block(tag, exc.render(
                self.server.engine.version))))
            self.close_connection = True
        if encoder is not None:
            self._write_chunk(encoder.end())
        done()
        self.wfile.write(b"0\r\n\r\n")

    def _send_whole(self, running: Running, chunks: Iterator[bytes], encoder: object,
                    hold: int, query_id: str, done: Callable[[], None]) -> None:
        """``wait_end_of_query=1``: the whole result first (in memory up to ``hold`` bytes,
        then on disk), then the headers with the final summary."""
        with tempfile.SpooledTemporaryFile(max_size=hold) as spool:
            for chunk in chunks:
                spool.write(encoder.feed(chunk) if encoder is not None else chunk)
            if encoder is not None:
                spool.write(encoder.end())
            headers = self._headers(query_id, running.fmt)
            headers["X-ClickHouse-Summary"] = _summary(running)
            if encoder is not None and spool.tell():
                headers["Content-Encoding"] = encoder.name
            length = spool.tell()
            spool.seek(0)
            done()
            self._begin(200, {**headers, "Content-Length": str(length)})
            while block := spool.read(_MIB):
                self.wfile.write(block)

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%X\r\n" % len(data) + data + b"\r\n")

    def _fail(self, exc: ClickHouseError, query_id: str) -> None:
        if self._began:  # the status line is out: nothing more to say
            self.close_connection = True
            return
        headers = self._headers(query_id)
        headers.update({"Content-Type": "text/plain; charset=UTF-8",
                        "X-ClickHouse-Exception-Code": str(exc.code)})
        status = STATUS_BY_NAME.get(exc.name, 500)
        try:
            self._send(status, exc.render(self.server.engine.version).encode(), headers)
        except ConnectionError:
            self.close_connection = True

    def _begin(self, status: int, headers: dict[str, str]) -> None:
        self._began = True
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._begin(status, {**headers, "Content-Length": str(len(body))})
        if self.command != "HEAD":
            self.wfile.write(body)

def _chain(held: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    while held:
        yield held.pop(0)
    yield from rest


def _summary(running: Running) -> str:
    return json.dumps(running.summary.header(), separators=(",", ":"))
