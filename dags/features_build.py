"""Feature engineering: the feature store's row of yesterday, once the daily ETL closed it.

Every day at 09:00 UTC. The first task waits for `daily_etl`'s success for the day in
`job_runs`; it gives up after `AIRFLOW_VAR_RETAIL_WAIT_TIMEOUT_S` (6 hours by default) and
the day is not featurized (re-run the ETL, then clear this run). Then `build_features`
writes the day's features to `feature_store_daily` and the lake.
"""

from datetime import timedelta

from airflow.sdk import DAG

from _jobs import DAY, dag_settings, job_task, wait_for

with DAG(
    dag_id="features_build",
    schedule="0 9 * * *",
    tags=["retail", "features"],
    doc_md=__doc__,
    **dag_settings(),
) as dag:
    wait_for("daily_etl") >> job_task("build_features", ["--date", DAY],
                                      timeout=timedelta(hours=2))
