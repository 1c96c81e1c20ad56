"""Security by default: no default passwords, non-root containers, read-only BI users,
least-privilege RBAC."""

from __future__ import annotations

import base64
import copy
import re

import yaml

from tests.charts.chart_checks import POD_TEMPLATE_KINDS, pod_spec, security_problems
from tests.k8s.helm import CHART, render_chart

ALL_ON = {"simulator": {"enabled": True}, "clickhouse": {"replicas": 2},
          "kafka": {"tls": {"enabled": True}, "auth": {"enabled": True}},
          "dailyEtl": {"enabled": True, "date": "2026-11-30"},
          "buildFeatures": {"enabled": True, "date": "2026-11-30"},
          "trainDemandForecast": {"enabled": True},
          "predictDaily": {"enabled": True, "date": "2026-11-30"},
          "optimizeStock": {"enabled": True, "date": "2026-11-30"},
          "detectAnomalies": {"enabled": True, "date": "2026-11-30"},
          "classifySlowMovers": {"enabled": True, "date": "2026-11-30"},
          "trainRecommendations": {"enabled": True, "date": "2026-11-30"},
          "dataQuality": {"enabled": True},
          "evaluateForecasts": {"enabled": True, "date": "2026-11-30"},
          "airflowDatabase": {"inCluster": True},
          "mlflow": {"enabled": True, "database": {"inCluster": True}}}


def secrets(objs: list[dict]) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: {k: base64.b64decode(v).decode()
                                    for k, v in o.get("data", {}).items()}
            for o in objs if o["kind"] == "Secret"}


def test_no_secret_carries_a_default_password():
    first, second = secrets(render_chart()), secrets(render_chart())
    assert first, "the defaults generate credentials"
    for name, data in first.items():
        for key, value in data.items():
            # A generated value differs on every render (lookup keeps it on upgrades).
            assert value != second[name][key], f"{name}/{key} is the same on every install"
            assert len(re.sub(r"\s", "", value)) >= 20, f"{name}/{key} is short"


def test_the_mlflow_database_password_is_generated_and_never_inline():
    objs = render_chart(ALL_ON)
    first, second = secrets(objs), secrets(render_chart(ALL_ON))
    mine = first["retail-platform-mlflow-db"]
    assert mine["password"] != second["retail-platform-mlflow-db"]["password"]
    assert len(mine["password"]) == 32
    assert mine["connection"] == (f"postgresql://mlflow:{mine['password']}@"
                                  "retail-platform-airflow-db.retail.svc:5432/mlflow")
    deploy = next(o for o in objs if o["kind"] == "Deployment"
                  and o["metadata"]["name"] == "retail-platform-mlflow")
    text = yaml.safe_dump(deploy)
    assert mine["password"] not in text and "postgresql://" not in text
    for container in pod_spec(deploy)["initContainers"] + pod_spec(deploy)["containers"]:
        inline = {e["name"] for e in container["env"] if "value" in e}
        assert not {n for n in inline if re.search(r"PASSWORD|SECRET|KEY_ID|URI", n)}, inline


def test_values_yaml_holds_no_credential():
    keys = []

    def walk(node, path=""):
        for key, value in node.items():
            keys.append(f"{path}{key}".lower())
            if isinstance(value, dict):
                walk(value, f"{path}{key}.")
    walk(yaml.safe_load((CHART / "values.yaml").read_text()))
    # Names of Secrets are fine (…SecretName, existingSecret); values that are credentials not.
    holding = [k for k in keys if re.search(r"password|secretkey|accesskey|token", k)
               and not k.endswith(("secretname", "existingsecret"))]
    assert keys and holding == []


def test_every_container_is_non_root_without_privilege_escalation_and_has_resources():
    assert security_problems(render_chart(ALL_ON)) == []


def test_a_root_or_unbounded_container_is_caught():
    objs = render_chart({"simulator": {"enabled": True}})
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    bad = copy.deepcopy(deploy)
    container = bad["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"].update(runAsUser=0, runAsNonRoot=False)
    del container["resources"]
    problems = security_problems([bad])
    assert any("may run as root" in p for p in problems)
    assert any("no resource requests" in p for p in problems)


def test_a_root_spark_executor_is_caught_in_a_scheduled_application_too():
    app = next(o for o in render_chart(ALL_ON, show_only=["templates/spark-daily-etl.yaml"]))
    app["spec"]["executor"]["securityContext"]["runAsUser"] = 0
    scheduled = {"kind": "ScheduledSparkApplication", "metadata": app["metadata"],
                 "spec": {"schedule": "30 2 * * *", "template": app["spec"]}}
    for obj in (app, scheduled):
        assert security_problems([obj]) == [
            f"{obj['kind']}/retail-platform-daily-etl-2026-11-30/executor: may run as root "
            "(runAsNonRoot/runAsUser)"]


def test_every_clickhouse_user_has_a_secret_password_and_explicit_networks():
    chi = next(o for o in render_chart() if o["kind"] == "ClickHouseInstallation")
    users = chi["spec"]["configuration"]["users"]
    names = {key.split("/")[0] for key in users}
    assert names == {"admin", "etl_writer", "bi_reader", "orchestrator"}
    for user in names:
        # Without networks/ip the operator pins users to its pods' host_regexp.
        assert users[f"{user}/networks/ip"], user
        assert users[f"{user}/k8s_secret_password"].startswith("retail-platform-clickhouse/")
        assert f"{user}/password" not in users


def test_the_bi_user_is_read_only():
    chi = next(o for o in render_chart() if o["kind"] == "ClickHouseInstallation")
    conf = chi["spec"]["configuration"]
    assert conf["users"]["bi_reader/profile"] == "bi_readonly"
    assert conf["profiles"]["bi_readonly/readonly"] == 2
    assert conf["users"]["bi_reader/grants/query"] == ["GRANT bi_reader"]
    assert "bi_reader/access_management" not in conf["users"]


def test_rbac_is_namespaced_and_names_every_verb_and_resource():
    objs = render_chart()
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for role in (o for o in objs if o["kind"] == "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], role
            assert "secrets" not in rule["resources"], "no job reads Secrets through the API"


def test_job_pods_do_not_mount_an_api_token():
    workloads = [o for o in render_chart({"simulator": {"enabled": True},
                                          "dataQuality": {"enabled": True},
                                          "evaluateForecasts": {"enabled": True,
                                                                "date": "2026-11-30"},
                                          "mlflow": {"enabled": True, "database": {
                                              "existingSecret": "mlflow-db"}}})
                 if o["kind"] in POD_TEMPLATE_KINDS - {"StatefulSet"}]  # Airflow's database
    assert {o["kind"] for o in workloads} == {"Deployment", "Job", "CronJob"}
    assert "retail-platform-evaluate-forecasts-2026-11-30" in {
        o["metadata"]["name"] for o in workloads}
    for obj in workloads:
        assert pod_spec(obj)["automountServiceAccountToken"] is False, obj["metadata"]["name"]


def test_no_scenario_turns_on_airflows_default_admin_user():
    for path in [CHART / "values.yaml", *sorted((CHART / "ci").glob("*-values.yaml"))]:
        airflow = yaml.safe_load(path.read_text()).get("airflow", {})
        default_user = airflow.get("createUserJob", {}).get("defaultUser", {})
        assert default_user.get("enabled", path.name == "values.yaml") is False, path.name
