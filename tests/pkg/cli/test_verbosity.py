"""Quiet by default: third-party libraries' INFO lines (py4j prints one per Spark call) stay
out of the CLI's output; `retail --verbose`, a command's `--verbose` or
RETAIL_LOG__LEVEL=DEBUG bring them back. Our own INFO lines always show."""

from __future__ import annotations

import logging
import os

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import set_verbose, settings
from retail.log import THIRD_PARTY

runner = CliRunner()


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch):
    for name in list(os.environ):
        if name.startswith("RETAIL_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level
                                          for n in (*THIRD_PARTY, "kafka")}
    yield
    set_verbose(False)
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def emit_some_logs() -> None:
    logging.getLogger("py4j.clientserver").info("Closing down clientserver connection")
    logging.getLogger("kafka.conn").info("connecting to 127.0.0.1:9092")
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTP connection")
    logging.getLogger("py4j.java_gateway").warning("the gateway is slow")
    logging.getLogger("retail.io.kafka").info("topics ready")


def test_by_default_third_party_info_lines_are_quiet_and_ours_and_warnings_show(capsys):
    settings()
    emit_some_logs()
    err = capsys.readouterr().err
    assert "clientserver" not in err and "connecting" not in err and "HTTP" not in err
    assert "the gateway is slow" in err and "topics ready" in err


@pytest.mark.parametrize("how", ["global flag", "command flag", "debug level"])
def test_verbose_or_debug_brings_them_back(capsys, monkeypatch, how):
    if how == "global flag":
        set_verbose(True)
    if how == "debug level":
        monkeypatch.setenv("RETAIL_LOG__LEVEL", "DEBUG")
    settings(verbose=how == "command flag")
    emit_some_logs()
    err = capsys.readouterr().err
    assert "Closing down clientserver connection" in err
    assert "connecting to 127.0.0.1:9092" in err and "Starting new HTTP connection" in err


def test_the_global_flag_reaches_the_command_and_lasts_one_invocation(monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")  # fails fast after setup
    py4j = logging.getLogger("py4j.clientserver")
    runner.invoke(app, ["--verbose", "stream", "status"])
    assert py4j.isEnabledFor(logging.INFO)
    runner.invoke(app, ["stream", "status"])
    assert not py4j.isEnabledFor(logging.INFO)
