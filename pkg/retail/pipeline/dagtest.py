"""One DAG run through ``airflow dags test`` (``dag.test()``), its progress read from
Airflow's output as it comes, its task states from the metadata database at the end.

``dag.test()`` runs the tasks one at a time in its own process and logs
``[DAG TEST] starting task_id=X`` and ``[DAG TEST] end task task_id=X`` around each try;
between them the execution API logs the try's ``new_state=`` (success, failed, up_for_retry,
up_for_reschedule, skipped), and the run ends with ``DagRun Finished: ... state=...``.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from retail.pipeline.airflow_cli import AirflowCli, AirflowError
from retail.pipeline.plan import PlannedRun

_TASK = r"task_id=(\S+) map_index=(-?\d+)"
_STARTING = re.compile(r"\[DAG TEST\] starting " + _TASK)
_END = re.compile(r"\[DAG TEST\] end task " + _TASK)
# Why a task skipped (a job with nothing to do yet says so in its exception).
_SKIPPED = re.compile(r"Skipping task\.\s.*\breason='(.*)'$")
_NEW_STATE = re.compile(r"Task instance state updated .*\bnew_state=(\w+)")
_FINISHED = re.compile(r"DagRun Finished: dag_id=([^,]+), .*?\brun_id=([^,]+), .*?, "
                       r"state=(\w+),")
# The last line of a traceback: "airflow.exceptions.AirflowException: Bash command failed..."
_EXCEPTION = re.compile(r"^(?:[a-z_]\w*\.)*([A-Z]\w*: \S.*)$")
# A job's own error line (retail.log's console format) in the task log: the job's reason.
_JOB_ERROR = re.compile(r"\] \d\d:\d\d:\d\d ERROR +(.+?) +\[airflow\.task\.")
# The runs go one after another, so a DAG's sensor finds its upstream day already finished
# or never will: it gives up after 20 s (four pokes), not the scheduler's hours (the caller's
# AIRFLOW_VAR_RETAIL_WAIT_TIMEOUT_S wins).
RUN_DEFAULTS = {"AIRFLOW_VAR_RETAIL_WAIT_TIMEOUT_S": "20"}
# States Airflow stamps with start = end without running the task.
_NEVER_RAN = {"upstream_failed", "removed"}


@dataclass(frozen=True)
class TaskEvent:
    """A task try began (``state`` None) or ended with ``state`` after ``seconds``."""

    task: str
    try_number: int
    state: str | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class OutputReader:
    """Airflow's output lines in, task events out; the run's id and state at its end."""

    clock: Callable[[], float] = time.monotonic
    run_id: str | None = None
    state: str | None = None
    last_error: str | None = None
    tries: dict[str, int] = field(default_factory=dict)
    _task: str | None = None
    _started: float = 0.0
    _try_state: str | None = None
    _try_error: str | None = None
    _job_error: str | None = None

    def feed(self, line: str) -> TaskEvent | None:
        line = line.rstrip("\n")
        if match := _STARTING.search(line):
            self._task, self._started = _label(*match.groups()), self.clock()
            self._try_state = self._try_error = self._job_error = None
            self.tries[self._task] = self.tries.get(self._task, 0) + 1
            return TaskEvent(self._task, self.tries[self._task])
        if match := _END.search(line):
            task = _label(*match.groups())
            event = TaskEvent(task, self.tries.get(task, 1), self._try_state or "ended",
                              self.clock() - self._started, self._try_error)
            self._task = None
            return event
        if match := _NEW_STATE.search(line):
            if self._task is not None:
                self._try_state = match.group(1)
        elif match := _FINISHED.search(line):
            self.run_id, self.state = match.group(2).strip(), match.group(3)
        elif match := _SKIPPED.search(line):
            if self._task is not None:
                self._try_error = match.group(1)
        elif match := _JOB_ERROR.search(line):
            self._job_error = match.group(1)
        elif match := _EXCEPTION.match(line):
            self.last_error = match.group(1).strip()
            if self._task is not None:
                self._try_error = self.last_error + (f" ({self._job_error})" if self._job_error
                                                     else "")
        return None


def _label(task_id: str, map_index: str) -> str:
    return task_id if map_index == "-1" else f"{task_id}[{map_index}]"


@dataclass(frozen=True)
class TaskResult:
    task: str
    state: str
    seconds: float | None


@dataclass(frozen=True)
class RunResult:
    run: PlannedRun
    state: str  # success | failed (a run that never finished counts as failed)
    run_id: str | None
    tasks: tuple[TaskResult, ...]
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "success"


def task_results(rows: object) -> tuple[TaskResult, ...]:
    """``airflow tasks states-for-dag-run -o json`` rows as results (seconds from the last
    try's start to its end; none for a task that never ran)."""
    results = []
    for row in rows if isinstance(rows, list) else []:
        start, end = row.get("start_date"), row.get("end_date")
        ran = start and end and row.get("state") not in _NEVER_RAN
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() \
            if ran else None
        results.append(TaskResult(row["task_id"], row.get("state") or "none", seconds))
    return tuple(results)


def run_dag(cli: AirflowCli, run: PlannedRun, log: TextIO,
            on_event: Callable[[TaskEvent], None]) -> RunResult:
    """``airflow dags test <dag> <logical date>``: every output line to ``log``, each task
    try to ``on_event``; then the states of every task of the run."""
    started = time.monotonic()
    logical = run.logical_date.isoformat()
    log.write(f"\n===== {run.dag.dag_id} for {run.day} (logical date {logical}) =====\n")
    log.flush()
    reader = OutputReader()
    with cli.popen("dags", "test", run.dag.dag_id, logical, defaults=RUN_DEFAULTS) as proc:
        for line in proc.stdout:
            log.write(line)
            if (event := reader.feed(line)) is not None:
                log.flush()
                on_event(event)
    log.flush()
    seconds = time.monotonic() - started
    if reader.run_id is None:  # never ran: the DAG is missing or failed to parse
        why = parse_error(cli, run.dag.dag_id) or reader.last_error or \
            f"airflow dags test exited with code {proc.returncode}"
        return RunResult(run, "failed", None, (), seconds, why)
    try:
        tasks = task_results(cli.json("tasks", "states-for-dag-run", run.dag.dag_id,
                                      reader.run_id))
    except AirflowError as exc:  # the run's own state stands; say why the table is short
        log.write(f"task states unavailable: {exc}\n")
        tasks = ()
    state = reader.state if reader.state in ("success", "failed") else "failed"
    return RunResult(run, state, reader.run_id, tasks, seconds,
                     None if state == "success" else reader.last_error)


def parse_error(cli: AirflowCli, dag_id: str) -> str | None:
    """Why ``dags/<dag_id>.py`` does not import under Airflow's Python (``dags test`` only
    says the DAG "could not be found"); None if it imports or does not exist."""
    source = Path(cli.env["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    if not source.exists():
        return f"{source} does not exist"
    done = subprocess.run([str(cli.binary.with_name("python")), str(source)], env=cli.env,
                          cwd=source.parent, capture_output=True, text=True, timeout=120)
    errors = [m.group(1) for line in done.stderr.splitlines()
              if (m := _EXCEPTION.match(line))]
    return f"{source.name} does not import: {errors[-1]}" if done.returncode and errors \
        else None


def log_path(home: Path, kind: str, now: datetime) -> Path:
    """Where ``retail pipeline run`` keeps Airflow's output: ``<home>/logs/pipeline/``."""
    folder = home / "logs" / "pipeline"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{now:%Y%m%dT%H%M%SZ}-{kind}.log"
