"""Shared fixtures. Integration fixtures start real local services and stop them."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from retail.contracts import topics
from retail.io.kafka import admin_client, ensure_topics
from retail.local.stack import tansu_binary
from retail.settings import KafkaSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A real Tansu broker on a free loopback port, with the platform's topics."""

    def __init__(self, tmp: Path):
        self.port = free_port()
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
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.02)
        admin_client(self.settings, timeout_s=10).close()
        ensure_topics(self.settings, topics())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
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
