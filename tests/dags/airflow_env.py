"""Where the tests find Airflow, and the environment they run it in.

Airflow is not installed in the platform's ``.venv`` (its pins conflict): tests that need it
run it in a subprocess with the Python of Airflow's own virtualenv, ``.venv-airflow``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


def airflow_python() -> Path:
    """The Python that has Airflow: ``$AIRFLOW_PYTHON``, else ``<repo>/.venv-airflow/bin/python``.

    Raises:
        RuntimeError: neither exists (the tests need Airflow; they never skip without it).
    """
    configured = os.environ.get("AIRFLOW_PYTHON", "").strip()
    python = Path(configured) if configured else REPO / ".venv-airflow" / "bin" / "python"
    if not python.is_file():
        origin = "AIRFLOW_PYTHON" if configured else "the default"
        raise RuntimeError(f"No Airflow Python at {python} ({origin}): run `make install`, "
                           "which creates .venv-airflow, or set AIRFLOW_PYTHON to a Python "
                           "that has apache-airflow and the providers of "
                           "images/airflow/requirements.txt")
    return python


def airflow_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow subprocess: a clean home under ``tmp_path``.

    The caller's ``AIRFLOW_*`` variables are dropped (so a developer's settings do not leak
    into a test); the metadata database is SQLite in ``<tmp_path>/airflow-home``; the DAGs
    are the repository's, examples off. ``extra`` adds or overrides variables.
    """
    home = tmp_path / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    })
    env.update(extra)
    return env


def pipeline_env(settings: dict[str, str], **variables: str) -> dict[str, str]:
    """The environment of ``retail pipeline run`` for a test's chain: the caller's without its
    ``RETAIL_*`` and ``AIRFLOW*`` variables, the chain's ``settings`` (``RETAIL_*``), the
    local Airflow's virtualenv, and ``variables`` as ``AIRFLOW_VAR_RETAIL_<name>`` (what the
    DAGs read)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RETAIL_", "AIRFLOW"))}
    env.update(settings)
    env["RETAIL_AIRFLOW__VENV"] = str(airflow_python().parent.parent)
    env.update({f"AIRFLOW_VAR_RETAIL_{name}": value for name, value in variables.items()})
    return env


def pipeline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``retail pipeline run ARGS`` (the platform's CLI beside this Python), its output kept;
    under pytest's 300 s limit."""
    return subprocess.run([str(Path(sys.executable).with_name("retail")), "pipeline", "run",
                           *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=290)
