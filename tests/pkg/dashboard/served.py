"""``retail dashboard serve`` in its own process on a free port, over a warehouse database;
and the replay of a page's callback as the browser sends it (an HTTP POST to
/_dash-update-component)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retail.settings import WarehouseSettings
from tests.conftest import free_port

USER_HEADER = "X-Forwarded-Email"


def http(url: str, *, body: dict | None = None, headers: dict[str, str] | None = None
         ) -> tuple[int, str]:
    """(status, text) of a GET, or of a JSON POST when ``body`` is given."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextmanager
def dashboard(ws: WarehouseSettings, log_dir: Path, identity: str,
              timeout_s: float = 60) -> Iterator[str]:
    """Serve the dashboards for ``ws`` with ``identity``; yields the base URL once
    /healthz answers 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
    env.update({"RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE": ws.database,
                "RETAIL_DASHBOARD__USER_HEADER": USER_HEADER, "RETAIL_LOG__LEVEL": "WARNING"})
    log = log_dir / f"dashboard-{identity}-{port}.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "retail", "dashboard", "serve", "--port", str(port),
             "--identity", identity], stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dashboard exited: {log.read_text()[-3000:]}")
            try:
                if http(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dashboard did not answer within {timeout_s}s: "
                                   f"{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Callbacks:
    """The app's callbacks as its /_dash-dependencies lists them, replayed by output."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        status, text = http(url + "/_dash-dependencies", headers=headers)
        assert status == 200, text
        self.deps = json.loads(text)

    def find(self, output_id: str) -> dict:
        """The callback with an output whose component id is ``output_id``."""
        for dep in self.deps:
            if any(o.split(".")[0] == output_id for o in dep["output"].strip(".").split("...")):
                return dep
        raise KeyError(f"no callback outputs {output_id}")

    def call(self, output_id: str, values: dict[str, object],
             headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST the callback that outputs ``output_id`` with its inputs and states set from
        ``values`` (component id -> value; None where absent), as the browser does."""
        dep = self.find(output_id)

        def items(kind: str) -> list[dict]:
            return [{"id": i["id"], "property": i["property"], "value": values.get(i["id"])}
                    for i in dep[kind]]

        outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]}
                   for o in dep["output"].strip(".").split("...")]
        body = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": items("inputs"), "state": items("state"),
                "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"]]}
        return http(self.url + "/_dash-update-component", body=body,
                    headers=self.headers if headers is None else headers)
