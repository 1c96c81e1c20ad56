"""dags/: every DAG parses under the pinned Airflow, fast, without the platform's library; its
schedule, tags, owner, retries, timeouts and alerts are the design's; and what each task
would send the cluster (a pod, or a SparkApplication) is the chart's specification of the
job, validated strictly offline. Airflow runs in its own Python (``dag_probe.py``); the
assertions run here."""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.dags.airflow_env import DAGS, REPO, airflow_env, airflow_python
from tests.k8s.validate import validate_objects

DS = "2026-12-01"  # the logical date the templates render with; the day is the one before
DAY, AS_OF = "2026-11-30", "2026-11-29"
DAG_FILES = sorted(p.stem for p in DAGS.glob("[!_]*.py"))
# The design's table (issue 20): schedule in UTC, tags, and the job each DAG waits for.
DESIGN = {
    "etl_close_day": ("0 8 * * *", "etl", None),
    "features_build": ("0 9 * * *", "features", "daily_etl"),
    "models_train": ("0 2 * * 0", "ml", "build_features"),
    "predictions_run": ("0 10 * * *", "ml", "build_features"),
    "quality_check": ("5 * * * *", "quality", None),
    "bi_prepare": ("*/15 * * * *", "bi", None),
}
CONTRACT = json.loads((DAGS / "_contract.json").read_text())
SPARK_MANIFEST = {job: REPO / "manifests" / f"spark-{job.replace('_', '-')}.yaml"
                  for job, spec in CONTRACT["jobs"].items() if spec["kind"] == "spark"}


def _probe(tmp_path_factory, **env) -> dict:
    tmp = tmp_path_factory.mktemp("dag-probe")
    out = tmp / "probe.json"
    done = subprocess.run(
        [str(airflow_python()), str(Path(__file__).with_name("dag_probe.py")), "--ds", DS,
         "--out", str(out)], env=airflow_env(tmp, PYTHONPATH=str(DAGS), **env),
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> dict:
    return _probe(tmp_path_factory)


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> dict:
    return _probe(tmp_path_factory, AIRFLOW_VAR_RETAIL_EXECUTION="local",
                  AIRFLOW_VAR_RETAIL_REPO="/srv/retail", AIRFLOW_VAR_RETAIL_PYTHON="/srv/py")


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> dict:
    return _probe(tmp_path_factory, AIRFLOW_VAR_RETAIL_RELEASE="shop",
                  AIRFLOW_VAR_RETAIL_NAMESPACE="stores", AIRFLOW_VAR_RETAIL_IMAGE_REGISTRY="",
                  AIRFLOW_VAR_RETAIL_IMAGE_TAG="dev")


def _tasks(probe: dict, kind: str | None = None):
    for dag_id, dag in probe["dags"].items():
        for task_id, task in dag["tasks"].items():
            if kind is None or task["operator"] == kind:
                yield dag_id, task_id, task


def test_the_design_table_names_every_dag_file():
    assert sorted(DESIGN) == DAG_FILES


def test_what_the_files_share_loads_once_in_a_few_seconds(cluster):
    assert cluster["warm_up_seconds"] < 5.0


@pytest.mark.parametrize("name", DAG_FILES)
def test_each_file_parses_alone_into_one_dag_named_after_it_in_under_a_second(cluster, name):
    """Its own time, once what every file shares is loaded (the test above)."""
    parsed = cluster["files"][f"{name}.py"]
    assert parsed["errors"] == {}
    assert parsed["dag_ids"] == [name]
    assert parsed["seconds"] < 1.0, parsed


@pytest.mark.parametrize("name", DAG_FILES)
def test_each_dag_keeps_the_designs_schedule_tags_and_no_catchup(cluster, name):
    dag = cluster["dags"][name]
    schedule, tag, _ = DESIGN[name]
    assert dag["schedule"] == schedule
    assert {"retail", tag} <= set(dag["tags"])
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert dag["fileloc"] == f"{name}.py" and dag["doc_md"].strip(), "the docstring is doc_md"


def test_no_dag_file_imports_the_platforms_library():
    for path in [*DAGS.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] in ("retail", "pkg", "pyspark")], \
                f"{path.name} imports {names}"


def test_parsing_every_dag_loaded_neither_the_library_nor_spark(cluster):
    assert cluster["modules"] == []


def test_every_task_retries_with_backoff_times_out_and_alerts_when_it_fails(cluster):
    tasks = list(_tasks(cluster))
    assert len(tasks) >= 20
    for dag_id, task_id, task in tasks:
        where = f"{dag_id}.{task_id}"
        assert task["owner"] == "retail-platform", where
        assert task["retries"] >= 1 and task["exponential_backoff"], where
        assert task["retry_delay_s"] >= 60, where
        assert task["timeout_s"] and task["timeout_s"] <= 4 * 3600, where
        assert task["on_failure_callback"] == ["_alerts.task_failed"], where


@pytest.mark.parametrize("name", [n for n, d in DESIGN.items() if d[2]])
def test_a_dag_that_depends_on_another_waits_for_its_job_first(cluster, name):
    tasks = cluster["dags"][name]["tasks"]
    job = DESIGN[name][2]
    sensor = tasks[f"wait_{job}"]
    assert sensor["operator"] == "RunSucceededSensor" and sensor["job"] == job
    assert sensor["day"] == (AS_OF if name == "models_train" else DAY)
    assert sensor["mode"] == "reschedule"
    roots = [t for t, task in tasks.items() if not task["upstream"]]
    assert roots == [f"wait_{job}"], "nothing starts before the upstream job's day is done"


def test_the_days_chain_closes_then_checks_and_predicts_then_reorders(cluster):
    etl = cluster["dags"]["etl_close_day"]["tasks"]
    assert etl["data_quality"]["upstream"] == ["daily_etl"]
    predictions = cluster["dags"]["predictions_run"]["tasks"]
    assert predictions["optimize_stock"]["upstream"] == ["predict_daily"]
    assert set(predictions["powerbi_refresh"]["upstream"]) == set(predictions) - {
        "wait_build_features", "predict_daily", "powerbi_refresh"}
    assert predictions["powerbi_refresh"]["trigger_rule"].endswith("NONE_FAILED")


def _env_is_from_sources(where: str, container: dict) -> None:
    assert container["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}], where
    for var in container["env"]:
        if re.search(r"PASSWORD|SECRET|KEY", var["name"]):
            assert "value" not in var and var["valueFrom"]["secretKeyRef"]["name"], where


def test_each_pod_is_the_jobs_image_args_settings_and_restricted_security(cluster):
    pods = list(_tasks(cluster, "KubernetesPodOperator"))
    assert {t["pod"]["spec"]["containers"][0]["image"] for _, _, t in pods} == {
        f"ghcr.io/{CONTRACT['jobs'][j]['image']}:{CONTRACT['tag']}"
        for j in ("data_quality", "evaluate_forecasts")}
    for dag_id, task_id, task in pods:
        where = f"{dag_id}.{task_id}"
        pod = task["pod"]
        (container,) = pod["spec"]["containers"]
        assert container["args"] == task["arguments"] and container["command"] == [], where
        if "--date" in container["args"]:
            assert container["args"][container["args"].index("--date") + 1] == DAY, where
        _env_is_from_sources(where, container)
        assert container["resources"]["requests"] and container["resources"]["limits"], where
        security = container["securityContext"]
        assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"], where
        assert not security["allowPrivilegeEscalation"], where
        assert security["capabilities"] == {"drop": ["ALL"]}, where
        assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["spec"]["serviceAccountName"] == "retail-platform-job", where
        assert pod["spec"]["automountServiceAccountToken"] is False, where
        assert pod["metadata"]["namespace"] == "retail", where
        assert task["on_finish_action"] == "delete_succeeded_pod", where
    errors = validate_objects([t["pod"] for _, _, t in pods])
    assert errors == []


def test_each_spark_application_validates_strictly_against_the_pinned_crd(cluster):
    apps = [t["spark_application"] for _, _, t in _tasks(cluster, "SparkJobOperator")]
    assert len(apps) == 12  # 1 + 1 + 5 trainings + 5 scorings
    assert validate_objects(apps) == []


def test_a_succeeded_application_is_deleted_a_failed_one_kept_for_three_days(cluster):
    """What the task asks of the cluster when its driver ends: delete the application when
    it succeeded; leave a failed one, with its driver pod and log, to the Spark operator's
    time-to-live (AIRFLOW_VAR_RETAIL_KEEP_FAILED_S, 3 days)."""
    tasks = list(_tasks(cluster, "SparkJobOperator"))
    assert tasks
    for dag_id, task_id, task in tasks:
        assert task["deletes_when"] == ["Succeeded"], f"{dag_id}.{task_id}"
        assert task["spark_application"]["spec"]["timeToLiveSeconds"] == 3 * 86400


def test_each_spark_application_is_the_manifests_but_for_its_day_name_and_restarts(cluster):
    """Airflow retries the task, so the application itself does not restart (two retry
    loops would run a failing day nine times), and a finished one is gone after its
    time-to-live; otherwise it is exactly manifests/."""
    seen = set()
    for dag_id, task_id, task in _tasks(cluster, "SparkJobOperator"):
        app = copy.deepcopy(task["spark_application"])
        job = app["spec"]["mainApplicationFile"].rsplit("/", 1)[1].removesuffix(".py")
        manifest = yaml.safe_load(SPARK_MANIFEST[job].read_text())
        assert app["spec"].pop("arguments") == task_args(task), f"{dag_id}.{task_id}"
        assert app["spec"].pop("restartPolicy") == {"type": "Never"}
        assert app["spec"].pop("timeToLiveSeconds") > 0
        assert "timeToLiveSeconds" not in manifest["spec"]
        manifest["spec"].pop("arguments")
        manifest["spec"].pop("restartPolicy")
        assert app["metadata"]["name"] == f"retail-platform-{job.replace('_', '-')}"
        assert manifest["metadata"].pop("name").startswith(app["metadata"].pop("name"))
        assert app == manifest, f"{dag_id}.{task_id}"
        seen.add(job)
    assert seen == set(SPARK_MANIFEST)


def task_args(task: dict) -> list[str]:
    return task["spark_application"]["spec"]["arguments"]


def test_local_mode_runs_the_same_graph_with_each_job_file_in_a_subprocess(cluster, local):
    assert local["dags"].keys() == cluster["dags"].keys()
    for dag_id, task_id, task in _tasks(cluster):
        twin = local["dags"][dag_id]["tasks"][task_id]
        assert twin["upstream"] == task["upstream"], f"{dag_id}.{task_id}"
        if task["operator"] in ("KubernetesPodOperator", "SparkJobOperator"):
            assert twin["operator"] == "LocalJobOperator", f"{dag_id}.{task_id}"
            args = task.get("arguments") if task["operator"] == "KubernetesPodOperator" \
                else task_args(task)
            assert twin["arguments"] == args, f"{dag_id}.{task_id}"
            assert twin["skip_on_exit_code"] in (None, 3)
        else:
            assert twin["operator"] == task["operator"]
    sensors = [t for _, _, t in _tasks(local, "RunSucceededSensor")]
    assert sensors and {s["mode"] for s in sensors} == {"poke"}


def test_another_release_namespace_and_registry_rename_every_object_the_tasks_use(renamed):
    pods = [t["pod"] for _, _, t in _tasks(renamed, "KubernetesPodOperator")]
    apps = [t["spark_application"] for _, _, t in _tasks(renamed, "SparkJobOperator")]
    assert pods and apps
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        assert pod["metadata"]["namespace"] == "stores"
        assert pod["spec"]["serviceAccountName"] == "shop-job"
        assert container["image"].startswith("retail-platform/") and \
            container["image"].endswith(":dev")
        assert container["envFrom"] == [{"configMapRef": {"name": "shop-env"}}]
        assert {v["valueFrom"]["secretKeyRef"]["name"] for v in container["env"]
                if "valueFrom" in v} == {"shop-clickhouse"}
    for app in apps:
        driver = app["spec"]["driver"]
        assert app["metadata"]["namespace"] == "stores"
        assert app["metadata"]["labels"]["app.kubernetes.io/instance"] == "shop"
        assert driver["serviceAccount"] == "shop-spark"
        assert driver["envFrom"] == [{"configMapRef": {"name": "shop-env"}}]
        assert app["spec"]["image"].endswith(":dev") and "/" in app["spec"]["image"]
        assert not app["spec"]["image"].startswith("ghcr.io")
    assert "retail-platform-" not in json.dumps(pods + apps).replace(
        "retail-platform/", "")


def test_a_bad_setting_stops_every_dag_naming_the_variable(tmp_path_factory):
    probe = _probe(tmp_path_factory, AIRFLOW_VAR_RETAIL_RETRIES="two")
    assert probe["dags"] == {}
    for parsed in probe["files"].values():
        (error,) = parsed["errors"].values()
        assert "AIRFLOW_VAR_RETAIL_RETRIES must be a whole number >= 0, not 'two'" in error
