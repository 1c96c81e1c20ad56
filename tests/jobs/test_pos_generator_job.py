"""jobs/pos_generator.py run as its image runs it, against a real local broker of its own."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from conftest import free_port
from retail.contracts import topics
from retail.io.kafka import read_topic
from tests.jobs.jobrun import job_command, job_env, run_job

pytestmark = pytest.mark.integration

# An hour of the chain per second: whatever the time of day, stores open within seconds.
SPEED = "3600"


def _env(bootstrap: str, home, **extra: str) -> dict[str, str]:
    settings = {"RETAIL_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "RETAIL_SIMULATOR__STORES": "2",
                "RETAIL_SIMULATOR__PRODUCTS": "50", "RETAIL_SIMULATOR__RATE": "5",
                "RETAIL_LOCAL__HOME": str(home), "RETAIL_LOG__FORMAT": "json"}
    return job_env(**{**settings, **extra})


def _log(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _records(broker) -> int:
    return sum(len(read_topic(broker.settings, t.name)) for t in topics())


def test_sigterm_stops_the_job_with_exit_0_after_flushing_every_event_to_kafka(
        fresh_broker, tmp_path):
    proc = subprocess.Popen(job_command("pos_generator", "--speed", SPEED),
                            env=_env(f"127.0.0.1:{fresh_broker.port}", tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not read_topic(fresh_broker.settings, "retail-sales-transactions"):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no sale reached Kafka within 90 s"
            time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert proc.returncode == 0, stderr
    stopped = _log(stderr)[-1]
    assert stopped["event"] == "stopped"
    assert stopped["acked"] == stopped["sent"] > 0
    assert stopped["unconfirmed"] == stopped["spooled"] == 0
    # Flushed on exit: everything the job counted as sent is on the broker.
    assert _records(fresh_broker) == stopped["sent"] + stopped["dead_lettered"]


def test_no_broker_at_the_bootstrap_address_exits_1_and_names_it(tmp_path):
    bootstrap = f"127.0.0.1:{free_port()}"
    done = run_job("pos_generator", env=_env(bootstrap, tmp_path))

    assert done.returncode == 1
    error = _log(done.stderr)[-1]
    assert error["bootstrap"] == bootstrap and "no Kafka broker answered" in error["error"]


def test_a_bad_simulator_setting_exits_2_naming_the_variable(tmp_path):
    done = run_job("pos_generator",
                   env=_env("127.0.0.1:9", tmp_path, RETAIL_SIMULATOR__STORES="0"))

    assert done.returncode == 2
    assert "RETAIL_SIMULATOR__STORES" in done.stderr


def test_a_speed_that_is_not_positive_exits_2(tmp_path):
    done = run_job("pos_generator", "--speed", "0", env=_env("127.0.0.1:9", tmp_path))

    assert done.returncode == 2
    assert "--speed must be above 0" in done.stderr


def test_an_unknown_argument_exits_2_with_usage(tmp_path):
    done = run_job("pos_generator", "--days", "3", env=_env("127.0.0.1:9", tmp_path))

    assert done.returncode == 2
    assert "unrecognized arguments: --days 3" in done.stderr
