"""A stand-in for Microsoft Entra ID's token endpoint and Power BI's REST API.

One HTTPS server on a free loopback port records every request. It answers:

- ``POST /<tenant>/oauth2/v2.0/token`` (client credentials): a bearer token, ``TOKEN``;
- ``POST /v1.0/myorg/groups/<workspace>/datasets/<dataset>/refreshes``: 202 Accepted with
  the refresh's id in the ``RequestId`` header, as the service does;
- ``GET`` of the same path: the refresh history, that refresh in ``refresh_status``
  (``Completed`` unless a test sets ``Failed``).

HTTPS because azure-identity refuses an authority that is not TLS-protected: the server's
certificate is self-signed for 127.0.0.1 and clients trust it through ``ca_file``.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

TOKEN = "fake-powerbi-token-" + uuid.uuid4().hex
REFRESHES = re.compile(r"^/v1\.0/myorg/groups/(?P<group>[^/]+)/datasets/(?P<dataset>[^/]+)"
                       r"/refreshes/?$")
TOKEN_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class FakePowerBI:
    """The running server: ``url`` (``https://127.0.0.1:<port>``), ``ca_file``, ``requests``."""

    url: str
    ca_file: Path
    requests: list[Request] = field(default_factory=list)
    refresh_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    refresh_status: str = "Completed"

    def api_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/v1.0/")]

    def token_requests(self) -> list[Request]:
        return [r for r in self.requests if TOKEN_PATH.match(r.path)]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made by the ``openssl`` command."""
    cert, key = directory / "fake-powerbi.crt", directory / "fake-powerbi.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def _handler(fake: FakePowerBI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> Request:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, self.path, dict(self.headers.items()),
                              self.rfile.read(length))
            fake.requests.append(request)
            return request

        def _answer(self, status: int, payload=None, headers: dict[str, str] | None = None):
            body = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            request = self._record()
            if TOKEN_PATH.match(request.path):
                self._answer(200, {"token_type": "Bearer", "expires_in": 3600,
                                   "ext_expires_in": 3600, "access_token": TOKEN})
            elif REFRESHES.match(request.path):
                self._answer(202, headers={
                    "RequestId": fake.refresh_id,
                    "Location": f"{fake.url}{request.path.rstrip('/')}/{fake.refresh_id}"})
            else:
                self._answer(404, {"error": {"code": "NotFound", "path": request.path}})

        def do_GET(self):
            request = self._record()
            if REFRESHES.match(request.path):
                self._answer(200, {"value": [{
                    "requestId": fake.refresh_id, "id": 1, "refreshType": "ViaApi",
                    "status": fake.refresh_status, "startTime": "2026-01-01T10:00:00Z",
                    "endTime": "2026-01-01T10:01:00Z",
                    **({"serviceExceptionJson": '{"errorCode":"ModelRefreshFailed"}'}
                       if fake.refresh_status == "Failed" else {})}]})
            else:
                self._answer(404, {"error": {"code": "NotFound", "path": request.path}})

        def do_DELETE(self):
            self._record()
            self._answer(200, {})

        def log_message(self, format, *args):  # quiet: the requests are recorded instead
            pass

    return Handler


class serve_fake_powerbi:
    """``with serve_fake_powerbi(tmp_path) as fake:`` runs the server in a thread."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __enter__(self) -> FakePowerBI:
        cert, key = self_signed_cert(self.directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        fake = FakePowerBI(url="", ca_file=cert)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        # The handshake happens on the first read, in the request's thread, not in accept().
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        fake.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return fake

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
