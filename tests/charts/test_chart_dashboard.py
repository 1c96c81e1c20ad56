"""The web dashboards in the chart (dashboard.yaml): off by default; on, a locked-down
Deployment of images/dashboard behind a ClusterIP Service, reachable only from the
authenticating proxy's pods (the NetworkPolicy that makes the user header trustworthy), and
the ClickHouse user `dashboard` with migration 0022's role, its password from a Secret."""

from __future__ import annotations

import base64
import copy
import re
from functools import cache

import pytest
import yaml

from tests.charts.chart_checks import pod_spec, security_problems
from tests.k8s.helm import CHART, ROOT, HelmError, helm, render_chart, stubbed_chart
from tests.k8s.validate import validate_objects

PROXY = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}}
ON = {"dashboard": {"enabled": True, "authProxy": PROXY}}
NAME = "retail-platform-dashboard"
MIGRATION = ROOT / "pkg/retail/warehouse/migrations/0022_dashboard_reader.sql"
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]


@cache
def _rendered(values: str) -> list[dict]:
    return render_chart(yaml.safe_load(values))


def render(values: dict | None = None) -> list[dict]:
    """The whole chart with ``values``, rendered once per session for each."""
    return copy.deepcopy(_rendered(yaml.safe_dump(values or {})))


def one(objs: list[dict], kind: str, name: str = NAME) -> dict:
    (obj,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def container(objs: list[dict]) -> dict:
    (c,) = pod_spec(one(objs, "Deployment"))["containers"]
    return c


def users(objs: list[dict]) -> dict:
    return one(objs, "ClickHouseInstallation", "retail-platform")["spec"]["configuration"]


def refused(values: dict) -> str:
    with pytest.raises(HelmError) as err:
        render_chart(values)
    return str(err.value)


class TestOffByDefault:
    def test_nothing_of_the_dashboards_renders(self):
        objs = render()
        assert [o for o in objs if "dashboard" in o["metadata"]["name"]] == []
        assert not [k for k in users(objs)["users"] if k.startswith("dashboard/")]
        assert not [k for k in users(objs)["profiles"] if k.startswith("dashboard")]
        secret = one(objs, "Secret", "retail-platform-clickhouse")
        assert "dashboard-password" not in secret["data"]


class TestDeployment:
    def test_it_renders_a_deployment_a_service_and_a_network_policy(self):
        mine = {(o["kind"], o["metadata"]["name"]) for o in render(ON)} - {
            (o["kind"], o["metadata"]["name"]) for o in render()}
        assert mine == {("Deployment", NAME), ("Service", NAME), ("NetworkPolicy", NAME)}

    def test_helm_lint_strict_passes_with_the_dashboards_on(self, tmp_path):
        values = tmp_path / "dashboard-values.yaml"
        values.write_text(yaml.safe_dump(ON))
        done = helm("lint", "--strict", str(stubbed_chart()), "--namespace", "retail",
                    "--values", str(values), check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def test_every_object_is_valid_against_the_kubernetes_schemas(self):
        objs = render(ON)
        assert validate_objects([o for o in objs if o["metadata"]["name"] == NAME]) == []
        assert validate_objects([one(objs, "ClickHouseInstallation", "retail-platform")]) == []

    def test_it_runs_the_dashboard_image_at_the_charts_registry_and_tag(self):
        assert container(render(ON))["image"] == f"ghcr.io/retail-platform/dashboard:{APP_VERSION}"
        kind = render({**ON, "image": {"registry": "", "tag": "dev"}})
        assert container(kind)["image"] == "retail-platform/dashboard:dev"

    def test_it_is_non_root_on_a_read_only_root_without_a_token(self):
        objs = render(ON)
        pod, c = pod_spec(one(objs, "Deployment")), container(objs)
        assert security_problems([one(objs, "Deployment")]) == []
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert c["securityContext"] | {} == {
            "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
        (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert tmp == {"name": "tmp", "emptyDir": {}}
        assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert c["resources"]["requests"] and c["resources"]["limits"]

    def test_it_reads_the_warehouse_as_dashboard_with_the_password_from_a_secret(self):
        c = container(render(ON))
        env = {e["name"]: e for e in c["env"]}
        assert c["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
        assert env["RETAIL_WAREHOUSE__USER"]["value"] == "dashboard"
        assert env["RETAIL_WAREHOUSE__PASSWORD"]["valueFrom"] == {"secretKeyRef": {
            "name": "retail-platform-clickhouse", "key": "dashboard-password"}}
        assert not [n for n, e in env.items() if "value" in e and re.search("PASSWORD", n)]

    def test_it_takes_the_reader_from_the_header_the_proxy_sets(self):
        c = container(render({"dashboard": {**ON["dashboard"], "userHeader": "X-Auth-Request-Email",
                                            "refreshSeconds": 60}}))
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["RETAIL_DASHBOARD__IDENTITY"] == "header"
        assert env["RETAIL_DASHBOARD__USER_HEADER"] == "X-Auth-Request-Email"
        assert env["RETAIL_DASHBOARD__REFRESH_SECONDS"] == "60"

    def test_its_probes_ask_healthz_on_the_port_the_service_serves(self):
        objs = render(ON)
        c, service = container(objs), one(objs, "Service")
        assert c["ports"] == [{"name": "http", "containerPort": 8050, "protocol": "TCP"}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"] == [{"name": "http", "port": 8050, "targetPort": "http",
                                             "protocol": "TCP"}]
        pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()


class TestNetworkPolicy:
    def test_only_the_proxys_pods_may_reach_the_dashboard(self):
        objs = render(ON)
        policy = one(objs, "NetworkPolicy")["spec"]
        pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        assert policy["ingress"] == [{
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}}],
            "ports": [{"port": 8050, "protocol": "TCP"}]}]

    def test_a_proxy_in_another_namespace_is_both_selectors_in_one_peer(self):
        proxy = {"podSelector": {"matchLabels": {"app": "auth"}},
                 "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "auth"}}}
        policy = one(render({"dashboard": {"enabled": True, "authProxy": proxy}}),
                     "NetworkPolicy")["spec"]
        (rule,) = policy["ingress"]
        assert rule["from"] == [proxy]  # one peer: those pods of that namespace, not either

    def test_out_it_reaches_only_the_warehouse_and_dns(self):
        policy = one(render(ON), "NetworkPolicy")["spec"]
        warehouse, dns = policy["egress"]
        assert warehouse == {"to": [{"podSelector": {"matchLabels": {
            "clickhouse.altinity.com/chi": "retail-platform"}}}],
            "ports": [{"port": 8123, "protocol": "TCP"}]}
        assert {p["port"] for p in dns["ports"]} == {53} and "to" not in dns

    def test_it_is_rendered_even_with_the_platforms_policies_off(self):
        objs = render({**ON, "networkPolicies": {"enabled": False}})
        assert [o["metadata"]["name"] for o in objs if o["kind"] == "NetworkPolicy"] == [NAME]

    @pytest.mark.parametrize("proxy", [{}, {"podSelector": {"matchLabels": {}}}],
                             ids=["none", "empty"])
    def test_without_the_proxys_labels_it_is_refused(self, proxy):
        # An empty podSelector would admit every pod of the namespace.
        message = refused({"dashboard": {"enabled": True, "authProxy": proxy}})
        assert "dashboard.enabled needs dashboard.authProxy.podSelector, the labels of the " \
               "authenticating proxy's pods" in message


class TestWarehouseUser:
    def test_the_user_has_migration_0022s_role_and_a_read_only_profile(self):
        conf = users(render(ON))
        u = conf["users"]
        assert u["dashboard/k8s_secret_password"] == "retail-platform-clickhouse/dashboard-password"
        assert u["dashboard/networks/ip"] and "dashboard/password" not in u
        assert "dashboard/access_management" not in u
        assert u["dashboard/grants/query"] == ["GRANT dashboard_reader"]
        assert "CREATE ROLE IF NOT EXISTS dashboard_reader;" in MIGRATION.read_text()
        # The installation's profile mirrors the one 0022 gives the role, setting by setting.
        profile = u["dashboard/profile"]
        mirrored = {k.split("/", 1)[1]: str(v) for k, v in conf["profiles"].items()
                    if k.startswith(f"{profile}/")}
        (settings,) = re.findall(rf"CREATE SETTINGS PROFILE IF NOT EXISTS {profile}\s+SETTINGS"
                                 r"(.+?)\s+TO dashboard_reader;", MIGRATION.read_text(), re.S)
        assert mirrored["readonly"] == "2"
        assert mirrored == {k.strip(): v.strip().strip("'") for k, v in (
            item.split("=") for item in settings.split(","))}

    def test_its_password_is_generated_in_the_clickhouse_secret_never_a_default(self):
        first, second = (base64.b64decode(one(render_chart(ON), "Secret",
                                                  "retail-platform-clickhouse")["data"]
                                              ["dashboard-password"]).decode() for _ in "12")
        assert first != second and len(first) >= 20

    def test_your_secret_serves_the_user_and_the_pods_and_nothing_is_generated(self):
        objs = render({"dashboard": {**ON["dashboard"], "existingSecret": "dash-db"}})
        ref = {e["name"]: e for e in container(objs)["env"]}["RETAIL_WAREHOUSE__PASSWORD"]
        assert ref["valueFrom"]["secretKeyRef"] == {"name": "dash-db", "key": "dashboard-password"}
        assert users(objs)["users"]["dashboard/k8s_secret_password"] == "dash-db/dashboard-password"
        assert "dashboard-password" not in one(objs, "Secret", "retail-platform-clickhouse")["data"]

    def test_without_the_charts_clickhouse_a_secret_of_yours_is_required(self):
        message = refused({**ON, "clickhouse": {"enabled": False}})
        assert "dashboard.enabled needs the password of the warehouse user `dashboard`: " \
               "dashboard.existingSecret" in message
        objs = render_chart({"dashboard": {**ON["dashboard"], "existingSecret": "dash-db"},
                             "clickhouse": {"enabled": False}})
        policy = one(objs, "NetworkPolicy")["spec"]
        assert "to" not in policy["egress"][0]  # the warehouse is elsewhere: its port only

    @pytest.mark.parametrize("values", [
        {"dashboard": {"password": "x"}},
        {"dashboard": {"authProxy": {"header": "X-User"}}},
        {"dashboard": {"userHeader": "X User"}},
        {"images": {"dashboard": {"tag": "dev"}}},
    ], ids=["password", "proxy", "header", "image-tag"])
    def test_an_unknown_or_bad_value_is_refused(self, values):
        assert "values don't meet the specifications of the schema" in refused(values)
