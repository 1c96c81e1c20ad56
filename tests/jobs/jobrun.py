"""Running a job entrypoint the way its image does: ``python jobs/<job>.py`` in a process of
its own, with only the environment the test gives it (no stray ``RETAIL_*`` variables)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def job_env(**settings: str) -> dict[str, str]:
    """This process's environment without ``RETAIL_*``, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
    env.update(settings)
    return env


def job_command(job: str, *args: str) -> list[str]:
    return [sys.executable, str(JOBS / f"{job}.py"), *args]


def run_job(job: str, *args: str, env: dict[str, str],
            timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(job_command(job, *args), env=env, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)


def load_job(job: str) -> ModuleType:
    """``jobs/<job>.py`` as a module (its ``main(argv)``), loaded from the file as the image
    runs it."""
    spec = importlib.util.spec_from_file_location(f"job_{job}", JOBS / f"{job}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
