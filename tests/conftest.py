"""Shared fixtures. Integration fixtures start real local services and stop them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from retail.contracts import topics
from retail.io.kafka import admin_client, ensure_topics
from retail.local.stack import tansu_binary
from retail.io.warehouse import ClickHouseWarehouse
from retail.settings import KafkaSettings, WarehouseSettings

# The bench scripts (tests/bench/*.py) import this file as the plain module ``conftest``,
# outside pytest: the repository root must be importable for ``tests.*`` there too.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.insight_chain import insight_chain  # noqa: E402, F401  (a session fixture)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A real Tansu broker on a free loopback port, with the platform's topics."""

    def __init__(self, tmp: Path, engine: str = "memory://tansu/",
                 env: dict[str, str] | None = None):
        """``engine``: Tansu's storage (``s3://bucket/`` with ``env`` naming the endpoint and
        keys survives a restart on the same port)."""
        self.port = free_port()
        self.engine = engine
        self.env = env
        self.log = tmp / f"tansu-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def settings(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=f"127.0.0.1:{self.port}", flavor="tansu")

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", self.engine],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Tansu ({self.engine}) did not come up on port {self.port} "
                                   f"(exit code {self.proc.poll()}): "
                                   f"{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.02)
        admin_client(self.settings, timeout_s=10).close()
        ensure_topics(self.settings, topics())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Iterator[Broker]:
    """One broker for the session; tests use unique consumer groups and count deltas."""
    b = Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def fresh_broker(tmp_path) -> Iterator[Broker]:
    """A broker of the test's own, for tests that count everything on a topic."""
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def group_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


# --- warehouse ----------------------------------------------------------------------------
# RETAIL_CLICKHOUSE_URL points the warehouse suite at a real ClickHouse server instead of the
# local chDB server. It is a test-harness variable, not a setting: take it out of the
# environment so the settings loader (which rejects unknown RETAIL_* variables) never sees it.
REAL_CLICKHOUSE_URL = os.environ.pop("RETAIL_CLICKHOUSE_URL", "")
REAL_CLICKHOUSE_USER = os.environ.pop("RETAIL_CLICKHOUSE_USER", "default")
REAL_CLICKHOUSE_PASSWORD = os.environ.pop("RETAIL_CLICKHOUSE_PASSWORD", "")


class WarehouseProcess:
    """``retail warehouse serve`` in its own process on a free port, data in ``path``."""

    def __init__(self, path: Path, password: str = "", args: tuple[str, ...] = ()):
        self.port = free_port()
        self.path = path
        self.password = password
        self.args = args
        self.log = path.parent / f"warehouse-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, database: str = "retail") -> WarehouseSettings:
        return WarehouseSettings(url=self.url, database=database,
                                 password=self.password or None)

    def start(self, timeout_s: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
        env.update({"RETAIL_LOG__LEVEL": "WARNING"})
        if self.password:
            env["RETAIL_WAREHOUSE__PASSWORD"] = self.password
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "retail", "warehouse", "serve", "--port", str(self.port),
                 "--path", str(self.path), *self.args], stdout=fh, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"warehouse server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                    if r.read() == b"Ok.\n":
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"warehouse server did not answer within {timeout_s}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="session")
def warehouse_server(tmp_path_factory) -> Iterator[WarehouseProcess]:
    """The local warehouse server for the whole session."""
    server = WarehouseProcess(tmp_path_factory.mktemp("warehouse") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def warehouse_settings(warehouse_server) -> WarehouseSettings:
    """Settings of the server the warehouse suite runs against: a real ClickHouse server
    when RETAIL_CLICKHOUSE_URL is set, else the local chDB server."""
    if REAL_CLICKHOUSE_URL:
        return WarehouseSettings(url=REAL_CLICKHOUSE_URL, user=REAL_CLICKHOUSE_USER,
                                 password=REAL_CLICKHOUSE_PASSWORD or None,
                                 database="retail_test")
    return warehouse_server.settings()


@pytest.fixture()
def fresh_database(warehouse_settings) -> Iterator[WarehouseSettings]:
    """A new, empty database on the warehouse under test, dropped afterwards."""
    from retail.io.warehouse import connect

    db = f"t_{uuid.uuid4().hex[:10]}"
    settings = warehouse_settings.model_copy(update={"database": db})
    yield settings
    with connect(settings, database="") as admin:
        admin.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


@pytest.fixture()
def migrated(fresh_database) -> Iterator[ClickHouseWarehouse]:
    """A fresh database with every migration applied; yields a client on it."""
    from retail.io.warehouse import connect
    from retail.warehouse.migrate import Migrator

    admin = connect(fresh_database, database="")
    Migrator(admin, fresh_database.database, lambda db: connect(fresh_database, db)).migrate()
    admin.close()
    with connect(fresh_database) as wh:
        yield wh


@pytest.fixture()
def cli_env(migrated, fresh_database, tmp_path, monkeypatch) -> Path:
    """The ``retail`` CLI pointed at a fresh migrated database and a lake directory of the
    test's own (returned); Spark's workers run this interpreter."""
    lake = tmp_path / "lake"
    for key, value in {"RETAIL_WAREHOUSE__URL": fresh_database.url,
                       "RETAIL_WAREHOUSE__DATABASE": fresh_database.database,
                       "RETAIL_LAKE__ROOT": str(lake),
                       "RETAIL_LOCAL__HOME": str(tmp_path / "home"),
                       "PYSPARK_PYTHON": sys.executable}.items():
        monkeypatch.setenv(key, value)
    return lake


def stop_merges(wh, *, keep: tuple[str, ...] = ()) -> list[str]:
    """Stop background merges (TTL ones too) on every MergeTree table of ``wh``'s database
    but ``keep``, so a table's count() moves only when something is written (a merge folds
    an aggregate's or a replacing table's rows and lowers it). Returns the tables."""
    tables = [r[0] for r in wh.query_rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' ORDER BY name")]
    for name in tables:  # names from system.tables
        if name not in keep:
            wh.command(f"SYSTEM STOP MERGES `{name}`")
            wh.command(f"SYSTEM STOP TTL MERGES `{name}`")
    return tables


def retail_cli(*args: str, code: int = 0) -> str:
    """Run ``retail <args>`` in this process; assert its exit code; return its output."""
    from typer.testing import CliRunner

    from retail.cli import app

    result = CliRunner().invoke(app, list(args))
    crash = ""
    if result.exc_info and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(*result.exc_info))[-6000:]
    assert result.exit_code == code, f"retail {' '.join(args)}:\n{result.output}{crash}"
    return result.output


def model_chain_env(warehouse_settings: WarehouseSettings, mlflow_server: str, root: Path,
                    **extra: str) -> tuple[WarehouseSettings, dict[str, str]]:
    """A migrated warehouse database of its own and the RETAIL_* environment of a model
    chain's jobs: that database, a lake and home under ``root``, the MLflow server with a
    model-name prefix of its own (and ``extra``). The caller drops the database."""
    from retail.io.warehouse import connect
    from retail.warehouse.migrate import Migrator

    ws = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    Migrator(connect(ws, database=""), ws.database, lambda db: connect(ws, db)).migrate()
    return ws, {"RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE": ws.database,
                "RETAIL_LAKE__ROOT": str(root / "lake"), "RETAIL_LOCAL__HOME": str(root / "home"),
                "RETAIL_MLFLOW__TRACKING_URI": mlflow_server,
                "RETAIL_MLFLOW__PREFIX": f"t{uuid.uuid4().hex[:8]}",
                "PYSPARK_PYTHON": sys.executable, **extra}


# --- model registry -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """A real MLflow server (the local stack's, from .venv-mlflow) on a free port, with a
    SQLite backend and an artifacts folder of the session's own; yields its URL. Tests keep
    apart by model names of their own."""
    from retail.local import mlflow_server as server
    from retail.local.stack import StackError
    from retail.settings import Settings

    home = tmp_path_factory.mktemp("mlflow")
    settings = Settings(local={"home": home, "mlflow_port": free_port()},
                        lake={"root": str(home / "lake")})
    try:
        record, _ = server.up(settings)
    except StackError as exc:
        pytest.fail(f"the MLflow server did not start: {exc}", pytrace=False)
    yield record.url
    server.down(settings)
