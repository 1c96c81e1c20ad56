"""manifests/: every Kubernetes object validates strictly offline, the kind config uses only
kind's fields, and the SparkApplication matches its image, the lock and the chart."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.images.dockerfile import locked_version, parse
from tests.k8s.helm import render_chart
from tests.k8s.validate import validate_files, validate_objects

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KIND_CONFIG = MANIFESTS / "kind-cluster.yaml"
K8S_MANIFESTS = sorted(p for p in MANIFESTS.glob("*.yaml") if p != KIND_CONFIG)
SPARK_APP = MANIFESTS / "spark-stream-processor.yaml"
SPARK_DOCKERFILE = ROOT / "images" / "stream_processor" / "Dockerfile"

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


def _spark_app() -> dict:
    """The SparkApplication as plain data: the YAML anchors that make driver and executor
    mirror each other become separate copies, so a test can change one block alone."""
    return json.loads(json.dumps(_load(SPARK_APP)))


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


def _image_uid() -> int:
    final = parse(SPARK_DOCKERFILE.read_text()).stages[-1]
    user = [i.args.strip() for i in final.instructions if i.keyword == "USER"][-1]
    return int(user.split(":")[0])


# --- strict validation --------------------------------------------------------------------
def test_there_is_a_namespace_and_a_spark_application_to_apply():
    kinds = {(d["kind"], d["metadata"]["name"]) for p in K8S_MANIFESTS
             for d in yaml.safe_load_all(p.read_text()) if d}

    assert kinds == {("Namespace", "retail"),
                     ("SparkApplication", "retail-platform-stream-processor")}


@pytest.mark.parametrize("manifest", K8S_MANIFESTS, ids=lambda p: p.name)
def test_every_kubernetes_manifest_validates_strictly(manifest):
    assert validate_files([manifest]) == []


@pytest.mark.parametrize("where, typo", [
    (("spec", "driver"), "corse"), (("spec", "restartPolicy"), "onFailureRetryIntervall"),
    (("spec", "executor", "securityContext"), "runAsNonroot"), (("spec",), "mainApplicationFle")])
def test_a_typo_in_a_copy_of_the_spark_application_fails_validation(where, typo):
    app = _spark_app()
    block = app
    for key in where:
        block = block[key]
    block[typo] = 1

    errors = validate_objects([app])

    assert len(errors) == 1 and typo in errors[0], errors
    assert errors[0].startswith("SparkApplication/retail-platform-stream-processor: ")


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


# --- the SparkApplication -----------------------------------------------------------------
def test_the_spark_image_is_the_stream_processor_tagged_with_the_charts_app_version():
    app_version = _load(ROOT / "charts/retail-platform/Chart.yaml")["appVersion"]

    assert _load(SPARK_APP)["spec"]["image"] == \
        f"ghcr.io/retail-platform/stream-processor:{app_version}"


def test_the_spark_version_is_the_locked_pyspark_and_the_images_spark():
    spark_version = _load(SPARK_APP)["spec"]["sparkVersion"]

    assert spark_version == locked_version(ROOT, "pyspark")
    assert spark_version == parse(SPARK_DOCKERFILE.read_text()).args["SPARK_VERSION"]


def test_the_main_application_file_is_where_the_image_puts_the_job():
    final = parse(SPARK_DOCKERFILE.read_text()).stages[-1]
    copies = dict(tuple(i.flags_and_words()[1]) for i in final.instructions
                  if i.keyword == "COPY" and not i.flags_and_words()[0])

    assert _load(SPARK_APP)["spec"]["mainApplicationFile"] == \
        f"local://{copies['jobs/stream_processor.py']}"


def test_the_stream_restarts_always_and_checkpoints_on_the_lake():
    spec = _load(SPARK_APP)["spec"]
    env = {e["name"]: e.get("value") for e in spec["driver"]["env"]}

    assert spec["restartPolicy"]["type"] == "Always"
    assert spec["restartPolicy"]["onFailureRetryInterval"] >= 1
    assert env["RETAIL_STREAM__CHECKPOINT_DIR"].startswith("s3a://retail-processed-data/")


@pytest.mark.parametrize("role", ["driver", "executor"])
def test_driver_and_executor_run_as_the_images_non_root_user_without_privileges(role):
    assert _security_problems(role, _load(SPARK_APP)["spec"][role], _image_uid()) == []


@pytest.mark.parametrize("change", [
    {"runAsUser": 0}, {"runAsNonRoot": False}, {"allowPrivilegeEscalation": True},
    {"capabilities": {"drop": []}}, {"readOnlyRootFilesystem": False}])
def test_a_root_or_privileged_container_is_reported(change):
    executor = _spark_app()["spec"]["executor"]
    executor["securityContext"].update(change)

    assert len(_security_problems("executor", executor, _image_uid())) == 1


def test_driver_and_executor_mirror_each_other():
    spec = _load(SPARK_APP)["spec"]
    executor = {k: v for k, v in spec["executor"].items() if k != "instances"}

    assert spec["driver"] == executor


def test_the_manifest_is_the_charts_spark_application_for_the_default_release():
    """Same spec as `helm template retail-platform -n retail` renders (same env contract,
    Secrets, security and Spark settings); the manifest only spells out the checkpoint,
    which the chart passes through its ConfigMap."""
    chart = render_chart({}, show_only=["templates/spark-stream-processor.yaml",
                                        "templates/configmap-env.yaml"])
    by_kind = {o["kind"]: o for o in chart}
    spec = _spark_app()["spec"]
    for role in ("driver", "executor"):
        checkpoint = spec[role]["env"].pop(0)
        assert checkpoint == {"name": "RETAIL_STREAM__CHECKPOINT_DIR",
                              "value": by_kind["ConfigMap"]["data"][checkpoint["name"]]}

    assert spec == by_kind["SparkApplication"]["spec"]
