"""Every image: one Dockerfile per job (plus the shared base, the MLflow server and Airflow with
the DAGs), hadolint clean, and the image policy (non-root, pinned bases, sources in the build context,
dependencies before code)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.images.dockerfile import (dockerignore_excludes, locked_version, parse,
                                     policy_problems, read_dockerignore)

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
# Images that run no job of jobs/: the shared base, the MLflow server (a service with its
# own lock, images/mlflow/constraints.txt, since full mlflow cannot share the platform's venv),
# Airflow (the official image, the providers' lock images/airflow/constraints.txt, the
# DAGs; no platform code) and the web dashboards (a service: `retail dashboard serve` on the
# base).
NOT_JOBS = {"base", "mlflow", "airflow", "dashboard"}
JOB_IMAGES = [d for d in DOCKERFILES if d.parent.name not in NOT_JOBS]
CHART_DIR = ROOT / "charts" / "retail-platform"
MLFLOW = IMAGES / "mlflow"
AIRFLOW = IMAGES / "airflow"
DASHBOARD = IMAGES / "dashboard"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _name(path: Path) -> str:
    return path.parent.name


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: install the dev dependencies "
                    "(pip install -c constraints.txt -e './pkg[local,dev,spark,ml,dashboard,report]')")
    # Every level fails (style and info too), whatever a user-level config says.
    return subprocess.run([str(HADOLINT), "--no-color", "--failure-threshold", "style",
                           "-f", "json", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


# --- inventory ----------------------------------------------------------------------------
def test_every_job_has_an_image_and_every_image_but_the_services_and_the_base_a_job():
    jobs = {p.stem for p in (ROOT / "jobs").glob("*.py")}
    assert jobs, "no jobs found"
    assert {_name(d) for d in JOB_IMAGES} == jobs
    assert {_name(d) for d in DOCKERFILES} - jobs == NOT_JOBS


@pytest.mark.parametrize("dockerfile", JOB_IMAGES, ids=_name)
def test_the_chart_names_every_job_image_under_its_job(dockerfile):
    # images.<job in camelCase>.repository: retail-platform/<job in kebab-case>, so every job
    # has a way to run on the cluster (a template, Tilt, manifests/).
    job = _name(dockerfile)
    first, *rest = job.split("_")
    key = first + "".join(word.title() for word in rest)
    images = yaml.safe_load((ROOT / "charts/retail-platform/values.yaml").read_text())["images"]

    assert images.get(key, {}).get("repository") == "retail-platform/" + job.replace("_", "-")


@pytest.mark.parametrize("dockerfile", JOB_IMAGES, ids=_name)
def test_a_job_image_copies_its_own_entrypoint_to_the_path_the_chart_runs(dockerfile):
    job = _name(dockerfile)
    final = parse(dockerfile.read_text()).stages[-1]
    copies = [i.flags_and_words()[1] for i in final.instructions if i.keyword == "COPY"]
    job_copies = [words for words in copies if any(w.startswith("jobs/") for w in words[:-1])]

    assert job_copies == [[f"jobs/{job}.py", f"/opt/retail/jobs/{job}.py"]]


@pytest.mark.parametrize("dockerfile", JOB_IMAGES, ids=_name)
def test_a_job_image_starts_from_the_base_tagged_with_the_charts_app_version(dockerfile):
    app_version = yaml.safe_load((ROOT / "charts/retail-platform/Chart.yaml").read_text())[
        "appVersion"]

    assert parse(dockerfile.read_text()).args["BASE_IMAGE"] == \
        f"retail-platform/base:{app_version}"


def test_the_spark_image_carries_the_spark_version_the_jobs_are_locked_to():
    spark = parse((IMAGES / "stream_processor" / "Dockerfile").read_text()).args

    assert spark["SPARK_VERSION"] == locked_version(ROOT, "pyspark")


def test_the_base_installs_locked_dependencies_before_the_package_wheel():
    final = parse((IMAGES / "base" / "Dockerfile").read_text()).stages[-1]
    runs = [i for i in final.instructions if i.keyword == "RUN"]
    deps = [i.line for i in runs if "--constraint" in i.args and "--requirement" in i.args]
    wheel = [i.line for i in runs if ".whl" in i.args]

    assert deps and wheel and deps[0] < wheel[0]


def test_the_base_installs_the_ml_and_dashboard_extras_with_the_dependencies(tmp_path):
    # train_demand_forecast, predict_daily and optimize_stock import the MLflow client (and
    # the training statsforecast); their images add only the entrypoint to the Spark image,
    # whose venv is the base's. images/dashboard adds only its command: Dash is in the base.
    # The RUN's own script is run on pkg/pyproject.toml, as the build runs it.
    final = parse((IMAGES / "base" / "Dockerfile").read_text()).stages[-1]
    (deps,) = [i.args for i in final.instructions
               if i.keyword == "RUN" and "--requirement" in i.args]
    script = re.search(r'python -c "(.+?)"\s+/tmp/deps/pyproject.toml', deps).group(1)
    listed = subprocess.run([sys.executable, "-c", script, str(ROOT / "pkg/pyproject.toml")],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    project = tomllib.loads((ROOT / "pkg/pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    assert listed.splitlines() == project["dependencies"] + extras["ml"] + extras["dashboard"]


def _pins(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {name.lower().replace("_", "-"): version
            for name, _, version in (line.partition("==") for line in lines if line)}


def test_the_mlflow_server_is_the_version_of_the_jobs_client_on_the_bases_python():
    server = _pins(MLFLOW / "requirements.txt")
    base = parse((IMAGES / "base" / "Dockerfile").read_text()).args["PYTHON_IMAGE"]

    assert server["mlflow"] == locked_version(ROOT, "mlflow-skinny")
    assert server["boto3"] == locked_version(ROOT, "boto3")
    assert {"psycopg2-binary", "psycopg"} & server.keys(), "no PostgreSQL driver"
    assert parse((MLFLOW / "Dockerfile").read_text()).args["PYTHON_IMAGE"] == base


def test_the_mlflow_image_installs_its_own_lock_and_not_the_platform_base():
    dockerfile = parse((MLFLOW / "Dockerfile").read_text())
    runs = " ".join(i.args for i in dockerfile.stages[-1].instructions if i.keyword == "RUN")
    requirements, lock = _pins(MLFLOW / "requirements.txt"), _pins(MLFLOW / "constraints.txt")

    assert all("retail-platform/base" not in s.image for s in dockerfile.stages)
    assert "--constraint /tmp/deps/constraints.txt" in runs
    assert "--requirement /tmp/deps/requirements.txt" in runs
    assert all(version for version in requirements.values()), "every requirement pinned"
    assert {name: lock.get(name) for name in requirements} == requirements
    assert int(lock["pyarrow"].split(".")[0]) < 26  # why it is not the platform's venv


def _chart() -> tuple[str, dict]:
    chart = CHART_DIR / "Chart.yaml"
    return (yaml.safe_load(chart.read_text())["appVersion"],
            yaml.safe_load((CHART_DIR / "values.yaml").read_text())["airflow"])


def test_the_airflow_image_is_the_official_one_at_the_version_the_chart_runs():
    dockerfile = parse((AIRFLOW / "Dockerfile").read_text())
    _, airflow = _chart()
    lock = _pins(AIRFLOW / "constraints.txt")

    assert [s.image for s in dockerfile.stages] == [
        f"apache/airflow:{lock['apache-airflow']}-python3.11"]
    assert airflow["airflowVersion"] == lock["apache-airflow"]


def test_the_airflow_image_installs_its_own_lock_and_keeps_the_images_airflow():
    final = parse((AIRFLOW / "Dockerfile").read_text()).stages[-1]
    (install,) = [i.args for i in final.instructions if i.keyword == "RUN"]
    requirements, lock = _pins(AIRFLOW / "requirements.txt"), _pins(AIRFLOW / "constraints.txt")

    assert "--constraint /tmp/deps/constraints.txt" in install
    assert "--requirement /tmp/deps/requirements.txt" in install
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install  # pip cannot move Airflow
    assert all(version for version in requirements.values()), "every requirement pinned"
    assert {name: lock.get(name) for name in requirements} == requirements


def test_the_airflow_image_bakes_in_the_whole_dag_folder_after_its_dependencies():
    final = parse((AIRFLOW / "Dockerfile").read_text()).stages[-1]
    copies = [(i.line, i.flags_and_words()[1]) for i in final.instructions if i.keyword == "COPY"]
    (install,) = [i.line for i in final.instructions if i.keyword == "RUN"]
    dags = [(line, words) for line, words in copies if words[0].startswith("dags")]

    assert [words for _, words in dags] == [["dags/", "/opt/airflow/dags/"]]
    assert dags[0][0] > install  # a DAG edit rebuilds one layer, not the providers
    for helper in ("dags/_contract.json", "dags/.airflowignore", "dags/_jobs.py"):
        assert not dockerignore_excludes(helper, read_dockerignore(ROOT)), helper


def test_the_airflow_image_runs_as_the_official_images_airflow_user():
    # UID 50000, group 0: the user the official image installs for and the Airflow chart's
    # default uid/gid; numeric, so runAsNonRoot can verify it.
    final = parse((AIRFLOW / "Dockerfile").read_text()).stages[-1]
    users = [i.args.strip() for i in final.instructions if i.keyword == "USER"]

    assert users and set(users) == {"50000:0"}


def test_the_chart_runs_the_airflow_image_at_its_app_version_in_every_airflow_pod():
    app_version, airflow = _chart()
    images = airflow["images"]

    assert images["airflow"] == {"repository": "ghcr.io/retail-platform/airflow",
                                 "tag": app_version}
    assert images["pod_template"] == images["airflow"]  # the task pods parse the DAGs too
    assert airflow["dags"]["gitSync"]["enabled"] is False
    assert airflow["dags"]["persistence"]["enabled"] is False


def test_the_dashboard_image_serves_the_dashboards_from_the_base_as_the_charts_user():
    dockerfile = parse((DASHBOARD / "Dockerfile").read_text())
    final = dockerfile.stages[-1]
    words = {i.keyword: json.loads(i.args) if i.args.startswith("[") else i.args.split()
             for i in final.instructions if i.keyword in ("ENTRYPOINT", "CMD", "USER", "EXPOSE")}
    app_version, _ = _chart()
    images = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["images"]

    assert [s.image for s in dockerfile.stages] == [f"retail-platform/base:{app_version}"]
    assert words["ENTRYPOINT"] + words["CMD"] == [
        "retail", "dashboard", "serve", "--host", "0.0.0.0", "--identity", "header"]
    assert words["USER"] == ["10001:10001"] and words["EXPOSE"] == ["8050"]
    assert not [i for i in final.instructions if i.keyword in ("RUN", "COPY", "ADD")]
    assert images["dashboard"] == {"repository": "retail-platform/dashboard"}


# --- hadolint -----------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_hadolint_passes(dockerfile):
    result = _hadolint(dockerfile)

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_an_unpinned_apt_get_install(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:12.5\n"
                   "RUN apt-get update && apt-get install -y --no-install-recommends curl \\\n"
                   "    && rm -rf /var/lib/apt/lists/*\nUSER 10001\n")

    result = _hadolint(bad)

    assert result.returncode != 0
    assert [f["code"] for f in json.loads(result.stdout)] == ["DL3008"]


# --- policy -------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_the_image_policy_holds(dockerfile):
    assert policy_problems(dockerfile.read_text(), ROOT) == []


GOOD_TAIL = "FROM python:3.11.15-slim-bookworm\nCOPY jobs/ /opt/retail/jobs/\n"


@pytest.mark.parametrize("user_lines", ["", "USER root\n", "USER 0:0\n", "USER retail\n"],
                         ids=["no USER", "root", "uid 0", "a name"])
def test_a_final_stage_without_a_numeric_non_root_user_is_reported(user_lines):
    problems = policy_problems(GOOD_TAIL + user_lines, ROOT)

    assert len(problems) == 1 and "USER" in problems[0]


def test_a_non_root_user_in_a_build_stage_does_not_cover_the_final_stage():
    text = "FROM python:3.11.15-slim-bookworm AS build\nUSER 10001\n" + GOOD_TAIL

    assert policy_problems(text, ROOT) == [
        "the final stage sets no USER, so the image runs as root: add USER 10001:10001"]


@pytest.mark.parametrize("image", ["python", "python:latest", "python:3.11-slim",
                                   "ghcr.io/x/y:main"])
def test_a_base_image_without_an_exact_version_is_reported(image):
    problems = policy_problems(f"FROM {image}\nUSER 10001\n", ROOT)

    assert problems == [f"line 1: FROM {image} is not pinned: use an exact version tag such as "
                        f"{image.rsplit(':', 1)[0]}:1.2.3 or a digest"]


def test_base_images_pinned_by_tag_digest_or_arg_default_pass():
    text = ("ARG IMG=python:3.11.15-slim-bookworm\nFROM ${IMG} AS a\n"
            "FROM debian@sha256:" + "0" * 64 + " AS b\nFROM a\nUSER 10001\n")

    assert policy_problems(text, ROOT) == []


def test_a_copy_source_missing_from_the_repository_is_reported():
    problems = policy_problems(GOOD_TAIL + "COPY jobs/no_such_job.py /x\nUSER 10001\n", ROOT)

    assert problems == ["line 3: COPY jobs/no_such_job.py: no such file in the repository "
                        "(sources are relative to the repo root)"]


def test_a_copy_source_that_dockerignore_drops_is_reported():
    problems = policy_problems(GOOD_TAIL + "COPY tests/conftest.py /x\nUSER 10001\n", ROOT)

    assert problems == ["line 3: COPY tests/conftest.py: .dockerignore leaves it out of the "
                        "build context"]


def test_installing_dependencies_after_the_package_code_is_reported():
    text = ("FROM python:3.11.15-slim-bookworm\nCOPY pkg/ /src/pkg/\n"
            "RUN pip install --no-cache-dir -c constraints.txt -r requirements.txt\n"
            "USER 10001\n")

    problems = policy_problems(text, ROOT)

    assert len(problems) == 1 and problems[0].startswith(
        "line 3: installs packages after the package code (line 2)")


def test_installing_packages_in_a_job_image_on_top_of_the_base_is_reported():
    text = ("FROM retail-platform/base:0.1.0\n"
            "RUN pip install --no-cache-dir requests==2.32.3\nUSER 10001\n")

    assert policy_problems(text, ROOT)[0].startswith(
        "line 2: installs packages after the package code (line 1)")


def test_a_wheel_installed_without_a_locked_dependency_layer_is_reported():
    text = ("FROM python:3.11.15-slim-bookworm AS wheel\nCOPY pkg/ /src/pkg/\n"
            "FROM python:3.11.15-slim-bookworm\nCOPY --from=wheel /dist/ /tmp/dist/\n"
            "RUN pip install --no-cache-dir /tmp/dist/*.whl\nUSER 10001\n")

    assert policy_problems(text, ROOT) == [
        "line 5: installs the package wheel with no locked dependency layer before it "
        "(pip install --constraint constraints.txt --requirement ...)"]


# --- build context ------------------------------------------------------------------------
@pytest.mark.parametrize("path", [".venv/bin/python", ".git/HEAD", ".retail/lake/x.parquet",
                                  "tests/conftest.py", "docs/deploy.md", "charts/x/Chart.yaml",
                                  "pkg/retail/__pycache__/x.pyc", "pkg/retail_platform.egg-info"])
def test_dockerignore_keeps_local_state_tests_and_docs_out_of_the_build_context(path):
    assert dockerignore_excludes(path, read_dockerignore(ROOT))


@pytest.mark.parametrize("path", ["constraints.txt", "pkg/pyproject.toml", "pkg/README.md",
                                  "pkg/retail/settings.py", "jobs/pos_generator.py",
                                  "images/stream_processor/entrypoint.sh",
                                  "images/airflow/constraints.txt", "dags/etl_close_day.py",
                                  "dags/_contract.json", "dags/.airflowignore"])
def test_dockerignore_keeps_what_the_images_copy(path):
    assert not dockerignore_excludes(path, read_dockerignore(ROOT))
