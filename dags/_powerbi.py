"""The Power BI dataset refresh that ends the ``predictions_run`` DAG.

The Power BI model (powerbi/) reads every table in DirectQuery, so report pages are never
stale; a dataset refresh after the day's predictions renews what the service caches (the
model's metadata, its measure-only KPI table, tiles pinned to Power BI dashboards). A workspace on shared capacity (Pro)
accepts at most 8 refreshes a day per dataset, scheduled ones included: this DAG refreshes
once a day, and no frequent DAG (``bi_prepare`` runs every 15 minutes) may refresh.

Settings, environment variables read at parse time:

- ``AIRFLOW_VAR_RETAIL_POWERBI_WORKSPACE``, ``AIRFLOW_VAR_RETAIL_POWERBI_DATASET``: the
  workspace (group) id and the dataset id. Unless both are set, the task skips visibly.
- the connection ``powerbi_default`` (``AIRFLOW_CONN_POWERBI_DEFAULT``, from a Secret): the
  service principal, with the client id as login, the secret as password and
  ``{"tenant_id": ...}`` as extra.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.exceptions import AirflowSkipException
from airflow.sdk import BaseOperator

WORKSPACE_VAR = "AIRFLOW_VAR_RETAIL_POWERBI_WORKSPACE"
DATASET_VAR = "AIRFLOW_VAR_RETAIL_POWERBI_DATASET"
CONN_ID = "powerbi_default"
# A refresh of a DirectQuery model takes minutes at most; an hour means the service is stuck.
REFRESH_TIMEOUT = timedelta(hours=1)
# The only body a shared capacity accepts (anything else asks for an enhanced refresh,
# Premium only), and the only notification a service principal may ask for.
REQUEST_BODY = {"notifyOption": "NoNotification"}


class PowerBIRefreshSkipped(BaseOperator):
    """Stands where the refresh would be and ends skipped, saying what to set."""

    ui_color = "#f0e4a8"

    def __init__(self, *, reason: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def execute(self, context):
        raise AirflowSkipException(self.reason)


def powerbi_refresh_task(**task_kwargs) -> BaseOperator:
    """The last task of ``predictions_run``: refresh the Power BI dataset.

    Every table of the model (powerbi/) is DirectQuery, so reports always query the
    warehouse; the refresh renews what the service caches (metadata, the measure-only KPI
    table, tiles pinned to Power BI dashboards). The refresh counts against the service's quota, 8 a day per dataset on
    shared capacity; this DAG spends one of them a day.

    Args:
        **task_kwargs: arguments every operator takes (``task_id``, default
            ``powerbi_refresh``; ``retries``, callbacks...), so that both tasks accept them.

    Returns:
        ``PowerBIDatasetRefreshOperator`` on the connection ``powerbi_default``, which
        triggers the refresh and waits (deferred, in the triggerer) for it to complete, so a
        failed refresh fails the task; when the workspace or the dataset is not set, a task
        that ends skipped with a message naming both variables.
    """
    workspace = os.environ.get(WORKSPACE_VAR, "").strip()
    dataset = os.environ.get(DATASET_VAR, "").strip()
    kwargs = {"task_id": "powerbi_refresh", **task_kwargs}
    if not (workspace and dataset):
        missing = [name for name, value in ((WORKSPACE_VAR, workspace), (DATASET_VAR, dataset))
                   if not value]
        return PowerBIRefreshSkipped(
            reason=(f"Power BI refresh skipped: {' and '.join(missing)} not set. Set "
                    f"{WORKSPACE_VAR} and {DATASET_VAR} (the workspace and dataset ids) and "
                    f"the connection {CONN_ID} to refresh the dataset after the predictions."),
            **{"execution_timeout": timedelta(minutes=5), **kwargs})

    from airflow.providers.microsoft.azure.operators.powerbi import (
        PowerBIDatasetRefreshOperator,
    )

    return PowerBIDatasetRefreshOperator(**{
        "group_id": workspace,
        "dataset_id": dataset,
        "conn_id": CONN_ID,
        "request_body": REQUEST_BODY,
        "wait_for_completion": True,
        # How long the trigger polls for a terminal status, and the task's own limit.
        "timeout": REFRESH_TIMEOUT.total_seconds(),
        "execution_timeout": REFRESH_TIMEOUT + timedelta(minutes=5),
        "check_interval": 30,
        # Always deferrable since provider 12.x; saying so spares a warning at every parse.
        "deferrable": True,
        **kwargs,
    })
