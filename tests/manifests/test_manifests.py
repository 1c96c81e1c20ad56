"""manifests/: every Kubernetes object validates strictly offline, the kind config uses only
kind's fields, every Spark application matches its job's image, the lock and the chart, and
the data-quality CronJob and the forecast evaluation Job are the chart's."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.charts.chart_checks import pod_spec
from tests.images.dockerfile import locked_version, parse
from tests.k8s.helm import render_chart
from tests.k8s.validate import validate_files, validate_objects

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KIND_CONFIG = MANIFESTS / "kind-cluster.yaml"
K8S_MANIFESTS = sorted(p for p in MANIFESTS.glob("*.yaml") if p != KIND_CONFIG)
APP_VERSION = yaml.safe_load((ROOT / "charts/retail-platform/Chart.yaml").read_text())["appVersion"]
SPARK_KINDS = ("SparkApplication", "ScheduledSparkApplication")
# One Spark application per job: manifests/spark-<job-name-with-dashes>.yaml, rendered by the
# chart template of the same file name.
SPARK_APPS = sorted(MANIFESTS.glob("spark-*.yaml"))
# The plain jobs (SQL on the warehouse, no Spark): manifests/<kind>-<job-name>.yaml.
PLAIN_JOBS = sorted([*MANIFESTS.glob("job-*.yaml"), *MANIFESTS.glob("cronjob-*.yaml")])
EVALUATE_FORECASTS = MANIFESTS / "job-evaluate-forecasts.yaml"
STREAM_PROCESSOR = MANIFESTS / "spark-stream-processor.yaml"
# The model jobs need the chart's MLflow server (its URL is in the env ConfigMap).
MLFLOW = {"enabled": True, "database": {"existingSecret": "retail-platform-mlflow-db"}}
# The values that render each manifest for release `retail-platform` in `retail`: the
# defaults, or for a job the default release does not run, what runs it.
RENDERED_WITH = {
    "spark-stream-processor.yaml": {},
    "spark-daily-etl.yaml": {"dailyEtl": {"enabled": True, "date": "2026-11-30"}},
    "spark-build-features.yaml": {"buildFeatures": {"enabled": True, "date": "2026-11-30"}},
    "cronjob-data-quality.yaml": {"dataQuality": {"enabled": True}},
    "job-evaluate-forecasts.yaml": {
        "evaluateForecasts": {"enabled": True, "date": "2026-11-30"}},
    "spark-train-demand-forecast.yaml": {
        "mlflow": MLFLOW, "trainDemandForecast": {"enabled": True, "asOf": "2026-11-30"}},
    "spark-predict-daily.yaml": {
        "mlflow": MLFLOW, "predictDaily": {"enabled": True, "date": "2026-11-30"}},
    "spark-optimize-stock.yaml": {
        "mlflow": MLFLOW, "optimizeStock": {"enabled": True, "date": "2026-11-30"}},
    "spark-detect-anomalies.yaml": {
        "mlflow": MLFLOW, "detectAnomalies": {"enabled": True, "date": "2026-11-30"}},
    "spark-classify-slow-movers.yaml": {
        "mlflow": MLFLOW, "classifySlowMovers": {"enabled": True, "date": "2026-11-30"}},
    "spark-train-recommendations.yaml": {
        "mlflow": MLFLOW, "trainRecommendations": {"enabled": True, "date": "2026-11-30"}},
}
RENDERED = sorted(MANIFESTS / name for name in RENDERED_WITH)
# Jobs that never finish (restart Always); every other Spark job is a batch.
STREAMS = {"stream-processor"}
# Jobs that never touch the lake: the warehouse and the MLflow server, which proxies the
# model artifacts, so no lake settings; the object store's keys only for S3A, where MLflow's
# Spark flavor has Spark's ML writer and reader put a model (MLFLOW_DFS_TMP).
WITHOUT_LAKE = {"train-demand-forecast", "predict-daily", "optimize-stock", "detect-anomalies",
                "classify-slow-movers", "train-recommendations"}
# Model jobs whose model is no Spark ML one (a scikit-learn folder in the registry): no
# MLflow Spark flavor, so no S3A and no object-store keys at all.
WITHOUT_S3A = {"detect-anomalies"}
# S3A on the MinIO Tenant of release `retail-platform` in `retail`, keys from the AWS_* variables.
S3A = {
    "spark.hadoop.fs.s3a.endpoint": "http://minio.retail.svc",
    "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
    "spark.hadoop.fs.s3a.path.style.access": "true",
    "spark.hadoop.fs.s3a.aws.credentials.provider":
        "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"}
# The documented edit that turns manifests/spark-optimize-stock.yaml into the weekly
# lead-time training (`sed -e ... -e ...` in its header).
OPTIMIZE_STOCK_TRAIN = [("stock-2026-11-30", "stock-train"),
                        ('["--date", "2026-11-30"]', '["--train"]')]

# The documented edit that turns each insight model's manifest (`--task all`) into its daily
# scoring alone (`--task score`, `sed -e ... -e ...` in its header).
INSIGHT_SCORE_EDITS = {
    "spark-detect-anomalies.yaml": ("detectAnomalies", [
        ("anomalies-2026-11-30", "anomalies-score-2026-11-30"), ('"all"', '"score"')]),
    "spark-classify-slow-movers.yaml": ("classifySlowMovers", [
        ("movers-2026-11-30", "movers-score-2026-11-30"), ('"all"', '"score"')]),
    "spark-train-recommendations.yaml": ("trainRecommendations", [
        ("recommendations-2026-11-30", "recommendations-score-2026-11-30"),
        ('"all"', '"score"')]),
}

# kind's Cluster config, v1alpha4 (sigs.k8s.io/kind pkg/apis/config/v1alpha4/types.go), with
# every object closed: kind ignores unknown fields, so a typo would silently do nothing.
_PORT_MAPPING = {"type": "object", "additionalProperties": False, "properties": {
    "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
    "hostPort": {"type": "integer", "minimum": -1, "maximum": 65535},
    "listenAddress": {"type": "string"},
    "protocol": {"enum": ["TCP", "UDP", "SCTP"]}}}
_MOUNT = {"type": "object", "additionalProperties": False, "properties": {
    "containerPath": {"type": "string"}, "hostPath": {"type": "string"},
    "readOnly": {"type": "boolean"}, "selinuxRelabel": {"type": "boolean"},
    "propagation": {"enum": ["None", "HostToContainer", "Bidirectional"]}}}
_STRINGS = {"type": "array", "items": {"type": "string"}}
KIND_SCHEMA = {"type": "object", "additionalProperties": False,
               "required": ["kind", "apiVersion"], "properties": {
    "kind": {"const": "Cluster"}, "apiVersion": {"const": "kind.x-k8s.io/v1alpha4"},
    "name": {"type": "string"},
    "nodes": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "properties": {
            "role": {"enum": ["control-plane", "worker"]}, "image": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "extraMounts": {"type": "array", "items": _MOUNT},
            "extraPortMappings": {"type": "array", "items": _PORT_MAPPING},
            "gpus": {"type": "string"}, "kubeadmConfigPatches": _STRINGS,
            "kubeadmConfigPatchesJSON6902": {"type": "array"}}}},
    "networking": {"type": "object", "additionalProperties": False, "properties": {
        "ipFamily": {"enum": ["ipv4", "ipv6", "dual"]}, "apiServerPort": {"type": "integer"},
        "apiServerAddress": {"type": "string"}, "podSubnet": {"type": "string"},
        "serviceSubnet": {"type": "string"}, "disableDefaultCNI": {"type": "boolean"},
        "kubeProxyMode": {"enum": ["iptables", "ipvs", "nftables", "none"]},
        "dnsSearch": _STRINGS}},
    "featureGates": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "runtimeConfig": {"type": "object", "additionalProperties": {"type": "string"}},
    "kubeadmConfigPatches": _STRINGS, "kubeadmConfigPatchesJSON6902": {"type": "array"},
    "containerdConfigPatches": _STRINGS, "containerdConfigPatchesJSON6902": _STRINGS}}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _plain(manifest: Path) -> dict:
    """The manifest as plain data: the YAML anchors that make driver and executor mirror
    each other become separate copies, so a test can change one block alone."""
    return json.loads(json.dumps(_load(manifest)))


def _app(doc: dict) -> dict:
    """The application spec: a ScheduledSparkApplication holds it as its template."""
    return doc["spec"]["template"] if doc["kind"] == "ScheduledSparkApplication" else doc["spec"]


def _envs(doc: dict) -> list[list[dict]]:
    """The env list of every container: a Spark application's driver and executor, a
    (Cron)Job's containers."""
    if doc["kind"] in ("CronJob", "Job"):
        return [c["env"] for c in pod_spec(doc)["containers"]]
    return [_app(doc)[role]["env"] for role in ("driver", "executor")]


def _job(manifest: Path) -> str:
    """The job's name with dashes (Kubernetes); ``.replace("-", "_")`` is its Python name."""
    return manifest.stem.split("-", 1)[1]


def _dockerfile(manifest: Path) -> Path:
    return ROOT / "images" / _job(manifest).replace("-", "_") / "Dockerfile"


def _spark_dockerfile(dockerfile: Path) -> Path:
    """The Dockerfile that puts Spark into a job's image: its own, or the one of the image
    it starts from (the daily ETL builds on the stream processor's)."""
    parsed = parse(dockerfile.read_text())
    if "SPARK_VERSION" in parsed.args:
        return dockerfile
    repository = parsed.stages[-1].image.split(":")[0].split("/")[-1]
    parent = ROOT / "images" / repository.replace("-", "_") / "Dockerfile"
    assert parent.exists(), f"{dockerfile}: no SPARK_VERSION and no images/ Dockerfile for " \
        f"{parsed.stages[-1].image}"
    return _spark_dockerfile(parent)


def _kind_errors(config: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(KIND_SCHEMA)
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(config)]


def _security_problems(role: str, block: dict, image_uid: int) -> list[str]:
    """A Spark pod block that could run as root or keep privileges, as sentences."""
    pod, ctr = block.get("podSecurityContext", {}), block.get("securityContext", {})
    problems = []
    for where, ctx in (("podSecurityContext", pod), ("securityContext", ctr)):
        if ctx.get("runAsNonRoot") is not True or ctx.get("runAsUser") != image_uid:
            problems.append(f"{role}.{where}: must set runAsNonRoot and runAsUser {image_uid}")
        if ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{role}.{where}: seccompProfile must be RuntimeDefault")
    if ctr.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{role}.securityContext: allowPrivilegeEscalation must be false")
    if ctr.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{role}.securityContext: capabilities must drop ALL")
    if ctr.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{role}.securityContext: readOnlyRootFilesystem must be true")
    return problems


def _image_uid(dockerfile: Path) -> int:
    final = parse(dockerfile.read_text()).stages[-1]
    user = [i.args.strip() for i in final.instructions if i.keyword == "USER"][-1]
    return int(user.split(":")[0])


# --- strict validation --------------------------------------------------------------------
def test_there_is_a_namespace_and_one_object_per_job_to_apply():
    kinds = {(d["kind"], d["metadata"]["name"]) for p in K8S_MANIFESTS
             for d in yaml.safe_load_all(p.read_text()) if d}

    assert kinds == {("Namespace", "retail"),
                     ("SparkApplication", "retail-platform-stream-processor"),
                     ("SparkApplication", "retail-platform-daily-etl-2026-11-30"),
                     ("SparkApplication", "retail-platform-build-features-2026-11-30"),
                     ("SparkApplication", "retail-platform-train-demand-forecast-2026-11-30"),
                     ("SparkApplication", "retail-platform-predict-daily-2026-11-30"),
                     ("SparkApplication", "retail-platform-optimize-stock-2026-11-30"),
                     ("SparkApplication", "retail-platform-detect-anomalies-2026-11-30"),
                     ("SparkApplication", "retail-platform-classify-slow-movers-2026-11-30"),
                     ("SparkApplication", "retail-platform-train-recommendations-2026-11-30"),
                     ("CronJob", "retail-platform-data-quality"),
                     ("Job", "retail-platform-evaluate-forecasts-2026-11-30")}


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
def test_each_spark_manifest_is_one_application_of_the_job_it_is_named_after(manifest):
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    job = _job(manifest)

    assert [d["kind"] in SPARK_KINDS for d in docs] == [True]
    assert docs[0]["metadata"]["labels"]["app.kubernetes.io/component"] == job
    assert (ROOT / "jobs" / f"{job.replace('-', '_')}.py").exists()
    assert manifest.name in RENDERED_WITH, "say which values render it in RENDERED_WITH"


@pytest.mark.parametrize("manifest", K8S_MANIFESTS, ids=lambda p: p.name)
def test_every_kubernetes_manifest_validates_strictly(manifest):
    assert validate_files([manifest]) == []


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
@pytest.mark.parametrize("where, typo", [
    (("driver",), "corse"), (("restartPolicy",), "onFailureRetryIntervall"),
    (("executor", "securityContext"), "runAsNonroot"), ((), "mainApplicationFle")])
def test_a_typo_in_a_copy_of_a_spark_application_fails_validation(manifest, where, typo):
    doc = _plain(manifest)
    block = _app(doc)
    for key in where:
        block = block[key]
    block[typo] = 1

    errors = validate_objects([doc])

    assert len(errors) == 1 and typo in errors[0], errors
    assert errors[0].startswith(f"{doc['kind']}/{doc['metadata']['name']}: ")


def test_the_namespace_enforces_the_restricted_pod_security_profile():
    labels = _load(MANIFESTS / "namespace.yaml")["metadata"]["labels"]

    assert {labels[f"pod-security.kubernetes.io/{mode}"] for mode in
            ("enforce", "audit", "warn")} == {"restricted"}


# --- kind ---------------------------------------------------------------------------------
def test_the_kind_config_uses_only_kind_v1alpha4_fields():
    assert _kind_errors(_load(KIND_CONFIG)) == []


def test_a_typo_in_the_kind_config_is_caught():
    config = _load(KIND_CONFIG)
    config["nodes"][0]["extraPortMapping"] = config["nodes"][0].pop("extraPortMappings")

    assert _kind_errors(config) == [
        "nodes.0: Additional properties are not allowed ('extraPortMapping' was unexpected)"]


def test_the_kind_node_publishes_clickhouse_airflow_and_minio_node_ports_on_loopback():
    nodes = _load(KIND_CONFIG)["nodes"]
    ports = nodes[0]["extraPortMappings"]

    assert [n["role"] for n in nodes] == ["control-plane"]
    assert sorted(p["containerPort"] for p in ports) == [30080, 30090, 30123]
    assert all(p["hostPort"] == p["containerPort"] and p["listenAddress"] == "127.0.0.1"
               and 30000 <= p["containerPort"] <= 32767 for p in ports)


# --- the Spark applications ---------------------------------------------------------------
@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
def test_the_image_is_the_jobs_tagged_with_the_charts_app_version(manifest):
    assert _app(_load(manifest))["image"] == \
        f"ghcr.io/retail-platform/{_job(manifest)}:{APP_VERSION}"


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
def test_the_spark_version_is_the_locked_pyspark_and_the_images_spark(manifest):
    spark_version = _app(_load(manifest))["sparkVersion"]

    assert spark_version == locked_version(ROOT, "pyspark")
    assert spark_version == \
        parse(_spark_dockerfile(_dockerfile(manifest)).read_text()).args["SPARK_VERSION"]


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
def test_the_main_application_file_is_where_the_image_puts_the_job(manifest):
    final = parse(_dockerfile(manifest).read_text()).stages[-1]
    copies = dict(tuple(i.flags_and_words()[1]) for i in final.instructions
                  if i.keyword == "COPY" and not i.flags_and_words()[0])
    job_file = f"jobs/{_job(manifest).replace('-', '_')}.py"

    assert _app(_load(manifest))["mainApplicationFile"] == f"local://{copies[job_file]}"


def test_the_stream_restarts_always_and_checkpoints_on_the_lake():
    spec = _load(STREAM_PROCESSOR)["spec"]
    env = {e["name"]: e.get("value") for e in spec["driver"]["env"]}

    assert spec["restartPolicy"]["type"] == "Always"
    assert spec["restartPolicy"]["onFailureRetryInterval"] >= 1
    assert env["RETAIL_STREAM__CHECKPOINT_DIR"].startswith("s3a://retail-processed-data/")


@pytest.mark.parametrize("manifest", [m for m in SPARK_APPS
                                      if _job(m) in WITHOUT_LAKE - WITHOUT_S3A],
                         ids=lambda p: p.name)
def test_a_model_job_puts_mlflows_spark_model_copies_on_the_object_store_through_s3a(manifest):
    """MLflow's Spark flavor has Spark's ML writer and reader (on the executors) save and load
    the model at MLFLOW_DFS_TMP, and copies it to and from the driver's disk with Hadoop's
    default filesystem: both must be a filesystem driver and executors share, not /tmp."""
    spec = _app(_load(manifest))
    for role in ("driver", "executor"):
        env = {e["name"]: e.get("value") for e in spec[role]["env"]}
        assert env["MLFLOW_DFS_TMP"] == "s3a://retail-processed-data/tmp/mlflow"
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
        assert not any(name.startswith("RETAIL_LAKE__") for name in env)

    assert spec["sparkConf"] == {"spark.hadoop.fs.defaultFS": "s3a://retail-processed-data",
                                 **S3A}


def test_the_stream_processor_and_the_model_jobs_reach_the_store_through_the_same_s3a():
    stream = _load(STREAM_PROCESSOR)["spec"]["sparkConf"]
    assert {k: v for k, v in stream.items() if k.startswith("spark.hadoop.")} == S3A


@pytest.mark.parametrize("manifest", [m for m in SPARK_APPS if _job(m) not in STREAMS],
                         ids=lambda p: p.name)
def test_a_batch_runs_again_after_a_failure_a_bounded_number_of_times(manifest):
    policy = _app(_load(manifest))["restartPolicy"]

    assert policy["type"] == "OnFailure"
    # The operator needs both counts for OnFailure (its CRD says so; nothing enforces it).
    assert 1 <= policy["onFailureRetries"] <= 5 and policy["onFailureRetryInterval"] >= 60
    assert policy["onSubmissionFailureRetries"] >= 1


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
@pytest.mark.parametrize("role", ["driver", "executor"])
def test_driver_and_executor_run_as_the_images_non_root_user_without_privileges(manifest, role):
    block = _app(_load(manifest))[role]

    assert _security_problems(role, block, _image_uid(_dockerfile(manifest))) == []


@pytest.mark.parametrize("change", [
    {"runAsUser": 0}, {"runAsNonRoot": False}, {"allowPrivilegeEscalation": True},
    {"capabilities": {"drop": []}}, {"readOnlyRootFilesystem": False}])
def test_a_root_or_privileged_container_is_reported(change):
    executor = _plain(STREAM_PROCESSOR)["spec"]["executor"]
    executor["securityContext"].update(change)

    assert len(_security_problems("executor", executor,
                                  _image_uid(_dockerfile(STREAM_PROCESSOR)))) == 1


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
def test_driver_and_executor_mirror_each_other(manifest):
    spec = _app(_load(manifest))
    executor = {k: v for k, v in spec["executor"].items() if k != "instances"}

    assert spec["driver"] == executor


@pytest.mark.parametrize("manifest", SPARK_APPS, ids=lambda p: p.name)
def test_pods_read_the_env_contract_as_the_spark_account_with_tmp_as_their_only_writable_dir(
        manifest):
    spec = _app(_load(manifest))
    driver = spec["driver"]
    secrets = {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"],
                           e["valueFrom"]["secretKeyRef"]["key"])
               for e in driver["env"] if "valueFrom" in e}

    warehouse = {
        "RETAIL_WAREHOUSE__PASSWORD": ("retail-platform-clickhouse", "etl-writer-password")}
    lake = {"RETAIL_LAKE__S3_ACCESS_KEY": ("retail-platform-object-store", "access-key"),
            "RETAIL_LAKE__S3_SECRET_KEY": ("retail-platform-object-store", "secret-key")}
    s3a = {"AWS_ACCESS_KEY_ID": ("retail-platform-object-store", "access-key"),
           "AWS_SECRET_ACCESS_KEY": ("retail-platform-object-store", "secret-key")}

    assert driver["serviceAccount"] == "retail-platform-spark"
    assert driver["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
    if _job(manifest) in WITHOUT_S3A:
        assert secrets == warehouse  # no Spark flavor: neither lake settings nor S3A keys
        assert "sparkConf" not in spec
    elif _job(manifest) in WITHOUT_LAKE:
        assert secrets == warehouse | s3a  # no lake settings: the keys serve S3A alone
    else:
        assert secrets.items() >= (warehouse | lake).items()
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert driver["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


@pytest.mark.parametrize("manifest", RENDERED, ids=lambda p: p.name)
def test_the_manifest_is_what_the_chart_renders_for_the_default_release(manifest):
    """Same object as `helm template retail-platform -n retail` renders with RENDERED_WITH
    (same env contract, Secrets, security, schedule and Spark settings); a manifest may only
    spell out settings the chart passes through its ConfigMap (the stream's checkpoint, the
    checks' log format)."""
    chart = render_chart(RENDERED_WITH[manifest.name], show_only=[
        f"templates/{manifest.name}", "templates/configmap-env.yaml"])
    config = next(o for o in chart if o["kind"] == "ConfigMap")["data"]
    rendered = next(o for o in chart if o["kind"] != "ConfigMap")
    doc = _plain(manifest)
    for env, chart_env in zip(_envs(doc), _envs(rendered), strict=True):
        spelled_out = [e for e in env if e not in chart_env]
        assert spelled_out == [{"name": e["name"], "value": config.get(e["name"])}
                               for e in spelled_out]
        env[:] = [e for e in env if e not in spelled_out]
    if doc["kind"] in ("CronJob", "Job"):
        # The chart's pods run as its job account; the manifest's as the namespace's default
        # one. Neither mounts a token, so neither can use the API.
        assert pod_spec(doc)["automountServiceAccountToken"] is False
        pod_spec(rendered).pop("serviceAccountName")

    assert (doc["kind"], doc["metadata"]["name"]) == (
        rendered["kind"], rendered["metadata"]["name"])
    assert doc["spec"] == rendered["spec"]


def test_the_documented_edit_of_the_optimize_stock_manifest_is_the_charts_weekly_training():
    text = (MANIFESTS / "spark-optimize-stock.yaml").read_text()
    for old, new in OPTIMIZE_STOCK_TRAIN:
        pattern = old.replace("[", "\\[").replace("]", "\\]")  # sed's regex
        assert f"s/{pattern}/{new}/" in text, "the header documents this edit"
        text = text.replace(old, new)
    doc = json.loads(json.dumps(yaml.safe_load(text)))
    rendered = render_chart({"mlflow": MLFLOW, "optimizeStock": {"enabled": True, "train": True}},
                            show_only=["templates/spark-optimize-stock.yaml"])

    assert validate_objects([doc]) == []
    assert doc["metadata"]["name"] == "retail-platform-optimize-stock-train"
    assert [(o["kind"], o["metadata"]["name"]) for o in rendered] == [
        ("SparkApplication", doc["metadata"]["name"])]
    assert doc["spec"] == rendered[0]["spec"]


@pytest.mark.parametrize("manifest", sorted(INSIGHT_SCORE_EDITS))
def test_the_documented_edit_of_an_insight_manifest_is_the_charts_daily_scoring(manifest):
    key, edits = INSIGHT_SCORE_EDITS[manifest]
    text = (MANIFESTS / manifest).read_text()
    for old, new in edits:
        assert f"s/{old}/{new}/" in text, "the header documents this edit"
        text = text.replace(old, new)
    doc = json.loads(json.dumps(yaml.safe_load(text)))
    rendered = render_chart({"mlflow": MLFLOW, key: {
        "enabled": True, "date": "2026-11-30", "task": "score"}},
        show_only=[f"templates/{manifest}"])

    assert validate_objects([doc]) == []
    assert doc["metadata"]["name"] == f"retail-platform-{_job(Path(manifest))}-score-2026-11-30"
    assert [(o["kind"], o["metadata"]["name"]) for o in rendered] == [
        ("SparkApplication", doc["metadata"]["name"])]
    assert doc["spec"] == rendered[0]["spec"]


# --- the plain jobs -----------------------------------------------------------------------
@pytest.mark.parametrize("manifest", PLAIN_JOBS, ids=lambda p: p.name)
def test_a_plain_job_runs_its_jobs_image_non_root_with_the_warehouse_password_only(manifest):
    (doc,) = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    job = _job(manifest)
    pod = pod_spec(doc)
    (container,) = pod["containers"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
               if "valueFrom" in e}
    uid = _image_uid(_dockerfile(manifest))

    assert doc["kind"] == ("CronJob" if manifest.name.startswith("cronjob-") else "Job")
    assert doc["metadata"]["labels"]["app.kubernetes.io/component"] == job
    assert container["image"] == f"ghcr.io/retail-platform/{job}:{APP_VERSION}"
    assert "SPARK_VERSION" not in parse(_dockerfile(manifest).read_text()).args
    assert manifest.name in RENDERED_WITH, "say which values render it in RENDERED_WITH"
    assert secrets == {"RETAIL_WAREHOUSE__PASSWORD": {
        "name": "retail-platform-clickhouse", "key": "etl-writer-password"}}
    assert container["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert _security_problems(
        "pod", {"podSecurityContext": pod["securityContext"],
                "securityContext": container["securityContext"]}, uid) == []


def test_the_evaluation_runs_its_day_once_a_bounded_number_of_times():
    spec = _load(EVALUATE_FORECASTS)["spec"]
    (container,) = pod_spec(_load(EVALUATE_FORECASTS))["containers"]

    assert container["args"] == ["--date", "2026-11-30"]
    assert 1 <= spec["backoffLimit"] <= 5 and 0 < spec["activeDeadlineSeconds"] <= 3600
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]


def test_the_documented_edit_of_the_evaluation_manifest_is_the_charts_job_of_that_day():
    text = EVALUATE_FORECASTS.read_text()
    assert "sed 's/2026-11-30/2026-12-04/g' manifests/job-evaluate-forecasts.yaml" in text
    doc = json.loads(json.dumps(yaml.safe_load(text.replace("2026-11-30", "2026-12-04"))))
    (rendered,) = render_chart(
        {"evaluateForecasts": {"enabled": True, "date": "2026-12-04"}},
        show_only=["templates/job-evaluate-forecasts.yaml"])
    pod_spec(rendered).pop("serviceAccountName")

    assert doc["metadata"]["name"] == rendered["metadata"]["name"] == (
        "retail-platform-evaluate-forecasts-2026-12-04")
    assert doc["spec"] == rendered["spec"]


@pytest.mark.parametrize("where, typo", [
    ((), "backofLimit"), (("template", "spec"), "restartPolicyy"),
    (("template", "spec", "containers", 0, "securityContext"), "runAsNonroot")])
def test_a_typo_in_a_copy_of_the_evaluation_job_fails_validation(where, typo):
    doc = _plain(EVALUATE_FORECASTS)
    block = doc["spec"]
    for key in where:
        block = block[key]
    block[typo] = 1

    errors = validate_objects([doc])

    assert len(errors) == 1 and typo in errors[0], errors
