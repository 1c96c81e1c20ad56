"""The upstream schemas the offline checks trust, pinned by commit and git blob id.

Custom resources are checked against the operators' own CRDs and our ``airflow:`` values
against the Airflow chart's ``values.schema.json``, each at the release the umbrella chart
pins. Nothing here is vendored into the repository: ``schema_path`` finds each file in

1. the directory named by ``K8S_SCHEMA_MIRROR`` (CI points it at ``../shared/k8s-schemas``),
2. the user cache ``${XDG_CACHE_HOME:-~/.cache}/retail-platform/k8s-schemas/``,
3. or downloads it from ``raw.githubusercontent.com`` at the pinned commit into that cache,

and refuses any copy whose git blob id differs from the pinned one, so a stale mirror, a
truncated download or an edited file can never loosen the checks. ``crd_schemas`` and
``cel_rules`` read what the pinned CRDs declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from tests.pinned_files import PinnedStore, download, git_blob_id  # noqa: F401  (re-exported)

ENV = "K8S_SCHEMA_MIRROR"


@dataclass(frozen=True)
class Pinned:
    repo: str
    path: str
    commit: str
    blob: str
    crd: bool

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"


_STRIMZI_1_2_0 = "6c7b43c4af0db547c10463ba09d1dfa6f5e156a0"
_SPARK_OPERATOR_2_5_2 = "43afb8bbd32463037d8fb6e414e252c69081882b"
_ALTINITY_0_25_6 = "8d7dc3f2c0f6ef2e4e6be99792dd44cbefeb424c"
_CHART_TESTING_3_14_0 = "2651b49048950c5473b1f533c900d17614bc6aa0"

# The table of k8s-schemas/SOURCES.md (/work/shared, ../shared in CI):
# local file, upstream repository, path there, commit, git blob id, whether it holds CRDs.
_TABLE = [
    ("strimzi-kafka-operator/040-Crd-kafka.yaml", "strimzi/strimzi-kafka-operator",
     "install/cluster-operator/040-Crd-kafka.yaml", _STRIMZI_1_2_0,
     "9598f1c26dff3ec2dc97781e52f3695366031525", True),
    ("strimzi-kafka-operator/043-Crd-kafkatopic.yaml", "strimzi/strimzi-kafka-operator",
     "install/cluster-operator/043-Crd-kafkatopic.yaml", _STRIMZI_1_2_0,
     "f239899977215306017af3fbf6f73ce4c52db813", True),
    ("strimzi-kafka-operator/044-Crd-kafkauser.yaml", "strimzi/strimzi-kafka-operator",
     "install/cluster-operator/044-Crd-kafkauser.yaml", _STRIMZI_1_2_0,
     "ed0577a648413c49dc729fa75d6a49ce4f8850f4", True),
    ("strimzi-kafka-operator/045-Crd-kafkanodepool.yaml", "strimzi/strimzi-kafka-operator",
     "install/cluster-operator/045-Crd-kafkanodepool.yaml", _STRIMZI_1_2_0,
     "5c8670088513ef9ff38fbb0c67002654abaacf7c", True),
    ("spark-operator/sparkoperator.k8s.io_sparkapplications.yaml", "kubeflow/spark-operator",
     "config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml", _SPARK_OPERATOR_2_5_2,
     "7154872c1039b466a6ddeb9df9ec60efc4d386a9", True),
    ("spark-operator/sparkoperator.k8s.io_scheduledsparkapplications.yaml",
     "kubeflow/spark-operator",
     "config/crd/bases/sparkoperator.k8s.io_scheduledsparkapplications.yaml",
     _SPARK_OPERATOR_2_5_2, "7bc36f2e85eead90036f5a3febfa9ab6483d0fa2", True),
    ("clickhouse-operator/CustomResourceDefinition-clickhouseinstallations"
     ".clickhouse.altinity.com.yaml", "Altinity/clickhouse-operator",
     "deploy/helm/clickhouse-operator/crds/CustomResourceDefinition-clickhouseinstallations"
     ".clickhouse.altinity.com.yaml", _ALTINITY_0_25_6,
     "1a42a88bebe02dfd44b4cd548fef3f121552f0c9", True),
    ("clickhouse-operator/CustomResourceDefinition-clickhousekeeperinstallations"
     ".clickhouse-keeper.altinity.com.yaml", "Altinity/clickhouse-operator",
     "deploy/helm/clickhouse-operator/crds/CustomResourceDefinition-clickhousekeeperinstallations"
     ".clickhouse-keeper.altinity.com.yaml", _ALTINITY_0_25_6,
     "c2604dee9584dc6f7a2477539b15dd78d0f4b93f", True),
    ("minio-operator/minio.min.io_tenants.yaml", "minio/operator",
     "resources/base/crds/minio.min.io_tenants.yaml", "6eee6a7caa70555ad009e522ce04861297e9e2be",
     "d1f4e303b0a71b712c127167be989989c458d145", True),
    ("airflow/values.schema.json", "apache/airflow", "chart/values.schema.json",
     "b90710803a45d015a221b6045295d0dc9ddb964f", "63104f69cc1ace926245072074dedf9bd49c9810",
     False),
    ("chart-testing/chart_schema.yaml", "helm/chart-testing", "etc/chart_schema.yaml",
     _CHART_TESTING_3_14_0, "e3cd46a81a246b52496ea472e29a0e68175bc469", False),
    ("chart-testing/lintconf.yaml", "helm/chart-testing", "etc/lintconf.yaml",
     _CHART_TESTING_3_14_0, "90f48c889bbc751692fd1689fe1058721bc95bf3", False),
]
PINNED: dict[str, Pinned] = {rel: Pinned(*row) for rel, *row in _TABLE}


class SchemaError(RuntimeError):
    """A pinned schema file is unknown, unavailable, or not the pinned content."""


_STORE = PinnedStore("k8s-schemas", ENV, SchemaError)


def cache_dir() -> Path:
    return _STORE.cache_dir()


_download = download  # module attribute: the tests replace it to stay offline


def schema_path(rel: str) -> Path:
    """The verified local copy of the pinned file ``rel`` (a path as listed in SOURCES.md).

    Raises:
        SchemaError: ``rel`` is not pinned, no copy can be had, or a copy's blob id differs.
    """
    pin = PINNED.get(rel)
    if pin is None:
        raise SchemaError(f"{rel!r} is not a pinned schema; pinned: {', '.join(sorted(PINNED))}")
    return _STORE.locate(rel, blob=pin.blob, url=pin.url,
                         origin=f"{pin.repo}@{pin.commit[:12]}:{pin.path}",
                         download=lambda url: _download(url))


@cache
def crds() -> tuple[dict, ...]:
    """Every CustomResourceDefinition in the pinned CRD files (their content is fixed by the
    blob id, so one parse per session is enough)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Spark CRDs are 800 kB each
    found = []
    for rel, pin in PINNED.items():
        if pin.crd:
            with open(schema_path(rel), encoding="utf-8") as f:
                found += [d for d in yaml.load_all(f, Loader=loader)
                          if d and d.get("kind") == "CustomResourceDefinition"]
    return tuple(found)


def crd_schemas() -> dict[tuple[str, str], dict]:
    """``(apiVersion, kind) -> openAPIV3Schema`` for every served version of the pinned CRDs."""
    return {(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"]):
            version["schema"]["openAPIV3Schema"]
            for crd in crds() for version in crd["spec"]["versions"] if version.get("served")}


@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` rule of a pinned CRD, at its schema path."""
    api_version: str
    kind: str
    path: str
    rule: str
    message: str


def cel_rules() -> list[CelRule]:
    """Every CEL rule in the served versions of the pinned CRDs, where it applies
    (``[]`` stands for each item of a list, ``.*`` for each value of a map)."""
    found: list[CelRule] = []

    def visit(schema: dict, path: str, gvk: tuple[str, str]) -> None:
        for rule in schema.get("x-kubernetes-validations", []):
            found.append(CelRule(*gvk, path or "(root)", rule["rule"], rule.get("message", "")))
        for name, sub in schema.get("properties", {}).items():
            visit(sub, f"{path}.{name}" if path else name, gvk)
        for key, suffix in (("additionalProperties", ".*"), ("items", "[]")):
            if isinstance(schema.get(key), dict):
                visit(schema[key], path + suffix, gvk)

    for gvk, schema in crd_schemas().items():
        visit(schema, "", gvk)
    return found
