"""dags/_contract.json, the DAGs' side of the contract with the jobs, is what manifests/ and the
chart say (regenerated here and compared), and every job it names has its entrypoint, its
image and the chart's image value; a job, an image or a DAG that disagrees fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.dags.contract_gen import CONTRACT, generate, render

ROOT = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((ROOT / "charts/retail-platform/values.yaml").read_text())
COMMITTED = json.loads(CONTRACT.read_text())


def _camel(job: str) -> str:
    head, *rest = job.split("_")
    return head + "".join(word.title() for word in rest)


def test_the_committed_contract_is_the_generated_one():
    assert CONTRACT.read_text() == render(generate()), \
        "manifests/ or the chart changed: run .venv/bin/python tests/dags/contract_gen.py --write"


def test_every_job_in_the_contract_has_its_entrypoint_its_image_and_the_charts_value():
    assert len(COMMITTED["jobs"]) == 10
    for job, spec in COMMITTED["jobs"].items():
        assert (ROOT / spec["script"]).is_file(), job
        assert (ROOT / "images" / job / "Dockerfile").is_file(), job
        assert spec["image"] == f"retail-platform/{job.replace('_', '-')}", job
        assert VALUES["images"][_camel(job)]["repository"] == spec["image"], job


def test_the_contracts_tag_is_the_charts_app_version():
    chart = yaml.safe_load((ROOT / "charts/retail-platform/Chart.yaml").read_text())
    assert COMMITTED["tag"] == chart["appVersion"]


def test_every_job_a_dag_runs_is_in_the_contract():
    used = set()
    for path in (ROOT / "dags").glob("[!_]*.py"):
        used |= set(re.findall(r'job_task\(\s*"(\w+)"', path.read_text()))
    assert used and used <= set(COMMITTED["jobs"]), used - set(COMMITTED["jobs"])
    assert used == set(COMMITTED["jobs"]), "a job the contract holds that no DAG runs"


def test_a_manifest_that_changes_changes_the_generated_contract(tmp_path, monkeypatch):
    import tests.dags.contract_gen as gen

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for path in (ROOT / "manifests").glob("*.yaml"):
        text = path.read_text()
        if path.name == "spark-daily-etl.yaml":
            text = text.replace("memory: 2g", "memory: 3g")
        (manifests / path.name).write_text(text)
    monkeypatch.setattr(gen, "MANIFESTS", manifests)
    changed = gen.generate()
    assert changed != COMMITTED
    assert changed["jobs"]["daily_etl"]["application"]["spec"]["driver"]["memory"] == "3g"
