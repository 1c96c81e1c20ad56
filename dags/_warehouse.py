"""The DAGs' few words with the warehouse, over ClickHouse's HTTP interface with the standard
library only: read ``job_runs`` (the sensors) and write ``stream_alerts`` (failed tasks).

Where: ``AIRFLOW_VAR_RETAIL_WAREHOUSE_URL`` (default ``http://127.0.0.1:8123``), database
``AIRFLOW_VAR_RETAIL_WAREHOUSE_DATABASE`` (``retail``), user and password
``AIRFLOW_VAR_RETAIL_WAREHOUSE_USER`` / ``_PASSWORD`` (on the cluster the ``orchestrator``
user, allowed exactly that, its password from a Secret). Values always travel as query
parameters or as JSON rows, never inside the SQL text.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_S = 30


def _setting(name: str, default: str = "") -> str:
    return os.environ.get(f"AIRFLOW_VAR_RETAIL_WAREHOUSE_{name}") or default


def _post(sql: str, body: bytes | None = None, **params) -> bytes:
    url = _setting("URL", "http://127.0.0.1:8123").rstrip("/")
    query = {"database": _setting("DATABASE", "retail"),
             **{f"param_{k}": str(v) for k, v in params.items()}}
    if body is None:
        body = sql.encode()
    else:
        query["query"] = sql
    request = urllib.request.Request(f"{url}/?{urllib.parse.urlencode(query)}", data=body,
                                     method="POST")
    user = _setting("USER", "default")
    token = base64.b64encode(f"{user}:{_setting('PASSWORD')}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"warehouse at {url} answered {exc.code}: "
                           f"{exc.read().decode(errors='replace')[:500]}") from exc
    except OSError as exc:
        raise RuntimeError(f"warehouse at {url} did not answer: {exc}") from exc


def query(sql: str, **params) -> list[dict]:
    """Rows of ``sql`` (its ``{name:Type}`` placeholders filled from ``params``)."""
    out = _post(f"{sql} FORMAT JSONEachRow", **params)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def insert(table: str, rows: list[dict]) -> None:
    """Insert ``rows`` into ``table`` (a name from this code, never from data)."""
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    _post(f"INSERT INTO {table} FORMAT JSONEachRow", body)
