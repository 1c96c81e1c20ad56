"""images/stream_processor/entrypoint.sh: the commands it builds for the driver and executor
pods Spark creates, run with stand-ins for tini, java and spark-submit that record their
arguments (no JVM, no cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "images/stream_processor/entrypoint.sh"
# Prints its name and arguments as one JSON line, then runs the rest as tini would.
RECORDER = """#!/usr/bin/env python3
import json, os, sys
print(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]))
if os.path.basename(sys.argv[0]) == "tini":
    os.execvp(sys.argv[3], sys.argv[3:])
"""
EXECUTOR_ENV = {
    "SPARK_EXECUTOR_MEMORY": "2048m", "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@d:7078",
    "SPARK_EXECUTOR_ID": "3", "SPARK_EXECUTOR_CORES": "2", "SPARK_APPLICATION_ID": "spark-a1",
    "SPARK_EXECUTOR_POD_IP": "10.0.0.7", "SPARK_RESOURCE_PROFILE_ID": "0",
    "SPARK_EXECUTOR_POD_NAME": "stream-exec-3",
}


@pytest.fixture
def image(tmp_path) -> dict[str, str]:
    """An environment like the image's: SPARK_HOME with bin/spark-submit, tini and java."""
    spark_home, tools = tmp_path / "spark", tmp_path / "bin"
    (spark_home / "bin").mkdir(parents=True)
    tools.mkdir()
    for path in (spark_home / "bin" / "spark-submit", tools / "tini", tools / "java"):
        path.write_text(RECORDER)
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARK_", "JAVA_HOME"))}
    env.update(PATH=f"{tools}:{env['PATH']}", SPARK_HOME=str(spark_home))
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ENTRYPOINT), *args], env=env, capture_output=True,
                          text=True, timeout=30)


def _commands(stdout: str) -> list[list[str]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_the_driver_runs_spark_submit_in_client_mode_bound_to_the_pod_ip_under_tini(image):
    image["SPARK_DRIVER_BIND_ADDRESS"] = "10.0.0.5"
    args = ["--properties-file", "/opt/spark/conf/spark.properties", "--class",
            "org.apache.spark.deploy.PythonRunner", "local:///opt/retail/jobs/stream_processor.py"]

    done = _run(image, "driver", *args)

    assert done.returncode == 0, done.stderr
    tini, submit = _commands(done.stdout)
    assert tini[:3] == ["tini", "-s", "--"]
    assert submit == ["spark-submit", "--conf", "spark.driver.bindAddress=10.0.0.5",
                      "--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=10.0.0.5",
                      "--deploy-mode", "client", *args]


def test_an_executor_runs_the_executor_backend_with_spark_s_settings_and_jars(image):
    image.update(EXECUTOR_ENV, SPARK_JAVA_OPT_10="-Dlast=1", SPARK_JAVA_OPT_0="-Dfirst=1",
                 SPARK_JAVA_OPT_2="--add-opens=java.base/java.nio=ALL-UNNAMED")

    done = _run(image, "executor")

    assert done.returncode == 0, done.stderr
    java = _commands(done.stdout)[1]
    backend = java.index("org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend")
    assert java[1:4] == ["-Dfirst=1", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Dlast=1"]
    assert java[4:6] == ["-Xms2048m", "-Xmx2048m"]
    assert java[6:8] == ["-cp", f"{image['SPARK_HOME']}/conf:{image['SPARK_HOME']}/jars/*"]
    assert java[backend + 1:] == [
        "--driver-url", "spark://CoarseGrainedScheduler@d:7078", "--executor-id", "3",
        "--cores", "2", "--app-id", "spark-a1", "--hostname", "10.0.0.7",
        "--resourceProfileId", "0", "--podName", "stream-exec-3"]


def test_an_executor_uses_the_conf_dir_and_extra_classpath_spark_sets(image):
    image.update(EXECUTOR_ENV, SPARK_CONF_DIR="/opt/spark/conf", SPARK_EXTRA_CLASSPATH="/x/*")

    java = _commands(_run(image, "executor").stdout)[1]

    assert java[java.index("-cp") + 1] == f"/opt/spark/conf:{image['SPARK_HOME']}/jars/*:/x/*"


def test_an_executor_started_without_spark_s_variables_exits_2_naming_the_missing_one(image):
    image.update(EXECUTOR_ENV)
    del image["SPARK_DRIVER_URL"]

    done = _run(image, "executor")

    assert done.returncode == 2
    assert "SPARK_DRIVER_URL is not set" in done.stderr and done.stdout == ""


def test_any_other_command_runs_as_given(image):
    done = _run(image, "sh", "-c", "echo hello from the image")

    assert (done.returncode, done.stdout) == (0, "hello from the image\n")


def test_no_command_exits_2_saying_what_is_expected(image):
    done = _run(image)

    assert done.returncode == 2 and "expected 'driver ARGS...', 'executor'" in done.stderr


APP = """
import sys
import retail.streaming.job  # the package the stream processor runs, importable by Spark
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
pythons = spark.sparkContext.parallelize(range(4), 2).map(lambda _: sys.executable).collect()
print("RESULT", spark.version, spark.conf.get("spark.driver.bindAddress"),
      spark.conf.get("spark.submit.deployMode"), sorted(set(pythons)))
spark.stop()
"""


@pytest.mark.integration
def test_the_driver_command_runs_a_pyspark_job_with_the_real_spark_submit(image, tmp_path):
    """The image's layout, with this virtualenv standing in: Spark is the pip-installed
    pyspark (SPARK_HOME), Python workers use PYSPARK_PYTHON."""
    import pyspark

    app = tmp_path / "app.py"
    app.write_text(APP)
    tools = Path(image["PATH"].split(":")[0])
    (tools / "java").unlink()  # the real JVM this time
    (tools / "tini").write_text('#!/bin/sh\nshift 2\nexec "$@"\n')  # tini -s -- CMD: run CMD
    image.update(SPARK_HOME=str(Path(pyspark.__file__).parent), PYSPARK_PYTHON=sys.executable,
                 SPARK_DRIVER_BIND_ADDRESS="127.0.0.1")

    done = subprocess.run(["bash", str(ENTRYPOINT), "driver", "--master", "local[1]",
                           "--conf", "spark.ui.enabled=false", str(app)],
                          env=image, capture_output=True, text=True, timeout=240)

    assert done.returncode == 0, done.stderr[-3000:]
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert result == [f"RESULT {pyspark.__version__} 127.0.0.1 client ['{sys.executable}']"]
