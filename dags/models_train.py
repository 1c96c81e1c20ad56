"""Model training: every model learns again from the feature store, weekly.

Sundays at 02:00 UTC, as of Friday (the last day whose features were built by then; D is
the logical date minus two days): the demand forecast (tuned, backtested, registered), the
lead-time regression of the replenishment, the anomaly detector, the slow-mover classifier
and the cross-sell recommendations. Each job evaluates its model by time against its
baseline on the same window and moves the `champion` alias only when the new version beats
both the champion and the baseline (the decision and its reason are in the MLflow run).
"""

from datetime import timedelta

from airflow.sdk import DAG

from _jobs import dag_settings, job_task, wait_for

AS_OF = "{{ macros.ds_add(ds, -2) }}"

with DAG(
    dag_id="models_train",
    schedule="0 2 * * 0",
    tags=["retail", "ml"],
    doc_md=__doc__,
    **dag_settings(),
) as dag:
    ready = wait_for("build_features", AS_OF)
    ready >> [
        job_task("train_demand_forecast", ["--as-of", AS_OF], timeout=timedelta(hours=4)),
        job_task("optimize_stock", ["--train", "--as-of", AS_OF], task_id="train_lead_time",
                 timeout=timedelta(hours=2)),
        job_task("detect_anomalies", ["--date", AS_OF, "--task", "train"],
                 task_id="train_anomalies", timeout=timedelta(hours=2)),
        job_task("classify_slow_movers", ["--date", AS_OF, "--task", "train"],
                 task_id="train_slow_movers", timeout=timedelta(hours=2)),
        job_task("train_recommendations", ["--date", AS_OF, "--task", "train"],
                 timeout=timedelta(hours=4)),
    ]
