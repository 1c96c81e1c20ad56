"""The DAGs of ``dags/`` run on one machine through a local Airflow, without importing it.

``retail pipeline run`` drives the Airflow virtualenv's own CLI (``airflow dags test``, which
is ``dag.test()``) in subprocesses: :mod:`.plan` says which DAG runs for which business day
at which logical date, :mod:`.airflow_cli` builds the environment every Airflow process of
the local stack shares, :mod:`.dagtest` runs one DAG and reads its progress from Airflow's
output.
"""
