"""The local Airflow's command line, from its own virtualenv, with one environment shared by
``airflow dags test`` and the local stack's API server, scheduler and DAG processor.

Airflow's home is ``<local.home>/airflow``: ``airflow.cfg`` (written by Airflow on first use,
with the secrets its processes share), the SQLite metadata database ``airflow.db``, the task
logs and ``logs/pipeline/`` (the output of ``retail pipeline run``). The DAGs read their
settings from ``AIRFLOW_VAR_RETAIL_*`` variables (local execution, the repository and the
platform's Python that run ``jobs/<job>.py``, the warehouse their sensors ask); the jobs read
the caller's ``RETAIL_*`` environment, passed through with the local home made absolute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from retail.local.stack import StackError
from retail.settings import Settings

# pkg/retail/pipeline/airflow_cli.py -> the repository (an editable install, as make installs).
_PACKAGE_REPO = Path(__file__).resolve().parents[3]
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


class AirflowError(StackError):
    """The local Airflow is missing or one of its commands failed; the message says why."""


def repo_root(settings: Settings) -> Path:
    """The repository whose ``dags/`` Airflow parses and whose ``jobs/`` the tasks run."""
    root = (settings.airflow.repo or _PACKAGE_REPO).resolve()
    if not (root / "dags").is_dir() or not (root / "jobs").is_dir():
        raise AirflowError(f"{root} has no dags/ and jobs/: set RETAIL_AIRFLOW__REPO to the "
                           "repository's root (or install the package editable: make install)")
    return root


def home(settings: Settings) -> Path:
    return (settings.local.home / "airflow").resolve()


def venv(settings: Settings) -> Path:
    """Airflow's virtualenv: the one `make install` made beside this package's ``.venv``."""
    return (settings.airflow.venv or _PACKAGE_REPO / ".venv-airflow").resolve()


def version(settings: Settings) -> str:
    """The Airflow version installed in the virtualenv (from its package metadata)."""
    found = sorted(venv(settings).glob("lib/python*/site-packages/apache_airflow_core-*"
                                       ".dist-info"))
    return found[-1].name.removeprefix("apache_airflow_core-").removesuffix(".dist-info") \
        if found else "unknown"


def api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.airflow.api_port}"


def environment(settings: Settings) -> dict[str, str]:
    """The caller's environment plus what every local Airflow process needs."""
    air = home(settings)
    repo = repo_root(settings)
    wh = settings.resolved_warehouse()
    url = api_url(settings)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(air),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{air / 'airflow.db'}",
        # One machine: LocalExecutor (Airflow 3 has no other local executor; it accepts
        # SQLite), a few tasks at once, the task runners report to the API server on loopback.
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow.parallelism),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.airflow.api_port),
        "AIRFLOW__API__BASE_URL": f"{url}/",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # Airflow 3's simple auth manager with one admin; its password file is ours (see
        # retail.local.airflow_server), never a default password.
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple."
                                       "simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(air / PASSWORDS_FILE),
        # Progress is read from the output as it comes, not in 8 KiB blocks.
        "PYTHONUNBUFFERED": "1",
        # The DAGs' local mode (dags/_jobs.py): jobs/<job>.py run by the platform's Python.
        "AIRFLOW_VAR_RETAIL_EXECUTION": "local",
        "AIRFLOW_VAR_RETAIL_REPO": str(repo),
        "AIRFLOW_VAR_RETAIL_PYTHON": sys.executable,
        "AIRFLOW_VAR_RETAIL_WAREHOUSE_URL": wh.url,
        "AIRFLOW_VAR_RETAIL_WAREHOUSE_DATABASE": wh.database,
        "AIRFLOW_VAR_RETAIL_WAREHOUSE_USER": wh.user,
        # The jobs run in another working directory: the local state by absolute paths.
        "RETAIL_LOCAL__HOME": str(settings.local.home.resolve()),
    }
    if wh.password is not None:
        env["AIRFLOW_VAR_RETAIL_WAREHOUSE_PASSWORD"] = wh.password.get_secret_value()
    if not settings.lake.is_s3:
        env["RETAIL_LAKE__ROOT"] = str(Path(settings.lake.root).expanduser().resolve())
    return env


class AirflowCli:
    """``airflow ...`` commands of the local Airflow, each in a subprocess."""

    def __init__(self, settings: Settings) -> None:
        self.binary = venv(settings) / "bin" / "airflow"
        if not os.access(self.binary, os.X_OK):
            raise AirflowError(
                f"the local Airflow runs from its own virtualenv and {self.binary} is missing: "
                "run `make install` (it creates .venv-airflow with Airflow and the providers "
                "of images/airflow/) or set RETAIL_AIRFLOW__VENV")
        self.home = home(settings)
        self.env = environment(settings)
        self.version = version(settings)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), *args]

    def popen(self, *args: str, log: Path | None = None, defaults: dict[str, str] | None = None,
              **kwargs) -> subprocess.Popen:
        """Start ``airflow <args>``: its output appended to ``log``, else piped as text.
        ``defaults``: variables for this command unless the environment sets them."""
        env = {**(defaults or {}), **self.env}
        if log is None:
            return subprocess.Popen(self.command(*args), env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, errors="replace", **kwargs)
        with log.open("ab") as fh:
            return subprocess.Popen(self.command(*args), env=env, stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    **kwargs)

    def run(self, *args: str, timeout_s: float = 300.0) -> str:
        """Run ``airflow <args>`` to its end; its stdout, or an error with its output."""
        done = subprocess.run(self.command(*args), env=self.env, capture_output=True,
                              text=True, errors="replace", timeout=timeout_s)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-2000:]
            raise AirflowError(f"`airflow {' '.join(args)}` failed with exit code "
                               f"{done.returncode}:\n{tail}")
        return done.stdout

    def json(self, *args: str) -> object:
        """``airflow <args> -o json``: the JSON document among its output lines."""
        out = self.run(*args, "-o", "json")
        for line in reversed(out.splitlines()):
            if line.startswith(("[", "{")):
                return json.loads(line)
        raise AirflowError(f"`airflow {' '.join(args)} -o json` printed no JSON:\n{out[-2000:]}")

    def migrate(self) -> bool:
        """Create or upgrade the metadata database once per Airflow version (a stamp file
        beside it); True if it ran now."""
        stamp = self.home / f".migrated-{self.version}"
        if stamp.exists() and (self.home / "airflow.db").exists():
            return False
        log = self.home / "logs" / "db-migrate.log"
        with log.open("ab") as fh:
            code = subprocess.run(self.command("db", "migrate"), env=self.env, stdout=fh,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        if code != 0:
            raise AirflowError(f"`airflow db migrate` failed with exit code {code}; see {log}:\n"
                               f"{log.read_text(errors='replace')[-2000:]}")
        stamp.touch()
        return True
