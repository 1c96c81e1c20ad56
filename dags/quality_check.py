"""Data quality, hourly: fresh data, silent stores, volumes and the stream's health.

Five past every hour (the checks judge whole hours), `data_quality` runs every declared
check against the warehouse (docs/data-quality.md); results land in `dq_results`, each
failing error check raises a `stream_alerts` row. A failing check fails the task (after its
retries), which alerts through the DAG's failure callback as well.

On a cluster that already runs the chart's `dataQuality` CronJob, leave this DAG paused:
one hourly runner is enough.
"""

from datetime import timedelta

from airflow.sdk import DAG

from _jobs import dag_settings, job_task

with DAG(
    dag_id="quality_check",
    schedule="5 * * * *",
    tags=["retail", "quality"],
    doc_md=__doc__,
    **dag_settings(retries=1),
) as dag:
    job_task("data_quality", [], timeout=timedelta(minutes=15))
