"""Run the Tiltfile offline: stand-ins of the Tilt functions it uses, and the resources Tilt
would assemble from their calls.

Each stand-in has the parameters of the real function (tilt-dev/tilt
``internal/tiltfile/api/__init__.py``; tilt-extensions ``helm_resource/Tiltfile``), so an
unknown keyword argument fails as in Tilt and a function not provided is an undefined name.
Paths Tilt reads at load time must exist. ``helm()`` renders the umbrella chart for real,
from the copy with stub dependencies (``tests.k8s.helm.stubbed_chart``).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import starlark as sl
import yaml

from tests.k8s.helm import CHART, helm as run_helm, stubbed_chart

# Kinds with a pod template: Tilt makes each such object a workload with its own resource.
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                      "Pod"}
EXTENSIONS = {"ext://helm_resource": ["helm_resource", "helm_repo"]}


# Answers of local() to the commands whose output the Tiltfile reads (tests/test_tiltfile.py
# checks the real command gives output of that form).
YESTERDAY = ('python3 -c "import datetime as d; '
             'print(d.datetime.now(d.timezone.utc).date() - d.timedelta(days=1))"')
LOCAL_OUTPUTS = {YESTERDAY: "2026-11-30\n"}
# Tilt's trigger modes (constants of its API); their values only need to differ here.
TRIGGER_MODES = {"TRIGGER_MODE_AUTO": "auto", "TRIGGER_MODE_MANUAL": "manual"}


class TiltfileError(RuntimeError):
    """The Tiltfile called a stand-in with something Tilt would refuse."""


@dataclass(frozen=True)
class Blob:
    """What ``helm()`` and ``local()`` return in Tilt: text, never taken for a path."""
    text: str


class Call(NamedTuple):
    function: str
    args: dict


def _recorded(function):
    """Bind a call to the real signature (unknown arguments raise), record it, then run it."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def stand_in(self: Tilt, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TiltfileError(f"{function.__name__}(): {exc}") from None
        bound.apply_defaults()
        self.calls.append(Call(function.__name__, dict(list(bound.arguments.items())[1:])))
        result = function(*bound.args, **bound.kwargs)
        return sl.OpaquePythonObject(result) if isinstance(result, Blob) else result

    return stand_in


def _as_list(value) -> list:
    return [value] if isinstance(value, (str, Blob)) else list(value or [])


def _documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


@dataclass
class Tilt:
    """The stand-ins, resolving paths under ``root``; ``calls`` records every call in order."""
    root: Path
    calls: list[Call] = field(default_factory=list)

    def path(self, rel: str, what: str, *, directory: bool = False) -> Path:
        full = self.root / rel
        if not (full.is_dir() if directory else full.is_file()):
            raise TiltfileError(f"{what} {rel!r} does not exist (relative to the Tiltfile)")
        return full

    def named(self, function: str) -> list[dict]:
        return [c.args for c in self.calls if c.function == function]

    def yaml_objects(self) -> list[dict]:
        """Every object handed to ``k8s_yaml``, from files and blobs alike."""
        return [doc for call in self.named("k8s_yaml") for item in _as_list(call["yaml"])
                for doc in _documents(item.text if isinstance(item, Blob)
                                      else (self.root / item).read_text())]

    @_recorded
    def allow_k8s_contexts(self, contexts):
        return None

    @_recorded
    def update_settings(self, max_parallel_updates=3, k8s_upsert_timeout_secs=30,
                        suppress_unused_image_warnings=None, k8s_server_side_apply="auto"):
        return None

    @_recorded
    def read_yaml(self, path, default=None):
        return yaml.safe_load(self.path(path, "read_yaml(): file").read_text())

    @_recorded
    def decode_yaml_stream(self, yaml):  # noqa: A002  Tilt's parameter name
        return _documents(yaml.text if isinstance(yaml, Blob) else yaml)

    @_recorded
    def local(self, command, quiet=False, command_bat="", echo_off=False, env=None, dir="",
              stdin=None):  # noqa: A002
        # Never run: what the Tiltfile runs here needs the network, or the clock. A command
        # whose output it reads gets the answer of LOCAL_OUTPUTS as text (Tilt's Blob, which
        # str() turns into its text); any other, an empty Blob.
        if command in LOCAL_OUTPUTS:
            return LOCAL_OUTPUTS[command]
        return Blob("")

    @_recorded
    def sync(self, local_path, remote_path):
        if not remote_path.startswith("/"):
            raise TiltfileError(f"sync(): remote path {remote_path!r} must be absolute")
        return {"step": "sync", "local_path": local_path, "remote_path": remote_path}

    @_recorded
    def docker_build(self, ref, context, build_args=None, dockerfile="Dockerfile",
                     dockerfile_contents="", live_update=(), match_in_env_vars=False,
                     ignore=(), only=(), entrypoint=(), target="", ssh="", network="",
                     secret="", extra_tag="", container_args=None, cache_from=(), pull=False,
                     platform="", extra_hosts=()):
        self.path(context, f"docker_build({ref!r}): context", directory=True)
        self.path(dockerfile, f"docker_build({ref!r}): dockerfile")
        if not all(isinstance(step, dict) and "step" in step for step in live_update):
            raise TiltfileError(f"docker_build({ref!r}): live_update takes sync() steps only")
        return None

    @_recorded
    def helm(self, pathToChartDir, name="", namespace="", values=(), set=(),  # noqa: N803,A002
             kube_version="", skip_crds=False):
        # As Tilt runs it: release "chart" by default, CRDs in, test hooks out, namespace set.
        chart = self.path(pathToChartDir, "helm(): chart directory", directory=True)
        args = ["template", name or "chart", str(stubbed_chart() if chart.resolve() == CHART
                                                 else chart)]
        args += ["--namespace", namespace] if namespace else []
        args += ["--kube-version", kube_version] if kube_version else []
        args += [] if skip_crds else ["--include-crds"]
        for values_file in _as_list(values):
            args += ["--values", str(self.path(values_file, "helm(): values file"))]
        for assignment in _as_list(set):
            args += ["--set", assignment]
        docs = [d for d in _documents(run_helm(*args).stdout)
                if d.get("metadata", {}).get("annotations", {}).get("helm.sh/hook") != "test"]
        for doc in docs if namespace else []:
            doc["metadata"].setdefault("namespace", namespace)
        return Blob(yaml.safe_dump_all(docs))

    @_recorded
    def k8s_yaml(self, yaml, allow_duplicates=False):  # noqa: A002
        for item in _as_list(yaml):
            if not isinstance(item, Blob):
                self.path(item, "k8s_yaml(): file")
        return None

    @_recorded
    def k8s_kind(self, kind, api_version=None, *, image_json_path=(),
                 image_object_json_path=None, pod_readiness=""):
        return None

    @_recorded
    def port_forward(self, local_port, container_port=None, name=None, link_path=None,
                     host=None):
        return {"local_port": local_port, "container_port": container_port or local_port}

    @_recorded
    def k8s_resource(self, workload="", new_name="", port_forwards=(), extra_pod_selectors=(),
                     trigger_mode=None, resource_deps=(), objects=(), auto_init=True,
                     pod_readiness="", links=(), labels=(), discovery_strategy=""):
        if not workload and not (new_name and objects):
            raise TiltfileError(f"k8s_resource({new_name!r}): could not associate any "
                                "k8s_yaml() with this resource (give a workload, or objects)")
        return None

    @_recorded
    def helm_resource(self, name, chart, deps=(), release_name="", namespace=None,
                      image_deps=None, image_keys=None, flags=None, uninstall_flags=None,
                      image_selector="", container_selector="", live_update=None,
                      resource_deps=None, labels=None, port_forwards=(), auto_init=True,
                      pod_readiness="", update_dependencies=False, build_dependencies=False,
                      links=()):
        return None

    @_recorded
    def helm_repo(self, name, url, resource_name="", username="", password="", **kwargs):
        # The extension hands **kwargs to local_resource, whose stand-in checks them.
        self.local_resource(resource_name or name, ["helm", "repo", "add", name, url],
                            allow_parallel=True, **kwargs)
        return None

    @_recorded
    def local_resource(self, name, cmd, deps=None, trigger_mode=None, resource_deps=(),
                       ignore=(), auto_init=True, serve_cmd="", cmd_bat="", serve_cmd_bat="",
                       allow_parallel=False, links=(), labels=(), env=None, serve_env=None,
                       readiness_probe=None, dir="", serve_dir=""):  # noqa: A002
        return None


BUILTINS = ["allow_k8s_contexts", "update_settings", "read_yaml", "decode_yaml_stream", "local",
            "sync", "docker_build", "helm", "k8s_yaml", "k8s_kind",
            "port_forward", "k8s_resource", "local_resource"]


def run_tiltfile(source: str, root: Path) -> Tilt:
    """Execute ``source`` against the stand-ins, paths under ``root``; raises
    ``starlark.StarlarkError`` naming the Tiltfile line and what Tilt would refuse there."""
    tilt = Tilt(root)

    def module_of(names: list[str]) -> sl.Module:
        module = sl.Module()
        for name in names:
            module.add_callable(name, getattr(tilt, name))
        return module

    builtins = module_of(BUILTINS)
    for name, value in TRIGGER_MODES.items():
        builtins[name] = value

    def load(module_id: str) -> sl.FrozenModule:
        if module_id not in EXTENSIONS:
            raise TiltfileError(f"load({module_id!r}): no stand-in for that extension (known: "
                                f"{', '.join(EXTENSIONS)}); add it to tests/tilt_standins.py")
        return module_of(EXTENSIONS[module_id]).freeze()

    sl.eval(builtins, parse_tiltfile(source), sl.Globals.standard(),
            sl.FileLoader(load))
    return tilt


def parse_tiltfile(source: str) -> sl.AstModule:
    # Tilt's Starlark (go.starlark.net, top-level if/for allowed) has no f-strings or type
    # annotations, which starlark-rust's extended dialect would otherwise accept.
    dialect = sl.Dialect.extended()
    dialect.enable_f_strings = False
    dialect.enable_types = sl.DialectTypes.DISABLE
    return sl.parse("Tiltfile", source, dialect)


@dataclass
class Resource:
    name: str
    origin: str  # workload, objects (k8s_resource new_name), helm_resource or local_resource
    objects: list[dict] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    port_forwards: list[tuple[int, int]] = field(default_factory=list)


def _potential_names(obj: dict) -> list[str]:
    """Tilt's names for an object, shortest first (internal/k8s/names.go)."""
    group = obj["apiVersion"].rpartition("/")[0] or "core"
    parts = [obj["metadata"]["name"], obj["kind"], obj["metadata"].get("namespace", ""), group]
    return [":".join(parts[:i]).lower() for i in range(1, len(parts) + 1)]


def _unique_names(objects: list[dict]) -> list[str]:
    """A workload's resource is named by its shortest name no other workload wants."""
    wanted = Counter(n for o in objects for n in _potential_names(o))
    return [next((n for n in _potential_names(o) if wanted[n] == 1),
                 f"{_potential_names(o)[-1]}:{i}") for i, o in enumerate(objects)]


def _forwards(value) -> list[tuple[int, int]]:
    """(local, container) of ``port_forward(...)``, ``8080``, ``'9000:8080'``, ``'h:9000:8080'``:
    the last two numbers of the string said twice, so a lone port is both."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [(i["local_port"], i["container_port"]) if isinstance(i, dict)
            else tuple(int(p) for p in f"{i}:{i}".split(":")[-2:]) for i in items]


def assemble(tilt: Tilt, extra_objects: list[dict] = ()) -> tuple[dict[str, Resource], list[str]]:
    """The resources Tilt builds from the recorded calls and the errors it would report;
    ``extra_objects`` are what the real chart renders but the stub render cannot."""
    objects = tilt.yaml_objects() + list(extra_objects)
    kinds = [c["kind"] for c in tilt.named("k8s_kind")]
    workloads = [o for o in objects if o["kind"] in POD_TEMPLATE_KINDS
                 or any(re.fullmatch(k, o["kind"], flags=re.IGNORECASE) for k in kinds)]
    resources = {name: Resource(name, "workload", [o])
                 for name, o in zip(_unique_names(workloads), workloads)}
    unresourced = [o for o in objects if not any(o is w for w in workloads)]
    for origin in ("helm_resource", "local_resource"):
        for call in tilt.named(origin):
            resources[call["name"]] = Resource(call["name"], origin, deps=_as_list(
                call["resource_deps"]), labels=_as_list(call["labels"]))
    errors = []
    for call in tilt.named("k8s_resource"):
        name = call["workload"] or call["new_name"]
        resource = resources.get(name)
        if call["workload"] and (resource is None or resource.origin == "local_resource"):
            errors.append(f"k8s_resource({name!r}): no workload or k8s resource of that name")
            continue
        if not call["workload"] and resource:
            errors.append(f"k8s_resource(new_name={name!r}): that resource already exists")
            continue
        resource = resource or resources.setdefault(name, Resource(name, "objects"))
        for fragment in call["objects"]:
            matches = [o for o in unresourced if fragment.lower() in _potential_names(o)]
            if len(matches) != 1:
                errors.append(f"k8s_resource({name!r}): object {fragment!r} matches "
                              f"{len(matches)} objects outside other resources; it must match 1")
                continue
            unresourced = [o for o in unresourced if o is not matches[0]]
            resource.objects.append(matches[0])
        if call["workload"] and call["new_name"]:
            resource.name = call["new_name"]
            resources[resource.name] = resources.pop(name)
        resource.deps += call["resource_deps"]
        resource.labels += _as_list(call["labels"])
        resource.port_forwards += _forwards(call["port_forwards"])
    if unresourced:
        resources["uncategorized"] = Resource("uncategorized", "objects", unresourced)
    errors += [f"{r.name}: resource_deps names unknown resource {dep!r}"
               for r in resources.values() for dep in r.deps if dep not in resources]
    return resources, errors
