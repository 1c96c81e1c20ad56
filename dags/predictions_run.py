"""Batch predictions: yesterday's forecasts, reorders, anomalies, slow movers, cross-sell
and forecast accuracy, then the Power BI dataset's refresh.

Every day at 10:00 UTC, once `build_features` succeeded for the day (`job_runs`):
`predict_daily` (the champion forecast's next 7 days) then `optimize_stock` (reorder
recommendations from them); beside them the insight models score the day and
`evaluate_forecasts` compares the forecasts made for the day with what sold. A model with
no champion yet (before the first weekly training) has nothing to score with: its task
is skipped, not failed. Last, when a Power BI workspace is configured, the dataset is
refreshed (once a day, well inside the service's quota), renewing what the service caches.
"""

from datetime import timedelta

from airflow.sdk import DAG

from _jobs import DAY, dag_settings, job_task, wait_for
from _powerbi import powerbi_refresh_task

# The scoring jobs' exit code for "this model has no champion yet" (jobs/README.md).
NO_CHAMPION = 3

with DAG(
    dag_id="predictions_run",
    schedule="0 10 * * *",
    tags=["retail", "ml"],
    doc_md=__doc__,
    **dag_settings(),
) as dag:
    ready = wait_for("build_features")
    predict = job_task("predict_daily", ["--date", DAY], skip_on_exit_code=NO_CHAMPION)
    reorder = job_task("optimize_stock", ["--date", DAY], skip_on_exit_code=NO_CHAMPION)
    scores = [
        job_task("detect_anomalies", ["--date", DAY, "--task", "score"],
                 skip_on_exit_code=NO_CHAMPION),
        job_task("classify_slow_movers", ["--date", DAY, "--task", "score"],
                 skip_on_exit_code=NO_CHAMPION),
        job_task("train_recommendations", ["--date", DAY, "--task", "score"],
                 task_id="score_recommendations", skip_on_exit_code=NO_CHAMPION),
    ]
    evaluate = job_task("evaluate_forecasts", ["--date", DAY], timeout=timedelta(minutes=30))
    refresh = powerbi_refresh_task(task_id="powerbi_refresh", trigger_rule="none_failed")
    ready >> predict >> reorder
    ready >> scores
    ready >> evaluate
    [reorder, *scores, evaluate] >> refresh
