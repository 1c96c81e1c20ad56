"""Generates ``dags/_contract.json``, the DAGs' side of the contract with the jobs, from
``manifests/`` (which tests/manifests keeps equal to what the chart renders) and the chart's
``appVersion``: per job launched by Airflow, its image repository, its entrypoint and the
whole pod or ``SparkApplication`` specification the chart would run, minus the day.

The DAGs never import ``pkg`` and never read the chart: they read this file. Regenerate it
after changing a manifest or the chart (``tests/dags/test_contract.py`` fails until then)::

    .venv/bin/python tests/dags/contract_gen.py --write
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
CONTRACT = ROOT / "dags" / "_contract.json"
RELEASE, NAMESPACE = "retail-platform", "retail"
JOB_PATH = "local:///opt/retail/jobs/"
# What the DAGs launch: every job that closes, featurizes, trains, predicts or checks a day.
# The stream processor runs for ever as its own SparkApplication, not from Airflow.
NOT_FROM_AIRFLOW = {"stream_processor"}


def _image(ref: str) -> tuple[str, str, str]:
    """``registry/repository:tag`` -> its three parts."""
    registry, _, rest = ref.partition("/")
    repository, _, tag = rest.rpartition(":")
    return registry, repository, tag


def _spark_job(doc: dict) -> tuple[str, dict]:
    app = copy.deepcopy(doc)
    job = app["spec"]["mainApplicationFile"].removeprefix(JOB_PATH).removesuffix(".py")
    app["metadata"] = {"name": f"{RELEASE}-{job.replace('_', '-')}",
                       "namespace": NAMESPACE, "labels": app["metadata"]["labels"]}
    app["spec"].pop("arguments", None)
    # Airflow retries the task; the operator's own retries would hide a failure from it.
    app["spec"]["restartPolicy"] = {"type": "Never"}
    registry, repository, tag = _image(app["spec"].pop("image"))
    return job, {"kind": "spark", "image": repository, "script": f"jobs/{job}.py",
                 "application": app, "_ref": (registry, tag)}


def _pod_job(doc: dict) -> tuple[str, dict]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = copy.deepcopy(spec["template"])
    (container,) = template["spec"]["containers"]
    registry, repository, tag = _image(container.pop("image"))
    container.pop("args", None)
    job = repository.rpartition("/")[2].replace("-", "_")
    return job, {"kind": "pod", "image": repository, "script": f"jobs/{job}.py",
                 "pod": template, "_ref": (registry, tag)}


def generate() -> dict:
    """The contract as the manifests and the chart say it is."""
    chart = yaml.safe_load((ROOT / "charts/retail-platform/Chart.yaml").read_text())
    jobs: dict[str, dict] = {}
    refs = set()
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("SparkApplication", "Job", "CronJob"):
                continue
            job, entry = (_spark_job if doc["kind"] == "SparkApplication" else _pod_job)(doc)
            if job in NOT_FROM_AIRFLOW:
                continue
            refs.add(entry.pop("_ref"))
            jobs[job] = entry
    if len(refs) != 1:
        raise ValueError(f"the manifests disagree on the image registry and tag: {refs}")
    ((registry, tag),) = refs
    if tag != chart["appVersion"]:
        raise ValueError(f"manifests tag {tag} != the chart's appVersion {chart['appVersion']}")
    return {"_generated": "by tests/dags/contract_gen.py from manifests/ and the chart; "
                          "do not edit by hand",
            "release": RELEASE, "namespace": NAMESPACE, "registry": registry, "tag": tag,
            "jobs": dict(sorted(jobs.items()))}


def render(contract: dict) -> str:
    return json.dumps(contract, indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {CONTRACT.name}")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.write:
        CONTRACT.write_text(text)
        print(f"wrote {CONTRACT.relative_to(ROOT)}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
