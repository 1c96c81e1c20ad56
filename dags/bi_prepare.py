"""Power BI data preparation, every 15 minutes: the views the dashboards read answer within
their budget.

The dashboards read the `bi_` views in DirectQuery; the materialized views behind them fill
at insert, so nothing needs rebuilding on a schedule. This DAG runs the `bi.*` data-quality
checks (docs/data-quality.md): each `bi_` view answers a bounded query within its budget,
recorded in `dq_results` and alerted when it does not.
"""

from datetime import timedelta

from airflow.sdk import DAG

from _jobs import dag_settings, job_task

with DAG(
    dag_id="bi_prepare",
    schedule="*/15 * * * *",
    tags=["retail", "bi"],
    doc_md=__doc__,
    **dag_settings(retries=1),
) as dag:
    job_task("data_quality", ["--check", "bi.*"], task_id="check_bi_views",
             timeout=timedelta(minutes=10))
