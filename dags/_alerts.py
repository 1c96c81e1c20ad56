"""What happens when a task has failed for good (its retries spent): a row in the warehouse's
``stream_alerts`` (``alert_type`` ``pipeline_task_failed``, no store or product, the DAG,
task, run and try in ``details``; the Power BI alerts page and ``retail`` show it) and, when ``AIRFLOW_VAR_RETAIL_ALERT_WEBHOOK`` names one, a JSON POST
to a notifier (a Slack or Teams incoming webhook, an Alertmanager, ...). A failing alert path
is logged, never raised: the task's own failure is what Airflow must record.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import uuid
from datetime import UTC, datetime

import _warehouse

ALERT_TYPE = "pipeline_task_failed"
log = logging.getLogger(__name__)


def describe(context) -> dict:
    """What the alert says about the failed task."""
    ti = context["ti"]
    exception = context.get("exception")
    return {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": context.get("run_id", ""),
            "logical_date": str(context.get("logical_date") or ""),
            "try_number": ti.try_number, "max_tries": getattr(ti, "max_tries", None),
            "error": str(exception)[:2000] if exception else ""}


def task_failed(context) -> None:
    """``on_failure_callback`` of every task (see ``_jobs.default_args``)."""
    what = describe(context)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    row = {"alert_id": str(uuid.uuid4()), "alert_type": ALERT_TYPE, "severity": "high",
           "status": "open", "store_id": "", "product_id": "",
           "metric_value": float(what["try_number"] or 0), "threshold": 0.0,
           "details": json.dumps(what), "event_time": now}
    try:
        _warehouse.insert("stream_alerts", [row])
    except Exception as exc:  # the alert must not hide the failure
        log.error("could not record the alert of %s.%s in stream_alerts: %s",
                  what["dag_id"], what["task_id"], exc)
    webhook = os.environ.get("AIRFLOW_VAR_RETAIL_ALERT_WEBHOOK")
    if webhook:
        text = (f"retail-platform: {what['dag_id']}.{what['task_id']} failed after "
                f"{what['try_number']} tries ({what['logical_date']}): {what['error'][:300]}")
        request = urllib.request.Request(
            webhook, data=json.dumps({"text": text, **what}).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except Exception as exc:
            log.error("the notifier at %s did not take the alert: %s", webhook, exc)
