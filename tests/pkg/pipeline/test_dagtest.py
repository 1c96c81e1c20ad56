"""Reading ``airflow dags test``'s output (retail.pipeline.dagtest): lines captured from
Airflow 3.1.8 running the real etl_close_day DAG (a job that failed) and a two-try task."""

from __future__ import annotations

from itertools import count

from retail.pipeline.dagtest import OutputReader, TaskEvent, task_results

# A failing daily_etl, as Airflow 3.1.8 printed it (stdout and stderr in one pipe).
FAILED_JOB = """\
2026-12-06T16:36:16.515777Z [info     ] [DAG TEST] starting task_id=daily_etl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1369
2026-12-06T16:36:16.515990Z [info     ] [DAG TEST] running task <TaskInstance: etl_close_day.daily_etl manual__2026-12-06T16:36:16.486805+00:00 [TaskInstanceState.SCHEDULED]> [airflow.sdk.definitions.dag] loc=dag.py:1372
2026-12-06T16:36:17.997407Z [info     ] running /work/main/.venv/bin/python3 /work/main/jobs/daily_etl.py --date 2026-11-20 [airflow.task.operators._jobs.LocalJobOperator] loc=_jobs.py:143
2026-12-06T16:36:26.197154Z [info     ] 16:36:26 ERROR   daily_etl daily ETL failed error=the warehouse has 0 stores and 0 products in retail.dim_store/dim_product: load them first (`retail warehouse load-dims`) [airflow.task.operators._jobs.LocalJobOperator] loc=_jobs.py:149
2026-12-06T16:36:27.150000Z [error    ] Task failed with exception     [task] loc=task_runner.py:1164
Traceback (most recent call last):
  File "/work/main/dags/_jobs.py", line 158, in execute
    raise AirflowException(f"{script.name} {' '.join(self.arguments)} exited {code}")
airflow.exceptions.AirflowException: daily_etl.py --date 2026-11-20 exited 1
2026-12-06T16:36:27.169432Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:424 new_state=failed rows_affected=1 ti_id=01a24c36-99f6-7969-ba0f-ac63a02dd525
2026-12-06T16:36:27.184580Z [info     ] [DAG TEST] end task task_id=daily_etl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1426
2026-12-06T16:36:27.198277Z [info     ] DagRun Finished: dag_id=etl_close_day, logical_date=2026-11-21 08:00:00+00:00, run_id=manual__2026-12-06T16:36:16.486805+00:00, run_start_date=2026-11-21 08:00:00+00:00, run_end_date=2026-12-06 16:36:27.198194+00:00, run_duration=1326987.198194, state=failed, run_type=manual, data_interval_start=2026-11-21 08:00:00+00:00, data_interval_end=2026-11-21 08:00:00+00:00, [airflow.models.dagrun.DagRun] loc=dagrun.py:1275
"""

# A task that succeeded, then one retried once (dag.test() waits out the retry delay).
RETRIED = """\
2026-12-06T16:26:06.756715Z [info     ] [DAG TEST] starting task_id=a map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1369
2026-12-06T16:26:09.430155Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:424 new_state=success rows_affected=1 ti_id=01a24c2d-4c16-79bc-97c9-327e99fdcf20
2026-12-06T16:26:09.438690Z [info     ] [DAG TEST] end task task_id=a map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1426
2026-12-06T16:26:09.444733Z [info     ] [DAG TEST] starting task_id=b map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1369
airflow.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 1.
2026-12-06T16:26:10.718726Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:424 new_state=up_for_retry rows_affected=1 ti_id=01a24c2d-4c17-791a-b0c1-173984bec0e1
2026-12-06T16:26:10.726641Z [info     ] [DAG TEST] end task task_id=b map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1426
2026-12-06T16:26:10.732185Z [warning  ] No tasks to run. unrunnable tasks: {<TaskInstance: tiny.b manual__2026-12-06T16:26:06.728278+00:00 [up_for_retry]>, <TaskInstance: tiny.c manual__2026-12-06T16:26:06.728278+00:00 [None]>} [airflow.sdk.definitions.dag] loc=dag.py:1294
2026-12-06T16:26:15.782183Z [info     ] [DAG TEST] starting task_id=b map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1369
2026-12-06T16:26:17.228301Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:424 new_state=success rows_affected=1 ti_id=01a24c2d-5b9e-73a0-b908-e4a16042f321
2026-12-06T16:26:17.233913Z [info     ] [DAG TEST] end task task_id=b map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1426
2026-12-06T16:26:23.346945Z [info     ] DagRun Finished: dag_id=tiny, logical_date=2026-12-03 08:00:00+00:00, run_id=manual__2026-12-06T16:26:06.728278+00:00, run_start_date=2026-12-03 08:00:00+00:00, run_end_date=2026-12-06 16:26:23.346884+00:00, run_duration=289583.346884, state=success, run_type=manual, data_interval_start=2026-12-03 08:00:00+00:00, data_interval_end=2026-12-03 08:00:00+00:00, [airflow.models.dagrun.DagRun] loc=dagrun.py:1275
"""


def events(text: str) -> tuple[OutputReader, list[TaskEvent]]:
    ticks = count()
    reader = OutputReader(clock=lambda: float(next(ticks)))
    return reader, [e for line in text.splitlines(keepends=True)
                    if (e := reader.feed(line)) is not None]


def test_a_failed_job_ends_its_task_failed_with_airflows_reason_and_the_jobs_own():
    reader, seen = events(FAILED_JOB)
    assert seen == [
        TaskEvent("daily_etl", 1),
        TaskEvent("daily_etl", 1, "failed", 1.0,
                  "AirflowException: daily_etl.py --date 2026-11-20 exited 1 (daily_etl daily "
                  "ETL failed error=the warehouse has 0 stores and 0 products in "
                  "retail.dim_store/dim_product: load them first (`retail warehouse "
                  "load-dims`))"),
    ]
    assert (reader.run_id, reader.state) == \
        ("manual__2026-12-06T16:36:16.486805+00:00", "failed")


SKIPPED_JOB = """\
2026-12-06T17:14:00.101Z [info     ] [DAG TEST] starting task_id=predict_daily map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1369
2026-12-06T17:14:07.615413Z [info     ] Skipping task.                 [task] loc=task_runner.py:1137 reason='predict_daily.py exited 3, nothing to do yet: demand_forecast has no champion: train it first'
2026-12-06T17:14:07.62Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:424 new_state=skipped rows_affected=1 ti_id=01
2026-12-06T17:14:07.63Z [info     ] [DAG TEST] end task task_id=predict_daily map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1426
"""


def test_a_skipped_task_carries_the_reason_its_job_gave():
    _, seen = events(SKIPPED_JOB)
    assert seen[-1] == TaskEvent(
        "predict_daily", 1, "skipped", 1.0,
        "predict_daily.py exited 3, nothing to do yet: demand_forecast has no champion: "
        "train it first")


def test_each_try_is_its_own_start_and_end_and_a_retry_counts_up():
    reader, seen = events(RETRIED)
    assert [(e.task, e.try_number, e.state) for e in seen] == [
        ("a", 1, None), ("a", 1, "success"),
        ("b", 1, None), ("b", 1, "up_for_retry"),
        ("b", 2, None), ("b", 2, "success"),
    ]
    assert seen[3].error == "AirflowException: Bash command failed. The command returned a " \
                            "non-zero exit code 1."
    assert seen[5].error is None  # the second try's start forgot the first one's reason
    assert reader.state == "success" and reader.tries == {"a": 1, "b": 2}


def test_a_mapped_task_is_named_with_its_index():
    reader = OutputReader()
    event = reader.feed("2026-12-06T16:26:06Z [info     ] [DAG TEST] starting task_id=score "
                        "map_index=3 [airflow.sdk.definitions.dag] loc=dag.py:1369\n")
    assert event == TaskEvent("score[3]", 1)


def test_a_dag_that_never_ran_leaves_no_run_id_and_its_reason():
    reader, seen = events(
        "Traceback (most recent call last):\n"
        '  File "/x/airflow/utils/cli.py", line 297, in get_bagged_dag\n'
        "airflow.exceptions.AirflowException: Dag 'nope' could not be found; either it does "
        "not exist or it failed to parse.\n")
    assert seen == [] and reader.run_id is None
    assert reader.last_error == "AirflowException: Dag 'nope' could not be found; either it " \
                                "does not exist or it failed to parse."


def test_task_states_give_seconds_only_to_tasks_that_ran():
    rows = [  # `airflow tasks states-for-dag-run ... -o json`, Airflow 3.1.8
        {"dag_id": "tiny", "logical_date": "2026-12-02T08:00:00+00:00", "task_id": "a",
         "state": "success", "start_date": "2026-12-06T16:25:49.016014+00:00",
         "end_date": "2026-12-06T16:25:51.440719+00:00"},
        {"dag_id": "tiny", "logical_date": "2026-12-02T08:00:00+00:00", "task_id": "c",
         "state": "upstream_failed", "start_date": "2026-12-06T16:25:52.455079+00:00",
         "end_date": "2026-12-06T16:25:52.455079+00:00"},
        {"dag_id": "tiny", "logical_date": "2026-12-02T08:00:00+00:00", "task_id": "d",
         "state": None, "start_date": None, "end_date": None},
    ]
    results = task_results(rows)
    assert [(r.task, r.state) for r in results] == \
        [("a", "success"), ("c", "upstream_failed"), ("d", "none")]
    assert round(results[0].seconds, 3) == 2.425
    assert results[1].seconds is None and results[2].seconds is None
    assert task_results("not a list") == ()


def test_a_real_dag_imports_under_airflows_python_and_a_missing_one_is_named(monkeypatch,
                                                                           tmp_path):
    from retail.pipeline.airflow_cli import AirflowCli
    from retail.pipeline.dagtest import parse_error
    from retail.settings import load_settings
    from tests.dags.airflow_env import airflow_python

    monkeypatch.setenv("RETAIL_AIRFLOW__VENV", str(airflow_python().parent.parent))
    monkeypatch.setenv("RETAIL_LOCAL__HOME", str(tmp_path))
    cli = AirflowCli(load_settings())
    assert parse_error(cli, "etl_close_day") is None
    assert parse_error(cli, "etl_close_days").endswith("dags/etl_close_days.py does not exist")
