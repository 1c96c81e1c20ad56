"""Daily ETL: closes yesterday (store-local business day) and checks it.

Every day at 08:00 UTC (every store's day is over by then: stores run down to UTC-8),
`daily_etl` reconciles the day's cleaned events in the lake with the warehouse's facts,
inserts what the stream missed and writes the end-of-day snapshot; then `data_quality`
runs the content checks (completeness, volume, consistency, validity) on the closed day.
The features DAG waits for this day's
`daily_etl` success in `job_runs`, so a day that did not close is never featurized.
"""

from datetime import timedelta

from airflow.sdk import DAG

from _jobs import DAY, dag_settings, job_task

CONTENT_CHECKS = ["--check", "completeness.*", "--check", "volume.*",
                  "--check", "consistency.*", "--check", "validity.*"]

with DAG(
    dag_id="etl_close_day",
    schedule="0 8 * * *",
    tags=["retail", "etl"],
    doc_md=__doc__,
    **dag_settings(),
) as dag:
    close = job_task("daily_etl", ["--date", DAY], timeout=timedelta(hours=2))
    # The closed day's content; freshness and the stream's health judge "now", which is the
    # hourly quality_check DAG's business.
    check = job_task("data_quality", ["--date", DAY, *CONTENT_CHECKS],
                     timeout=timedelta(minutes=30))
    close >> check
