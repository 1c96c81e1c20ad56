"""The DAGs' one way to run a job: a task that runs ``jobs/<job>.py`` for a day, as a pod of
the job's image, as a ``SparkApplication``, or as a local process, by one setting.

The graph never changes; only the operator class does (the way Astronomer Cosmos switches
execution modes):

* ``AIRFLOW_VAR_RETAIL_EXECUTION=kubernetes`` (the default, on the cluster): Spark jobs
  become ``SparkApplication`` objects (``SparkKubernetesOperator``), the others pods
  (``KubernetesPodOperator``), each from its specification in ``_contract.json``, which is
  generated from ``manifests/`` (themselves what the chart renders): same image, settings
  (the env ConfigMap and Secrets, never a literal credential), resources, restricted
  security context and service account as a run by hand.
* ``AIRFLOW_VAR_RETAIL_EXECUTION=local`` (one machine, ``retail pipeline run``): the same
  job file runs in a subprocess with the platform's Python (``AIRFLOW_VAR_RETAIL_PYTHON``)
  from the repository (``AIRFLOW_VAR_RETAIL_REPO``), reading the local stack's ``RETAIL_*``
  settings from the environment.

Every DAG-side setting is an environment variable (an Airflow Variable from the
environment), read once when the file is parsed; no DAG imports ``pkg``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import pendulum
from airflow.exceptions import AirflowException, AirflowSkipException
from airflow.sdk import BaseOperator, BaseSensorOperator

import _alerts
import _warehouse

CONTRACT = json.loads((Path(__file__).parent / "_contract.json").read_text())
OWNER = "retail-platform"
# The business day a daily DAG works on: the day before its logical date (the 08:00 run of
# 2026-12-06 closes 2026-12-05). Weekly training works on the day before that (see models_train).
DAY = "{{ macros.ds_add(ds, -1) }}"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"AIRFLOW_VAR_RETAIL_{name}") or default


def _seconds(name: str, default: int) -> int:
    """A whole number of at least 0 from ``AIRFLOW_VAR_RETAIL_<name>``; a bad one stops the
    parse naming the variable."""
    value = _env(name, str(default))
    if not value.isdigit():
        raise ValueError(f"AIRFLOW_VAR_RETAIL_{name} must be a whole number >= 0, "
                         f"not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Config:
    """The DAG-side settings (``AIRFLOW_VAR_RETAIL_*``), read at parse time."""

    execution: str = _env("EXECUTION", "kubernetes")
    namespace: str = _env("NAMESPACE", CONTRACT["namespace"])
    release: str = _env("RELEASE", CONTRACT["release"])
    # set but empty: images loaded into the cluster without a registry (kind, Tilt)
    registry: str = os.environ.get("AIRFLOW_VAR_RETAIL_IMAGE_REGISTRY", CONTRACT["registry"])
    tag: str = _env("IMAGE_TAG", CONTRACT["tag"])
    repo: str = _env("REPO", str(Path(__file__).resolve().parents[1]))
    python: str = _env("PYTHON", "python3")
    retries: int = _seconds("RETRIES", 2)
    retry_delay_s: int = _seconds("RETRY_DELAY_S", 300)
    wait_timeout_s: int = _seconds("WAIT_TIMEOUT_S", 6 * 3600)
    # how long a failed job's SparkApplication (and its driver's log) stays for a look
    keep_failed_s: int = _seconds("KEEP_FAILED_S", 3 * 86400)

    def __post_init__(self) -> None:
        if self.execution not in ("kubernetes", "local"):
            raise ValueError(f"AIRFLOW_VAR_RETAIL_EXECUTION must be kubernetes or local, "
                             f"not {self.execution!r}")

    @property
    def local(self) -> bool:
        return self.execution == "local"

    def image(self, job: str) -> str:
        repository = CONTRACT["jobs"][job]["image"]
        return f"{self.registry}/{repository}:{self.tag}" if self.registry else \
            f"{repository}:{self.tag}"


CONFIG = Config()


def dag_settings(**task_overrides) -> dict:
    """What every DAG shares: no catch-up (backfills are asked for), one run at a time,
    owner, retries and alerts for every task (``task_overrides`` change those)."""
    return {"start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False,
            "max_active_runs": 1, "default_args": default_args(**task_overrides)}


def default_args(**overrides) -> dict:
    """Every task: retried with exponential back-off, then failed with an alert."""
    return {"owner": OWNER, "retries": CONFIG.retries,
            "retry_delay": timedelta(seconds=CONFIG.retry_delay_s),
            "retry_exponential_backoff": True, "max_retry_delay": timedelta(hours=1),
            "on_failure_callback": _alerts.task_failed, **overrides}


def _renamed(value, release: str):
    """The contract's object names for another release name than the chart's default."""
    default = CONTRACT["release"]
    if release == default:
        return value
    if isinstance(value, dict):
        return {k: (release if k == "app.kubernetes.io/instance" and v == default else
                    release + v[len(default):] if isinstance(v, str) and k in (
                        "name", "serviceAccount", "serviceAccountName")
                    and v.startswith(default + "-") else _renamed(v, release))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, release) for v in value]
    return value


def spark_application(job: str, arguments: list[str]) -> dict:
    """The job's ``SparkApplication`` as the chart would run it, with these arguments."""
    app = _renamed(json.loads(json.dumps(CONTRACT["jobs"][job]["application"])),
                   CONFIG.release)
    app["metadata"]["namespace"] = CONFIG.namespace
    app["spec"]["image"] = CONFIG.image(job)
    app["spec"]["arguments"] = list(arguments)
    # the Spark operator deletes a finished application this long after it ended; the task
    # deletes a succeeded one at once (SparkJobOperator), so this keeps the failed ones
    app["spec"]["timeToLiveSeconds"] = CONFIG.keep_failed_s
    return app


@cache
def spark_job_operator() -> type:
    """``SparkKubernetesOperator`` that deletes its ``SparkApplication`` when the driver
    succeeded and keeps a failed one, with its driver pod and log, for ``timeToLiveSeconds``
    (``AIRFLOW_VAR_RETAIL_KEEP_FAILED_S``): the provider's ``delete_on_termination`` deletes
    either. Defined on first use: local mode never imports the Kubernetes provider."""
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import (
        SparkKubernetesOperator)

    class SparkJobOperator(SparkKubernetesOperator):
        def process_pod_deletion(self, pod, *, reraise=True):
            phase = getattr(getattr(pod, "status", None), "phase", None)
            if phase == "Succeeded":
                return super().process_pod_deletion(pod, reraise=reraise)
            if pod is not None:
                self.log.info("keeping the SparkApplication of %s (driver %s) for %d s",
                              pod.metadata.name, phase, CONFIG.keep_failed_s)
            return None

    return SparkJobOperator


def pod_template(job: str) -> dict:
    """The job's pod as the chart would run it (its container is the operator's ``base``)."""
    pod = _renamed(json.loads(json.dumps(CONTRACT["jobs"][job]["pod"])), CONFIG.release)
    pod["spec"]["containers"][0]["name"] = "base"
    pod["spec"]["serviceAccountName"] = f"{CONFIG.release}-job"
    return pod


class LocalJobOperator(BaseOperator):
    """Runs ``jobs/<job>.py`` in a subprocess of the platform's Python; its output goes to
    the task log. Exit 0 succeeds, ``skip_on_exit_code`` skips, anything else fails."""

    template_fields = ("arguments",)
    ui_color = "#e8f0d8"

    def __init__(self, *, job: str, arguments: list[str], skip_on_exit_code: int | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.job, self.arguments, self.skip_on_exit_code = job, arguments, skip_on_exit_code
        self._process: subprocess.Popen | None = None

    def execute(self, context) -> None:
        script = Path(CONFIG.repo) / CONTRACT["jobs"][self.job]["script"]
        command = [CONFIG.python, str(script), *self.arguments]
        # The jobs read RETAIL_* settings; Airflow's own variables are not theirs.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.setdefault("PYSPARK_PYTHON", CONFIG.python)
        self.log.info("running %s", " ".join(command))
        self._process = subprocess.Popen(command, cwd=CONFIG.repo, env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        last = said = ""  # its last line, and the last it logged as a warning or an error
        try:
            for line in self._process.stdout:
                self.log.info("%s", line.rstrip())
                last = line.strip() or last
                if " WARNING " in line or " ERROR " in line:
                    said = line.strip()
            code = self._process.wait()
        finally:
            self.on_kill()
        if code == 0:
            return
        if code == self.skip_on_exit_code:
            raise AirflowSkipException(f"{script.name} exited {code}, nothing to do yet: "
                                       f"{(said or last)[-300:]}")
        raise AirflowException(f"{script.name} {' '.join(self.arguments)} exited {code}")

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)


class RunSucceededSensor(BaseSensorOperator):
    """Waits until ``job`` recorded a successful run of ``day`` in ``job_runs`` (its latest
    row for that day), so a DAG never works on a day its upstream job did not finish."""

    template_fields = ("day",)
    ui_color = "#f0e4d8"

    def __init__(self, *, job: str, day: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.job, self.day = job, day

    def poke(self, context) -> bool:
        rows = _warehouse.query(
            "SELECT status FROM job_runs FINAL WHERE job = {job:String} "
            "AND JSONExtractString(details, 'day') = {day:String} "
            "ORDER BY updated_at DESC LIMIT 1", job=self.job, day=self.day)
        status = rows[0]["status"] if rows else "no run"
        self.log.info("%s for %s: %s", self.job, self.day, status)
        return status == "succeeded"


def wait_for(job: str, day: str = DAY) -> RunSucceededSensor:
    """The first task of a DAG whose day another DAG's job must have finished."""
    return RunSucceededSensor(
        task_id=f"wait_{job}", job=job, day=day, timeout=CONFIG.wait_timeout_s,
        mode="poke" if CONFIG.local else "reschedule",
        # per poke when rescheduled; the whole wait when it pokes in place
        execution_timeout=timedelta(seconds=CONFIG.wait_timeout_s + 300) if CONFIG.local
        else timedelta(minutes=10),
        # locally a poke is one query: every 5 s, or once more at the end of a shorter wait
        poke_interval=min(5, CONFIG.wait_timeout_s) if CONFIG.local else 300,
        exponential_backoff=not CONFIG.local)


def job_task(job: str, arguments: list[str], *, task_id: str | None = None,
             timeout: timedelta = timedelta(hours=2),
             skip_on_exit_code: int | None = None) -> BaseOperator:
    """The task that runs ``job`` with ``arguments`` (templated: ``DAY`` is the day)."""
    spec = CONTRACT["jobs"][job]
    common = {"task_id": task_id or job, "execution_timeout": timeout}
    if CONFIG.local:
        return LocalJobOperator(job=job, arguments=arguments,
                                skip_on_exit_code=skip_on_exit_code, **common)
    if spec["kind"] == "spark":
        # A SparkApplication's driver reports no exit code to Airflow: a job with nothing
        # to do yet fails here, where a pod or a local run is skipped (docs/orchestration.md).
        app = spark_application(job, arguments)
        return spark_job_operator()(
            namespace=CONFIG.namespace, name=app["metadata"]["name"],
            template_spec={"spark": app}, in_cluster=True, get_logs=True,
            delete_on_termination=True, **common)
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    return KubernetesPodOperator(
        namespace=CONFIG.namespace, name=f"{CONFIG.release}-{job.replace('_', '-')}",
        image=CONFIG.image(job), arguments=arguments, pod_template_dict=pod_template(job),
        labels=pod_template(job)["metadata"]["labels"], in_cluster=True, get_logs=True,
        on_finish_action="delete_succeeded_pod", skip_on_exit_code=skip_on_exit_code,
        **common)
