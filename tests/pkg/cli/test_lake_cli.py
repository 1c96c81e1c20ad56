"""`retail lake init | status` against moto's S3 server on loopback, and on a local directory."""

from __future__ import annotations

import uuid

import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from conftest import free_port
from retail.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(monkeypatch, endpoint) -> str:
    """The lake on the S3 server, with bucket names of the test's own; returns their tag."""
    tag = f"c{uuid.uuid4().hex[:8]}"
    env = {"ROOT": f"s3://{tag}-raw/events", "S3_ENDPOINT": endpoint, "S3_TLS": "false",
           "S3_ACCESS_KEY": "test-key", "S3_SECRET_KEY": "test-secret",
           **{f"{role.upper()}_BUCKET": f"{tag}-{role}"
              for role in ("raw", "processed", "models", "features")}}
    for key, value in env.items():
        monkeypatch.setenv(f"RETAIL_LAKE__{key}", value)
    return tag


def test_status_before_init_exits_3_and_says_what_to_run(s3_env):
    result = runner.invoke(app, ["lake", "status"])
    assert result.exit_code == 3, result.output
    assert f"{s3_env}-processed" in result.output
    assert "set lifecycle: expire after 730 d, old versions after 7 d" in result.output
    assert "run `retail lake init`" in result.output


def test_init_then_init_again_then_status(s3_env):
    first = runner.invoke(app, ["lake", "init"])
    assert first.exit_code == 0, first.output
    assert "4 of 4 buckets changed" in first.output
    assert first.output.count("enable versioning") == 2  # processed and models
    again = runner.invoke(app, ["lake", "init"])
    assert again.exit_code == 0, again.output
    assert again.output.count("as designed, unchanged") == 4
    assert "nothing changed: every bucket was already as designed" in again.output
    status = runner.invoke(app, ["lake", "status"])
    assert status.exit_code == 0, status.output
    row = next(line for line in status.output.splitlines() if f"{s3_env}-raw " in line)
    assert "Off" in row and "expire after 90 d" in row and " 0 B " in row


def test_a_missing_endpoint_is_a_settings_error(monkeypatch, s3_env):
    monkeypatch.delenv("RETAIL_LAKE__S3_ENDPOINT")
    result = runner.invoke(app, ["lake", "init"])
    assert result.exit_code == 2, result.output
    assert "RETAIL_LAKE__S3_ENDPOINT is required" in result.output


def test_an_unreachable_endpoint_fails_with_exit_1_naming_it(monkeypatch, s3_env):
    monkeypatch.setenv("RETAIL_LAKE__S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["lake", "status"])
    assert result.exit_code == 1, result.output
    assert "cannot reach the object store" in result.output
    assert "check RETAIL_LAKE__S3_ENDPOINT" in result.output


def test_init_on_a_local_lake_makes_directories_and_says_lifecycle_does_not_apply(
        monkeypatch, tmp_path):
    monkeypatch.setenv("RETAIL_LAKE__ROOT", str(tmp_path / "lake"))
    result = runner.invoke(app, ["lake", "init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lake" / "retail-features").is_dir()
    assert "versioning and lifecycle (retention) do not apply" in result.output
    assert runner.invoke(app, ["lake", "status"]).exit_code == 0
