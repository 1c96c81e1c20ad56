"""Airflow in the umbrella chart: every Airflow pod runs our image with the DAGs baked in, the
DAGs' Variables agree with the release they run in, the warehouse password comes from a
Secret, the pod launcher may run SparkApplications and nothing more, and the `orchestrator`
ClickHouse user exists with its role's two grants.

``helm template`` cannot render the Airflow chart itself offline (its tarball cannot be
fetched; tests/k8s/helm.py stubs it), so a stand-in subchart renders what these tests read of
it, the way chart 1.21.0 does (its ``_helpers.yaml`` and pod template file): the scheduler,
API server and DAG processor Deployments, the triggerer StatefulSet and the task pods' pod
template, each with image ``images.airflow`` (``images.pod_template`` for the task pods), else
``defaultAirflowRepository:defaultAirflowTag``, and env ``env`` as values and ``secret`` as
``secretKeyRef`` (key ``value`` when none is given). Recheck it when the chart's pin moves.
"""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.k8s.helm import CHART, ROOT, render_chart, stubbed_chart

CI = CHART / "ci"
KIND = CI / "01-kind-dev-values.yaml"
SCENARIOS = {"defaults": None, "01-kind-dev": KIND, "02-production-ha": CI /
             "02-production-ha-values.yaml"}
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
MIGRATION = ROOT / "pkg/retail/warehouse/migrations/0019_orchestrator.sql"
VARIABLES = {"AIRFLOW_VAR_RETAIL_EXECUTION", "AIRFLOW_VAR_RETAIL_NAMESPACE",
             "AIRFLOW_VAR_RETAIL_RELEASE", "AIRFLOW_VAR_RETAIL_IMAGE_REGISTRY",
             "AIRFLOW_VAR_RETAIL_IMAGE_TAG", "AIRFLOW_VAR_RETAIL_ENV_CONFIGMAP",
             "AIRFLOW_VAR_RETAIL_WAREHOUSE_URL", "AIRFLOW_VAR_RETAIL_WAREHOUSE_DATABASE",
             "AIRFLOW_VAR_RETAIL_WAREHOUSE_USER"}
PASSWORD = "AIRFLOW_VAR_RETAIL_WAREHOUSE_PASSWORD"
# The Airflow chart 1.21.0's own defaults of what the stand-in reads (its values.yaml).
AIRFLOW_DEFAULTS = {"defaultAirflowRepository": "apache/airflow", "defaultAirflowTag": "3.2.0",
                    "images": {"airflow": {"repository": None, "tag": None},
                               "pod_template": {"repository": None, "tag": None}},
                    "env": [], "secret": []}
STAND_IN = """\
{{- define "standin.image" -}}
{{- $image := index .root.Values.images .key -}}
{{- printf "%s:%s" (default .root.Values.defaultAirflowRepository $image.repository) (default .root.Values.defaultAirflowTag $image.tag) -}}
{{- end -}}
{{- define "standin.container" -}}
- name: {{ .name }}
  image: {{ include "standin.image" (dict "root" .root "key" .key) }}
  env:
  {{- range .root.Values.env }}
    - name: {{ .name }}
      value: {{ .value | quote }}
  {{- end }}
  {{- range .root.Values.secret }}
    - name: {{ .envName }}
      valueFrom:
        secretKeyRef:
          name: {{ .secretName }}
          key: {{ default "value" .secretKey }}
  {{- end }}
{{- end -}}
{{- range $component, $kind := dict "scheduler" "Deployment" "api-server" "Deployment" "dag-processor" "Deployment" "triggerer" "StatefulSet" }}
---
apiVersion: apps/v1
kind: {{ $kind }}
metadata:
  name: {{ $.Release.Name }}-{{ $component }}
spec:
  template:
    spec:
      containers:
        {{- include "standin.container" (dict "root" $ "name" $component "key" "airflow") | nindent 8 }}
{{- end }}
---
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-pod-template
spec:
  containers:
    {{- include "standin.container" (dict "root" $ "name" "base" "key" "pod_template") | nindent 4 }}
"""
WORKLOADS = {("Deployment", "retail-platform-scheduler"),
             ("Deployment", "retail-platform-api-server"),
             ("Deployment", "retail-platform-dag-processor"),
             ("StatefulSet", "retail-platform-triggerer"),
             ("Pod", "retail-platform-pod-template")}


@cache
def _airflow_chart() -> Path:
    """The stubbed chart whose Airflow stub renders the stand-in above."""
    copy = stubbed_chart().parent / "with-airflow" / CHART.name
    shutil.copytree(stubbed_chart(), copy)
    stub = copy / "charts" / "airflow"
    (stub / "values.yaml").write_text(yaml.safe_dump(AIRFLOW_DEFAULTS))
    (stub / "templates").mkdir()
    (stub / "templates" / "standin.yaml").write_text(STAND_IN)
    return copy


@cache
def _render(scenario: str) -> tuple[dict, ...]:
    path = SCENARIOS[scenario]
    return tuple(render_chart(values_files=(path,) if path else (), chart=_airflow_chart()))


def airflow_containers(objs) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]):
            (o["spec"] if o["kind"] == "Pod" else o["spec"]["template"]["spec"])["containers"][0]
            for o in objs if (o["kind"], o["metadata"]["name"]) in WORKLOADS}


def scenario_values(scenario: str) -> dict:
    """The chart's values with the scenario's on top (Helm merges maps, replaces lists)."""
    def merge(base, over):
        for key, value in over.items():
            base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) and \
                isinstance(base.get(key), dict) else value
        return base
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    path = SCENARIOS[scenario]
    return merge(values, yaml.safe_load(path.read_text())) if path else values


class TestAirflowImage:
    def test_the_kind_scenario_runs_every_airflow_pod_on_the_image_tilt_builds(self):
        containers = airflow_containers(_render("01-kind-dev"))

        assert set(containers) == WORKLOADS
        assert {c["image"] for c in containers.values()} == {
            f"retail-platform/airflow:{APP_VERSION}"}

    def test_by_default_every_airflow_pod_runs_the_registrys_image_at_the_app_version(self):
        containers = airflow_containers(_render("defaults"))
        registry = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["registry"]

        assert set(containers) == WORKLOADS
        assert {c["image"] for c in containers.values()} == {
            f"{registry}/retail-platform/airflow:{APP_VERSION}"}

    def test_without_our_values_the_stand_in_falls_back_to_the_official_image(self):
        # The stand-in is not trivially true: drop our images and the chart's default shows.
        objs = render_chart({"airflow": {"images": {"airflow": {"repository": None, "tag": None},
                                                    "pod_template": {"repository": None,
                                                                     "tag": None}}}},
                            chart=_airflow_chart())

        assert {c["image"] for c in airflow_containers(objs).values()} == {
            "apache/airflow:3.2.0"}

    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    def test_the_dags_are_baked_in_never_synced_or_mounted(self, scenario):
        dags = scenario_values(scenario)["airflow"]["dags"]

        assert dags["gitSync"]["enabled"] is False
        assert dags["persistence"]["enabled"] is False

    def test_airflow_off_renders_no_airflow_pod(self):
        assert airflow_containers(render_chart({"airflow": {"enabled": False}},
                                               chart=_airflow_chart())) == {}


class TestAirflowVariables:
    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    def test_every_airflow_pod_gets_the_dags_variables_and_the_password_from_a_secret(
            self, scenario):
        for where, container in airflow_containers(_render(scenario)).items():
            env = {e["name"]: e for e in container["env"]}
            assert VARIABLES | {PASSWORD} <= env.keys(), where
            assert "value" not in env[PASSWORD], where  # never a literal
            assert env[PASSWORD]["valueFrom"]["secretKeyRef"]["key"] == \
                "orchestrator-password", where

    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    def test_the_variables_agree_with_the_release_they_run_in(self, scenario):
        # Helm does not template subchart values: they are written out per scenario, and
        # this compares them with what the chart renders for the same scenario.
        objs = _render(scenario)
        values = scenario_values(scenario)
        (settings,) = [o for o in objs if o["kind"] == "ConfigMap"
                       and o["metadata"]["name"] == "retail-platform-env"]
        (chi,) = [o for o in objs if o["kind"] == "ClickHouseInstallation"]
        secret = chi["spec"]["configuration"]["users"]["etl_writer/k8s_secret_password"]
        container = airflow_containers(objs)[("Deployment", "retail-platform-scheduler")]
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

        assert {name: env[name] for name in VARIABLES} == {
            "AIRFLOW_VAR_RETAIL_EXECUTION": "kubernetes",
            "AIRFLOW_VAR_RETAIL_NAMESPACE": "retail",
            "AIRFLOW_VAR_RETAIL_RELEASE": "retail-platform",
            "AIRFLOW_VAR_RETAIL_IMAGE_REGISTRY": values["image"]["registry"],
            "AIRFLOW_VAR_RETAIL_IMAGE_TAG": values["image"]["tag"] or APP_VERSION,
            "AIRFLOW_VAR_RETAIL_ENV_CONFIGMAP": settings["metadata"]["name"],
            "AIRFLOW_VAR_RETAIL_WAREHOUSE_URL": settings["data"]["RETAIL_WAREHOUSE__URL"],
            "AIRFLOW_VAR_RETAIL_WAREHOUSE_DATABASE":
                settings["data"]["RETAIL_WAREHOUSE__DATABASE"],
            "AIRFLOW_VAR_RETAIL_WAREHOUSE_USER": "orchestrator"}
        # The ClickHouse Secret the installation reads its users' passwords from.
        assert env[PASSWORD]["secretKeyRef"] == {"name": secret.split("/")[0],
                                                 "key": "orchestrator-password"}

    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    def test_the_images_tag_is_the_job_images_tag(self, scenario):
        values = scenario_values(scenario)
        images = values["airflow"]["images"]
        registry = values["image"]["registry"]
        repository = f"{registry}/retail-platform/airflow" if registry else \
            "retail-platform/airflow"

        for key in ("airflow", "pod_template"):
            assert images[key] == {"repository": repository,
                                   "tag": values["image"]["tag"] or APP_VERSION}, key


class TestPodLauncherRole:
    def role(self, values: dict | None = None) -> dict:
        (role,) = [o for o in render_chart(values, ["templates/rbac.yaml"])
                   if o["kind"] == "Role"
                   and o["metadata"]["name"] == "retail-platform-airflow-pod-launcher"]
        return role

    def test_it_may_run_spark_applications_and_follow_their_status_and_nothing_more(self):
        rules = [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]))
                 for r in self.role()["rules"]]

        assert rules == [
            (("",), ("pods",), ("create", "get", "list", "watch", "delete", "patch")),
            (("",), ("pods/log",), ("get", "list")),
            (("",), ("events",), ("list",)),
            (("sparkoperator.k8s.io",), ("sparkapplications",),
             ("create", "get", "list", "watch", "delete", "patch")),
            (("sparkoperator.k8s.io",), ("sparkapplications/status",), ("get",)),
        ]

    def test_it_is_bound_to_the_task_pods_account_only(self):
        (binding,) = [o for o in render_chart(None, ["templates/rbac.yaml"])
                      if o["kind"] == "RoleBinding"
                      and o["metadata"]["name"] == "retail-platform-airflow-pod-launcher"]

        assert binding["subjects"] == [{"kind": "ServiceAccount",
                                        "name": "retail-platform-airflow-worker",
                                        "namespace": "retail"}]


class TestOrchestratorUser:
    def users(self, values: dict | None = None) -> dict:
        (chi,) = [o for o in render_chart(values, ["templates/clickhouse.yaml"])
                  if o["kind"] == "ClickHouseInstallation"]
        return chi["spec"]["configuration"]["users"]

    def test_it_logs_in_like_etl_writer_with_its_own_password_and_role(self):
        users = self.users()

        assert users["orchestrator/k8s_secret_password"] == \
            "retail-platform-clickhouse/orchestrator-password"
        assert users["orchestrator/networks/ip"] == users["etl_writer/networks/ip"]
        assert users["orchestrator/profile"] == users["etl_writer/profile"]
        assert users["orchestrator/grants/query"] == ["GRANT orchestrator"]
        assert "orchestrator/access_management" not in users

    def test_its_password_is_generated_never_a_default(self):
        (secret,) = [o for o in render_chart(None, ["templates/secrets.yaml"])
                     if o["metadata"]["name"] == "retail-platform-clickhouse"]
        (again,) = [o for o in render_chart(None, ["templates/secrets.yaml"])
                    if o["metadata"]["name"] == "retail-platform-clickhouse"]

        assert secret["data"]["orchestrator-password"]
        assert secret["data"]["orchestrator-password"] != again["data"]["orchestrator-password"]

    def test_its_password_comes_from_your_secret_when_you_bring_one(self):
        users = self.users({"clickhouse": {"auth": {"existingSecret": "mine"}}})

        assert users["orchestrator/k8s_secret_password"] == "mine/orchestrator-password"
        assert [o for o in render_chart({"clickhouse": {"auth": {"existingSecret": "mine"}}},
                                        ["templates/secrets.yaml"])
                if o["metadata"]["name"] in ("mine", "retail-platform-clickhouse")] == []

    def test_its_role_reads_job_runs_and_appends_to_stream_alerts_only(self):
        sql = re.sub(r"--[^\n]*", "", MIGRATION.read_text())
        statements = {" ".join(s.split()) for s in sql.split(";") if s.strip()}

        assert statements == {"CREATE ROLE IF NOT EXISTS orchestrator",
                              "GRANT SELECT ON job_runs TO orchestrator",
                              "GRANT INSERT ON stream_alerts TO orchestrator"}
