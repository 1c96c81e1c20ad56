"""The bytes of ClickHouse's HTTP interface: request bodies in, streamed responses out.

* request bodies: chunked or not, ``Content-Encoding`` gzip/deflate/zstd/lz4 (br with the
  optional ``brotli``), and ``multipart/form-data`` (query parameters as fields, external
  data tables as file fields);
* responses: ``Transfer-Encoding: chunked`` as the engine produces blocks, compressed
  incrementally when the client asks with ``enable_http_compression=1``; an exception after
  the first byte is written the way ClickHouse (25.11+) writes it, between
  ``__exception__`` markers carrying the response's ``X-ClickHouse-Exception-Tag``.
"""

from __future__ import annotations

import gzip
import secrets
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import BinaryIO

from retail.local.errors import ClickHouseError


def _zstd():  # the stdlib module from 3.14, its backport before (a clickhouse-connect dep)
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    return zstd


def decoders() -> dict[str, Callable[[bytes], bytes]]:
    import lz4.frame

    codecs: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.decompress, "x-gzip": gzip.decompress, "deflate": zlib.decompress,
        "lz4": lz4.frame.decompress, "zstd": _zstd().decompress}
    try:
        import brotli  # optional, like in ClickHouse clients
        codecs["br"] = brotli.decompress
    except ImportError:
        pass
    return codecs


class StreamEncoder:
    """Incremental compression of a response body in one Content-Encoding."""

    NAMES = ("gzip", "deflate", "zstd", "lz4")

    def __init__(self, name: str) -> None:
        self.name = name
        if name in ("gzip", "deflate"):
            obj = zlib.compressobj(1, zlib.DEFLATED, 31 if name == "gzip" else 15)
            self._feed, self._end = obj.compress, obj.flush
        elif name == "zstd":
            obj = _zstd().ZstdCompressor(level=1)
            self._feed, self._end = obj.compress, obj.flush
        else:
            import lz4.frame

            obj = lz4.frame.LZ4FrameCompressor()
            begun = [False]

            def feed(data: bytes) -> bytes:
                head = b"" if begun[0] else obj.begin()
                begun[0] = True
                return head + obj.compress(data)

            self._feed = feed
            self._end = lambda: (b"" if begun[0] else obj.begin()) + obj.flush()

    def feed(self, data: bytes) -> bytes:
        return self._feed(data)

    def end(self) -> bytes:
        return self._end()


def pick_encoder(accept_encoding: str) -> StreamEncoder | None:
    for enc in (e.split(";")[0].strip().lower() for e in accept_encoding.split(",")):
        if enc in StreamEncoder.NAMES:
            return StreamEncoder(enc)
    return None


def read_body(rfile: BinaryIO, headers: object) -> bytes:
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(rfile.read(size))
            rfile.readline()
    length = int(headers.get("Content-Length") or 0)
    return rfile.read(length) if length else b""


def decode_body(body: bytes, encoding: str, codecs: dict[str, Callable[[bytes], bytes]]
                ) -> bytes:
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity" or not body:
        return body
    decoder = codecs.get(encoding)
    if decoder is None:
        raise ClickHouseError(1, f"Unknown Content-Encoding '{encoding}'", "UNSUPPORTED_METHOD")
    try:
        return decoder(body)
    except Exception as exc:
        raise ClickHouseError(432, f"Cannot decompress {encoding} body: {exc}",
                              "UNKNOWN_CODEC") from None


@dataclass
class ExternalFile:
    """An external data table sent with the query (a file field of a form)."""

    name: str
    data: bytes


def form_fields(content_type: str, body: bytes) -> tuple[dict[str, str], list[ExternalFile]]:
    """The text fields (``query``, ``param_<name>``, ...) and the file fields (external data)
    of a ``multipart/form-data`` body."""
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields, files = {}, []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            files.append(ExternalFile(str(name), payload))
        else:
            fields[str(name)] = payload.decode("utf-8")
    return fields, files


def exception_tag() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16))


def exception_block(tag: str, message: str) -> bytes:
    """An exception after the response began: ``__exception__\\r\\n<tag>\\r\\n<message>\\n
    <length> <tag>\\r\\n__exception__\\r\\n`` (ClickHouse's HTTP interface, 25.11+)."""
    text = message.rstrip("\n").encode()
    return (b"__exception__\r\n" + tag.encode() + b"\r\n" + text + b"\n"
            + str(len(text)).encode() + b" " + tag.encode() + b"\r\n__exception__\r\n")
