-- 0019: Airflow's own role (issue 20). Its sensors wait for a job's success in job_runs and
-- its failure callback records an alert in stream_alerts; the jobs themselves run in their
-- own pods as etl_writer. So the orchestrator may read job_runs and append to stream_alerts,
-- nothing else: no other table, no DDL, no access control. The user comes from a Secret
-- (the chart's ClickHouseInstallation user `orchestrator`), like the others of 0006.
CREATE ROLE IF NOT EXISTS orchestrator;
GRANT SELECT ON job_runs TO orchestrator;
GRANT INSERT ON stream_alerts TO orchestrator;
