"""Checks the chart tests share: which pods an object defines and whether they are locked down."""

from __future__ import annotations

from collections.abc import Iterator

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def pod_spec(obj: dict) -> dict:
    """The pod spec of a workload; a CronJob's is in its job template."""
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]["spec"]


def containers(obj: dict) -> Iterator[tuple[str, dict, dict]]:
    """``(where, container, pod security context)`` of every container an object defines:
    workloads (CronJobs too), (Scheduled)SparkApplication driver/executor, ClickHouse pod
    templates, MinIO pools."""
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind in POD_TEMPLATE_KINDS:
        pod = pod_spec(obj)
        for c in pod.get("initContainers", []) + pod["containers"]:
            yield f"{kind}/{obj['metadata']['name']}/{c['name']}", c, pod.get("securityContext", {})
    elif kind in ("SparkApplication", "ScheduledSparkApplication"):
        app = spec["template"] if kind == "ScheduledSparkApplication" else spec
        for role in ("driver", "executor"):
            part = app[role]
            resources = {"requests": {"cpu": part.get("cores"), "memory": part.get("memory")},
                         "limits": {"memory": part.get("memory")}}
            yield (f"{kind}/{obj['metadata']['name']}/{role}",
                   {"securityContext": part.get("securityContext", {}), "resources": resources},
                   part.get("podSecurityContext", {}))
    elif kind in ("ClickHouseInstallation", "ClickHouseKeeperInstallation"):
        for template in spec.get("templates", {}).get("podTemplates", []):
            pod = template["spec"]
            for c in pod["containers"]:
                yield (f"{kind}/{obj['metadata']['name']}/{template['name']}/{c['name']}", c,
                       pod.get("securityContext", {}))
    elif kind == "Tenant":
        for pool in spec["pools"]:
            yield (f"Tenant/{obj['metadata']['name']}/{pool['name']}",
                   {"securityContext": pool.get("containerSecurityContext", {}),
                    "resources": pool.get("resources", {})}, pool.get("securityContext", {}))


def security_problems(objs: list[dict]) -> list[str]:
    """Every container must run as a non-root user, without privilege escalation, with
    resource requests and limits."""
    problems = []
    for where, c, pod in containers_of(objs):
        sc = c.get("securityContext", {})
        non_root = sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True
        uid = sc.get("runAsUser", pod.get("runAsUser"))
        if not non_root or uid in (None, 0):
            problems.append(f"{where}: may run as root (runAsNonRoot/runAsUser)")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities are not dropped")
        res = c.get("resources", {})
        if not res.get("requests") or not res.get("limits"):
            problems.append(f"{where}: no resource requests and limits")
        elif any(v in (None, "") for part in res.values() for v in part.values()):
            problems.append(f"{where}: an empty resource value")
    return problems


def containers_of(objs: list[dict]) -> Iterator[tuple[str, dict, dict]]:
    for obj in objs:
        yield from containers(obj)
