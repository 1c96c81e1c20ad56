"""The Tiltfile, executed offline against stand-ins of Tilt's API (tests/tilt_standins.py)
and the umbrella chart's real render: every path it names exists, every image it builds is
deployed, every resource it configures or depends on exists, custom resources wait for their
operators, the Airflow pods run the Airflow image it builds, the dashboards the image it
builds, and the dev loop forwards ClickHouse, the Airflow UI, the MinIO console, the MLflow UI
and the dashboards."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import starlark
import yaml

from tests.k8s.helm import CHART, ROOT
from tests.tilt_standins import (LOCAL_OUTPUTS, YESTERDAY, Tilt, assemble, parse_tiltfile,
                                 run_tiltfile)

TILTFILE = ROOT / "Tiltfile"
SCENARIO = "charts/retail-platform/ci/01-kind-dev-values.yaml"
JOBS = ["pos_generator", "stream_processor", "warehouse_migrate"]
# The Spark batch jobs: built on the stream processor's image, applied when triggered.
BATCH_JOBS = ["daily_etl", "build_features", "train_demand_forecast", "predict_daily",
              "optimize_stock", "detect_anomalies", "classify_slow_movers",
              "train_recommendations"]
MODEL_JOBS = {"train_demand_forecast", "predict_daily", "optimize_stock", "detect_anomalies",
              "classify_slow_movers", "train_recommendations"}
# The warehouse jobs: plain Python on the base image, a Job for the day, applied when triggered.
WAREHOUSE_JOBS = ["evaluate_forecasts"]
SPARK = "retail-platform/stream-processor"
DAY = LOCAL_OUTPUTS[YESTERDAY].strip()  # what local() answers the Tiltfile's day command
BASE = "retail-platform/base"
MLFLOW = "retail-platform/mlflow"  # the MLflow server: its own venv, no platform code
AIRFLOW = "retail-platform/airflow"  # Airflow with the DAGs: the official image, no platform code
DASHBOARD = "retail-platform/dashboard"  # the web dashboards: a command on the base
OPERATOR_OF_GROUP = {  # API group of a custom resource: the Tilt resource of its operator
    "kafka.strimzi.io": "strimzi-operator", "sparkoperator.k8s.io": "spark-operator",
    "clickhouse.altinity.com": "clickhouse-operator", "minio.min.io": "minio-operator",
    "clickhouse-keeper.altinity.com": "clickhouse-operator"}
TILT_LABEL = re.compile(r"[A-Za-z0-9]([-._A-Za-z0-9]{0,61}[A-Za-z0-9])?")


def airflow_values(tilt: Tilt) -> dict:
    """The ``airflow:`` values of the Tiltfile's render (the scenario's keys over the chart's)."""
    (render,) = tilt.named("helm")
    airflow = {}
    for values in [CHART / "values.yaml", *(ROOT / f for f in render["values"])]:
        airflow |= yaml.safe_load(values.read_text()).get("airflow", {})
    return airflow


def airflow_workloads(tilt: Tilt) -> list[dict]:
    """The Airflow API server, which the stub subchart cannot render: chart 1.21.0 names it
    ``<release>-api-server`` while ``useStandardNaming`` is off (api-server-deployment.yaml),
    its image ``images.airflow`` (the ``airflow_image`` helper)."""
    (render,) = tilt.named("helm")
    airflow = airflow_values(tilt)
    if not airflow.get("enabled"):
        return []
    assert not {"useStandardNaming", "fullnameOverride"} & airflow.keys(), \
        "Airflow's objects are no longer named <release>-...: update airflow_workloads"
    image = airflow["images"]["airflow"]
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": f"{render['name']}-api-server", "namespace": render["namespace"]},
        "spec": {"template": {"spec": {"containers": [
            {"name": "api-server", "image": f"{image['repository']}:{image['tag']}"}]}}}}]


def run(source: str):
    tilt = run_tiltfile(source, ROOT)
    return tilt, *assemble(tilt, airflow_workloads(tilt))


@pytest.fixture(scope="module")
def tiltfile():
    return run(TILTFILE.read_text())


@pytest.fixture(scope="module")
def tilt(tiltfile) -> Tilt:
    return tiltfile[0]


@pytest.fixture(scope="module")
def resources(tiltfile) -> dict:
    return tiltfile[1]


def repository(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


def dockerfile_lines(path: Path, instruction: str) -> list[list[str]]:
    """The words after each ``instruction`` of a Dockerfile, with ARG defaults substituted."""
    args, found = {}, []
    for line in path.read_text().splitlines():
        words = line.split()
        if words[:1] == ["ARG"] and "=" in words[1]:
            name, default = words[1].split("=", 1)
            args[name] = default
        elif words[:1] == [instruction]:
            found.append([re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), w)
                          for w in words[1:]])
    return found


def parents(dockerfile: Path) -> set[str]:
    """The images a Dockerfile builds on (its FROM stages)."""
    return {repository(next(w for w in words if not w.startswith("--")))
            for words in dockerfile_lines(dockerfile, "FROM")}


def copied_from_context(dockerfile: Path) -> list[tuple[list[str], str]]:
    """``(sources, destination)`` of every COPY that reads the build context."""
    copies = [[w for w in words if not w.startswith("--")]
              for words in dockerfile_lines(dockerfile, "COPY")
              if not any(w.startswith("--from=") for w in words)]
    return [(words[:-1], words[-1]) for words in copies]


def undeployed_images(tilt: Tilt) -> list[str]:
    """Images built but neither run by an object Tilt deploys (Airflow's, which the stub
    subchart cannot render, included) nor the base of one that is."""
    built = {c["ref"]: ROOT / c["dockerfile"] for c in tilt.named("docker_build")}
    used = set()
    for obj in tilt.yaml_objects() + airflow_workloads(tilt):
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        used |= {c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])}
        used |= {spec["image"]} if obj["kind"] == "SparkApplication" else set()
    used = {repository(i) for i in used}
    used |= {p for ref in used & built.keys() for p in parents(built[ref])}
    return sorted(built.keys() - used)


def depends_on(resources: dict, name: str) -> set[str]:
    """Every resource ``name`` waits for, directly or through others."""
    seen, todo = set(), list(resources[name].deps)
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo += resources[dep].deps
    return seen


def test_tilt_would_accept_every_resource_and_dependency(tiltfile):
    assert tiltfile[2] == []


@pytest.mark.parametrize("source, problems", [
    (TILTFILE.read_text(), []),
    ("chart = 'a'\nfor dep in ['b']:\n    chart = dep\n", ["duplicate-top-level-assign"]),
], ids=["Tiltfile", "a-global-reassigned-in-a-loop"])
def test_the_tiltfile_passes_starlarks_linter(source, problems):
    assert [lint.short_name for lint in parse_tiltfile(source).lint()] == problems


def test_every_path_the_tiltfile_names_exists(tilt):
    paths = [c["yaml"] for c in tilt.named("k8s_yaml") if isinstance(c["yaml"], str)]
    paths += [c["path"] for c in tilt.named("read_yaml")]
    paths += [p for c in tilt.named("helm") for p in [c["pathToChartDir"], *c["values"]]]
    for call in tilt.named("docker_build"):
        paths += [call["context"], call["dockerfile"], *call["only"]]
        paths += [step["local_path"] for step in call["live_update"]]
    assert len(paths) > 10
    assert [p for p in paths if not (ROOT / p).exists()] == []


def test_it_builds_the_base_and_one_image_per_job_from_its_own_dockerfile(tilt):
    builds = {c["ref"]: c for c in tilt.named("docker_build")}
    assert builds.pop(BASE)["dockerfile"] == "images/base/Dockerfile"
    for job in JOBS:
        build = builds.pop("retail-platform/" + job.replace("_", "-"))
        assert (build["dockerfile"], build["context"]) == (f"images/{job}/Dockerfile", ".")
        assert BASE in parents(ROOT / build["dockerfile"]), f"{job} does not build on the base"
    for job in BATCH_JOBS:
        build = builds.pop("retail-platform/" + job.replace("_", "-"))
        assert (build["dockerfile"], build["context"]) == (f"images/{job}/Dockerfile", ".")
        assert SPARK in parents(ROOT / build["dockerfile"]), f"{job} is not on the Spark image"
    for job in WAREHOUSE_JOBS:
        build = builds.pop("retail-platform/" + job.replace("_", "-"))
        assert (build["dockerfile"], build["context"]) == (f"images/{job}/Dockerfile", ".")
        assert parents(ROOT / build["dockerfile"]) == {BASE}, f"{job} is not on the base alone"
    mlflow = builds.pop(MLFLOW)
    assert (mlflow["dockerfile"], mlflow["only"]) == ("images/mlflow/Dockerfile", ["images/mlflow"])
    assert BASE not in parents(ROOT / mlflow["dockerfile"])
    airflow = builds.pop(AIRFLOW)
    assert (airflow["dockerfile"], airflow["context"], airflow["only"]) == (
        "images/airflow/Dockerfile", ".", ["images/airflow", "dags"])  # a DAG edit rebuilds it
    assert parents(ROOT / airflow["dockerfile"]) == {"apache/airflow"}
    dashboard = builds.pop(DASHBOARD)
    assert (dashboard["dockerfile"], dashboard["context"], dashboard["only"]) == (
        "images/dashboard/Dockerfile", ".", ["images/dashboard"])
    assert parents(ROOT / dashboard["dockerfile"]) == {BASE}  # a pkg/ edit rebuilds it
    assert builds == {}


def test_every_file_a_dockerfile_copies_is_in_the_build_context(tilt):
    for call in tilt.named("docker_build"):
        for sources, _ in copied_from_context(ROOT / call["dockerfile"]):
            for source in sources:
                inside = [o for o in call["only"] if (source + "/").startswith(o.rstrip("/") + "/")]
                assert inside, f"{call['ref']}: COPY {source} is not in only={call['only']}"


def test_every_image_it_builds_is_deployed_by_the_chart_or_is_their_base(tilt):
    assert undeployed_images(tilt) == []


def test_live_update_syncs_python_code_to_where_the_images_keep_it(tilt):
    base = (ROOT / "images/base/Dockerfile").read_text()
    for call in tilt.named("docker_build"):
        syncs = {s["local_path"]: s["remote_path"] for s in call["live_update"]}
        if call["ref"] in (BASE, MLFLOW, AIRFLOW, DASHBOARD):
            # nothing runs the base itself; no platform code in MLflow's or Airflow's; the
            # dashboards' running server would not reload synced code
            assert syncs == {}
            continue
        assert set(syncs) == {"pkg/retail", "jobs"}, call["ref"]
        job = call["dockerfile"].split("/")[1]
        copied = dict((s[0], d) for s, d in copied_from_context(ROOT / call["dockerfile"]))
        assert copied[f"jobs/{job}.py"] == f"{syncs['jobs']}/{job}.py", call["ref"]
        venv, _, rest = syncs["pkg/retail"].partition("/lib/python3.11/")
        assert f"python -m venv {venv}" in base and rest == "site-packages/retail"


def test_the_stream_processor_gets_the_built_image_and_the_entrypoint_live_update_refreshes(
        tilt):
    assert {c["kind"]: c["image_json_path"] for c in tilt.named("k8s_kind")} == {
        "SparkApplication": "{.spec.image}"}
    jobs_dir = {s["local_path"]: s["remote_path"] for c in tilt.named("docker_build")
                for s in c["live_update"]}["jobs"]
    (app,) = [o for o in tilt.yaml_objects() if o["kind"] == "SparkApplication"
              and o["metadata"]["name"] == "retail-platform-stream-processor"]
    assert app["spec"]["mainApplicationFile"] == f"local://{jobs_dir}/stream_processor.py"


def test_the_umbrella_renders_the_kind_scenario_with_operator_subcharts_off(tilt):
    (render,) = tilt.named("helm")
    assert (render["pathToChartDir"], render["name"], render["namespace"]) == (
        "charts/retail-platform", "retail-platform", "retail")
    assert render["values"] == [SCENARIO]
    assert set(render["set"]) >= {"strimzi.enabled=false", "sparkOperator.enabled=false",
                                  "clickhouseOperator.enabled=false",
                                  "minioOperator.enabled=false", "image.registry="}


def test_chart_dependencies_are_built_before_the_umbrella_is_rendered(tilt):
    calls = [c for c in tilt.calls if c.function in ("local", "helm")]
    assert [c.function for c in calls] == ["local", "local", "helm"]
    assert calls[0].args["command"] == YESTERDAY  # the batch jobs' day, for the render
    assert "helm dependency build charts/retail-platform" in calls[1].args["command"]


def test_the_days_command_prints_yesterday_in_utc():
    import datetime
    import subprocess

    out = subprocess.run(YESTERDAY, shell=True, capture_output=True, text=True, check=True,
                         timeout=30).stdout
    yesterday = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=1)
    assert out.strip() in {str(yesterday), str(yesterday + datetime.timedelta(days=1))}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\n", LOCAL_OUTPUTS[YESTERDAY])


@pytest.mark.parametrize("job", BATCH_JOBS)
def test_a_batch_job_is_its_built_image_for_the_day_and_waits_for_a_click(tilt, resources, job):
    name = job.replace("_", "-")
    (app,) = resources[name].objects
    (call,) = [c for c in tilt.named("k8s_resource") if c["new_name"] == name]
    assert (app["kind"], app["metadata"]["name"]) == (
        "SparkApplication", f"retail-platform-{name}-{DAY}")
    assert repository(app["spec"]["image"]) == f"retail-platform/{name}"
    assert app["spec"]["mainApplicationFile"] == f"local:///opt/retail/jobs/{job}.py"
    assert (call["trigger_mode"], call["auto_init"]) == ("manual", False)
    assert {"spark-operator", "warehouse-migrate"} <= depends_on(resources, name)
    assert ("mlflow" in depends_on(resources, name)) is (job in MODEL_JOBS)
    assert resources[name].labels == ["models" if job in MODEL_JOBS else "batch"]


@pytest.mark.parametrize("job", WAREHOUSE_JOBS)
def test_a_warehouse_job_is_its_built_image_for_the_day_and_waits_for_a_click(
        tilt, resources, job):
    name = job.replace("_", "-")
    (obj,) = resources[name].objects
    (call,) = [c for c in tilt.named("k8s_resource") if c["new_name"] == name]
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert (obj["kind"], obj["metadata"]["name"]) == ("Job", f"retail-platform-{name}-{DAY}")
    assert repository(container["image"]) == f"retail-platform/{name}"
    assert container["args"] == ["--date", DAY]
    assert (call["trigger_mode"], call["auto_init"]) == ("manual", False)
    # The warehouse's schema (its tables), not Spark or the MLflow server.
    assert "warehouse-migrate" in depends_on(resources, name)
    assert not {"spark-operator", "mlflow"} & depends_on(resources, name)
    assert resources[name].labels == ["models"]


def test_the_airflow_pods_run_the_airflow_image_it_builds(tilt, resources):
    (airflow,) = resources["airflow"].objects
    (container,) = airflow["spec"]["template"]["spec"]["containers"]
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]

    assert repository(container["image"]) == AIRFLOW
    assert airflow_values(tilt)["images"]["airflow"] == {"repository": AIRFLOW,
                                                         "tag": app_version}


def test_the_task_pods_image_is_loaded_into_kind_under_the_tag_their_template_names(
        tilt, resources):
    # The executor's pod template is a string in Airflow's ConfigMap: Tilt cannot put its
    # build there, so the same Dockerfile is built and loaded under the scenario's tag.
    image = airflow_values(tilt)["images"]["pod_template"]
    ref = f"{image['repository']}:{image['tag']}"
    cluster = yaml.safe_load((ROOT / "manifests/kind-cluster.yaml").read_text())["name"]
    (load,) = [c for c in tilt.named("local_resource") if c["name"] == "airflow-task-image"]

    assert image["repository"] == AIRFLOW
    assert load["cmd"][:2] == ["sh", "-c"]
    assert load["cmd"][2] == (f"docker build -f images/airflow/Dockerfile -t {ref} . "
                              f"&& kind load docker-image --name {cluster} {ref}")
    assert load["deps"] == ["images/airflow", "dags"]  # again after every DAG edit
    assert resources["airflow-task-image"].labels == ["airflow"]


def test_every_job_the_dags_launch_is_built_and_loaded_into_kind_on_a_click(tilt, resources):
    # the DAGs' pods and SparkApplications ask for <repository>:<appVersion>, no registry
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    contract = json.loads((ROOT / "dags/_contract.json").read_text())
    env = {e["name"]: e.get("value") for e in airflow_values(tilt)["env"]}
    assert env["AIRFLOW_VAR_RETAIL_IMAGE_REGISTRY"] == ""
    assert env["AIRFLOW_VAR_RETAIL_IMAGE_TAG"] == app_version
    (load,) = [c for c in tilt.named("local_resource") if c["name"] == "airflow-job-images"]
    steps = load["cmd"][2].split(" && ")
    refs = [f"{spec['image']}:{app_version}" for spec in contract["jobs"].values()]
    for job, spec in contract["jobs"].items():
        assert (f"docker build -f images/{job}/Dockerfile -t {spec['image']}:{app_version} ."
                in steps), job
    builds = [s.split(" -f ")[1].split()[0] for s in steps if s.startswith("docker build")]
    assert builds[:2] == ["images/base/Dockerfile", "images/stream_processor/Dockerfile"]
    cluster = yaml.safe_load((ROOT / "manifests/kind-cluster.yaml").read_text())["name"]
    assert steps[-1].startswith(f"kind load docker-image --name {cluster} ")
    assert sorted(steps[-1].split()[5:]) == sorted(refs)
    assert resources["airflow-job-images"].labels == ["airflow"]


def test_operators_are_installed_at_the_versions_chart_yaml_pins(tilt):
    pinned = {d["alias"]: d for d in yaml.safe_load((CHART / "Chart.yaml").read_text())
              ["dependencies"] if "alias" in d}
    resource_of = {"strimzi": "strimzi-operator", "sparkOperator": "spark-operator",
                   "clickhouseOperator": "clickhouse-operator", "minioOperator": "minio-operator"}
    installs = {c["name"]: c for c in tilt.named("helm_resource")}
    repos = {c["name"]: c["cmd"] for c in tilt.named("local_resource")}
    assert set(pinned) == set(resource_of) and set(installs) == set(resource_of.values())
    for alias, dep in pinned.items():
        install = installs[resource_of[alias]]
        assert f"--version={dep['version']}" in install["flags"]
        assert install["labels"] == ["operators"]
        if dep["repository"].startswith("oci://"):
            assert install["chart"] == f"{dep['repository']}/{dep['name']}"
            continue
        repo, chart = install["chart"].split("/")
        (added,) = [repos[r] for r in install["resource_deps"] if r in repos]
        assert (chart, added[3:5]) == (dep["name"], [repo, dep["repository"]])
    assert {"--set=spark.jobNamespaces={retail}", "--set=webhook.enable=true"} <= set(
        installs["spark-operator"]["flags"])
    assert "--set=watchNamespaces={retail}" in installs["strimzi-operator"]["flags"]


def test_operators_run_outside_the_namespace_that_enforces_the_restricted_profile(tilt):
    # Strimzi's and Altinity's operator pods do not meet the profile; their operands must.
    (namespace,) = yaml.safe_load_all((ROOT / "manifests/namespace.yaml").read_text())
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for install in tilt.named("helm_resource"):
        assert install["namespace"] != namespace["metadata"]["name"], install["name"]
        assert "--create-namespace" in install["flags"], install["name"]
    (strimzi,) = [c for c in tilt.named("helm_resource") if c["name"] == "strimzi-operator"]
    assert {"--set=extraEnvs[0].name=STRIMZI_POD_SECURITY_PROVIDER_CLASS",
            "--set=extraEnvs[0].value=restricted"} <= set(strimzi["flags"])


def test_no_custom_resource_is_left_to_the_uncategorized_resource(resources):
    # Tilt applies "uncategorized" before everything else: before any operator and its CRDs.
    leftover = resources["uncategorized"].objects
    assert {o["apiVersion"].split("/")[0] for o in leftover} & OPERATOR_OF_GROUP.keys() == set()
    assert {"Namespace", "ConfigMap", "Secret"} <= {o["kind"] for o in leftover}


def test_every_custom_resource_waits_for_its_operator(resources):
    for name, resource in resources.items():
        for obj in resource.objects:
            operator = OPERATOR_OF_GROUP.get(obj["apiVersion"].split("/")[0])
            assert operator is None or operator in depends_on(resources, name), obj["kind"]


def test_the_mlflow_server_waits_for_its_database_and_the_object_store(resources):
    assert [o["kind"] for o in resources["mlflow"].objects] == ["Deployment"]
    assert {"airflow-db", "minio"} <= depends_on(resources, "mlflow")
    assert "models" in resources["mlflow"].labels


def test_the_dashboards_run_the_image_it_builds_once_the_schema_is_there(resources):
    (deploy,) = resources["dashboard"].objects
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert (deploy["kind"], deploy["metadata"]["name"]) == ("Deployment",
                                                           "retail-platform-dashboard")
    assert repository(container["image"]) == DASHBOARD
    assert "warehouse-migrate" in depends_on(resources, "dashboard")
    assert resources["dashboard"].labels == ["dashboards"]


def test_the_schema_migration_runs_before_the_stream_processor_and_the_simulator(resources):
    assert [o["kind"] for o in resources["warehouse-migrate"].objects] == ["Job"]
    assert "clickhouse" in depends_on(resources, "warehouse-migrate")
    for consumer in ("stream-processor", "pos-generator"):
        assert {"warehouse-migrate", "kafka"} <= depends_on(resources, consumer), consumer


def test_it_forwards_clickhouse_the_airflow_ui_the_minio_console_the_mlflow_ui_and_dashboards(
        resources):
    forwards = {n: r.port_forwards for n, r in resources.items() if r.port_forwards}
    assert forwards == {"clickhouse": [(8123, 8123)], "airflow": [(8080, 8080)],
                        "minio": [(9090, 9090)], "mlflow": [(5000, 5000)],
                        "dashboard": [(8050, 8050)]}
    assert [o["kind"] for o in resources["clickhouse"].objects][:1] == ["ClickHouseInstallation"]
    assert [o["kind"] for o in resources["minio"].objects] == ["Tenant"]


def test_every_resource_is_labelled_for_the_ui(resources):
    assert [n for n, r in resources.items() if n != "uncategorized" and not r.labels] == []
    labels = {label for r in resources.values() for label in r.labels}
    assert {"operators", "kafka", "warehouse", "streaming", "airflow", "storage"} <= labels
    assert all(TILT_LABEL.fullmatch(label) for label in labels), labels


def test_it_only_runs_against_the_kind_cluster_of_manifests(tilt):
    cluster = yaml.safe_load((ROOT / "manifests/kind-cluster.yaml").read_text())["name"]
    assert [c["contexts"] for c in tilt.named("allow_k8s_contexts")] == [f"kind-{cluster}"]


def tree_without(tmp_path: Path, missing: str) -> Path:
    """The repository seen through symlinks, with the file ``missing`` taken out."""
    source, view = ROOT, tmp_path / "repo"
    for part in Path(missing).parts:
        view.mkdir()
        for child in source.iterdir():
            if child.name != part:
                (view / child.name).symlink_to(child)
        source, view = source / part, view / part
    return tmp_path / "repo"


@pytest.mark.parametrize("missing", ["images/pos_generator/Dockerfile", "images/base/Dockerfile",
                                     "manifests/namespace.yaml", SCENARIO])
def test_the_tiltfile_fails_when_a_path_it_names_is_missing(tmp_path, missing):
    with pytest.raises(starlark.StarlarkError, match=re.escape(missing)):
        run_tiltfile(TILTFILE.read_text(), tree_without(tmp_path, missing))


@pytest.mark.parametrize("line, error", [
    ("docker_compose('docker-compose.yml')", "`docker_compose` not found"),
    ("k8s_resource('pos-generator', port_forward=8000)", "unexpected keyword argument"),
    ("k8s_kind('SparkApplication', '{.spec.image}', '')", "positional argument"),
    ("load('ext://restart_process', 'docker_build_with_restart')", "ext://restart_process"),
])
def test_an_unknown_function_argument_or_extension_fails(line, error):
    with pytest.raises(starlark.StarlarkError, match=re.escape(error)):
        run_tiltfile(TILTFILE.read_text() + "\n" + line + "\n", ROOT)


@pytest.mark.parametrize("line, error", [
    ("k8s_resource('retail-platform-ghost', labels=['x'])", "'retail-platform-ghost'"),
    ("k8s_resource('pos-generator', resource_deps=['kafak'])", "'kafak'"),
    ("k8s_resource(new_name='topics', objects=['ghost:kafkatopic'])", "'ghost:kafkatopic'"),
])
def test_a_resource_tilt_cannot_find_is_caught(line, error):
    _, _, errors = run(TILTFILE.read_text() + "\n" + line + "\n")
    assert len(errors) == 1 and error in errors[0], errors


def test_an_image_that_nothing_deploys_is_caught():
    line = "docker_build('retail-platform/orphan', '.', dockerfile='images/base/Dockerfile')"
    tilt = run_tiltfile(TILTFILE.read_text() + "\n" + line + "\n", ROOT)
    assert undeployed_images(tilt) == ["retail-platform/orphan"]
