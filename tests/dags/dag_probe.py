"""Run by Airflow's own Python (``.venv-airflow``), never by the platform's: parses every DAG
file under the pinned Airflow and prints, as JSON, what the tests in this folder assert on:
each file's parse time and import errors, each DAG's schedule, tags and defaults, each task's
operator and settings, and what each task would send the cluster (the pod it would create,
rendered offline with ``build_pod_request_obj(dry_run=True)``, or the ``SparkApplication``
body its launcher would submit), with the day's templates rendered for ``--ds``.

    python tests/dags/dag_probe.py --ds 2026-12-01 --out probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _warm_up() -> float:
    """Load what every file shares once per process (Airflow's start-up, the helpers and the
    providers they use), as the DAG processor has before it parses a file; its time."""
    from airflow.models.dagbag import DagBag

    clock = time.perf_counter()
    with tempfile.TemporaryDirectory() as empty:
        DagBag(empty, include_examples=False)
    try:
        import _jobs  # noqa: F401
    except Exception:  # noqa: BLE001  (each file that imports it reports the error)
        pass
    import airflow.providers.cncf.kubernetes.operators.pod  # noqa: F401
    import airflow.providers.cncf.kubernetes.operators.spark_kubernetes  # noqa: F401
    return time.perf_counter() - clock


def _parse_files() -> tuple[dict, dict]:
    from airflow.models.dagbag import DagBag

    dags, files = {}, {}
    for path in sorted(DAGS.glob("[!_]*.py")):
        clock = time.perf_counter()
        bag = DagBag(str(path), include_examples=False, safe_mode=False)
        files[path.name] = {"seconds": time.perf_counter() - clock,
                            "errors": {Path(k).name: v for k, v in bag.import_errors.items()},
                            "dag_ids": sorted(bag.dags)}
        dags.update(bag.dags)
    return dags, files


def _render(task, dag, ds: str) -> None:
    from airflow import macros

    task.render_template_fields({"ds": ds, "macros": macros, "params": {}},
                                jinja_env=dag.get_template_env())


class _Deletions:
    """Stands in for the operator's launcher at the end of a run: records which
    ``SparkApplication`` the task would delete (the cluster's side is not here)."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_spark_job(self, spark_job_name=None) -> None:
        self.deleted.append(spark_job_name)


def _deleted_when(task, phase: str) -> bool:
    """Whether the task deletes its application once the driver pod ended in ``phase``."""
    from kubernetes.client import V1ObjectMeta, V1Pod, V1PodStatus

    task.launcher = _Deletions()
    task.process_pod_deletion(V1Pod(metadata=V1ObjectMeta(name=f"{task.name}-driver"),
                                    status=V1PodStatus(phase=phase)))
    return task.launcher.deleted == [task.name]


def _cluster_request(task) -> dict | None:
    from kubernetes.client import ApiClient

    kinds = {c.__name__ for c in type(task).__mro__}
    if "SparkKubernetesOperator" in kinds:
        from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import (
            CustomObjectLauncher)

        launcher = CustomObjectLauncher(name=task.name, namespace=task.namespace,
                                        kube_client=None, custom_obj_api=None,
                                        template_body=task.template_body)
        return {"spark_application": launcher.body,
                "deletes_when": sorted(p for p in ("Succeeded", "Failed")
                                       if _deleted_when(task, p))}
    kind = type(task).__name__
    if kind == "KubernetesPodOperator":
        pod = task.build_pod_request_obj(context=None, dry_run=True)
        return {"pod": ApiClient().sanitize_for_serialization(pod),
                "on_finish_action": task.on_finish_action.value,
                "skip_on_exit_code": sorted(task.skip_on_exit_code or [])}
    return None


def _task(task, dag, ds: str) -> dict:
    _render(task, dag, ds)
    timeout = task.execution_timeout
    out = {"operator": type(task).__name__, "owner": task.owner, "retries": task.retries,
           "retry_delay_s": task.retry_delay.total_seconds(),
           "exponential_backoff": task.retry_exponential_backoff,
           "timeout_s": timeout.total_seconds() if timeout else None,
           "on_failure_callback": [f"{c.__module__}.{c.__name__}"
                                   for c in (task.on_failure_callback or [])]
           if isinstance(task.on_failure_callback, list) else
           ([f"{task.on_failure_callback.__module__}.{task.on_failure_callback.__name__}"]
            if task.on_failure_callback else []),
           "upstream": sorted(task.upstream_task_ids), "trigger_rule": str(task.trigger_rule)}
    for name in ("job", "arguments", "skip_on_exit_code", "day", "timeout", "mode"):
        if name in vars(task) and name not in out:
            value = getattr(task, name)
            out[name] = value if isinstance(value, (str, int, float, list, type(None))) \
                else str(value)
    request = _cluster_request(task)
    if request:
        out.update(request)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ds", required=True, help="logical date the templates render with")
    parser.add_argument("--out", required=True, help="where the JSON goes (Airflow logs to stdout)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(DAGS))
    import airflow.sdk  # noqa: F401  (Airflow itself is loaded before a file's clock starts)

    warm_up = _warm_up()
    dags, files = _parse_files()
    report = {"warm_up_seconds": warm_up, "files": files, "modules": sorted(m for m in sys.modules
                                                if m.split(".")[0] in ("retail", "pyspark")),
              "dags": {}}
    for dag_id, dag in sorted(dags.items()):
        report["dags"][dag_id] = {
            "fileloc": Path(dag.fileloc).name, "schedule": dag.timetable.summary,
            "catchup": dag.catchup, "tags": sorted(dag.tags), "doc_md": dag.doc_md or "",
            "max_active_runs": dag.max_active_runs,
            "tasks": {t.task_id: _task(t, dag, args.ds) for t in dag.tasks}}
    Path(args.out).write_text(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
