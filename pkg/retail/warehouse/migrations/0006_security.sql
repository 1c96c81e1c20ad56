-- Access control for BI and ETL. Applied by a real ClickHouse server; the local chDB
-- server has no access control and skips these statements (it says so once).
--
-- Users and passwords are not created here: they come from Secrets (the chart's
-- ClickHouseInstallation users, or `CREATE USER ... IDENTIFIED BY` run by an admin with a
-- password from a secret store) and are granted one of these roles:
--   bi_reader   direct BI users (analysts, store and regional managers, Grafana, DBeaver):
--               SELECT on bi_* views only, read-only profile, quota, row-level security.
--   bi_gateway  the Power BI on-premises gateway's single stored credential: all rows of
--               the bi_* views; the Power BI model applies RLS with bi_user_access.
--   etl_writer  jobs: read and write the warehouse tables, never access control.

CREATE ROLE IF NOT EXISTS bi_reader;
CREATE ROLE IF NOT EXISTS bi_gateway;
CREATE ROLE IF NOT EXISTS etl_writer;

CREATE SETTINGS PROFILE IF NOT EXISTS bi_readonly
    SETTINGS readonly = 2, max_execution_time = 60, max_memory_usage = 4000000000,
             max_result_rows = 1000000, result_overflow_mode = 'throw',
             max_concurrent_queries_for_user = 20
    TO bi_reader, bi_gateway;

CREATE QUOTA IF NOT EXISTS bi_hourly
    KEYED BY user_name
    FOR INTERVAL 1 hour MAX queries = 5000, errors = 500, execution_time = 3600
    TO bi_reader, bi_gateway;

GRANT SELECT ON bi_dim_date TO bi_reader, bi_gateway;
GRANT SELECT ON bi_dim_store TO bi_reader, bi_gateway;
GRANT SELECT ON bi_dim_product TO bi_reader, bi_gateway;
GRANT SELECT ON bi_dim_supplier TO bi_reader, bi_gateway;
GRANT SELECT ON bi_fact_sales TO bi_reader, bi_gateway;
GRANT SELECT ON bi_fact_sales_daily TO bi_reader, bi_gateway;
GRANT SELECT ON bi_fact_inventory_daily TO bi_reader, bi_gateway;
GRANT SELECT ON bi_inventory_current TO bi_reader, bi_gateway;
GRANT SELECT ON bi_fact_lost_sales TO bi_reader, bi_gateway;
GRANT SELECT ON bi_fact_predictions TO bi_reader, bi_gateway;
GRANT SELECT ON bi_stream_alerts TO bi_reader, bi_gateway;
GRANT SELECT ON bi_user_access TO bi_reader, bi_gateway;

GRANT SELECT, INSERT, OPTIMIZE, SHOW TABLES, SHOW COLUMNS ON dim_date TO etl_writer;
GRANT SELECT, INSERT, OPTIMIZE, SHOW TABLES, SHOW COLUMNS ON dim_store TO etl_writer;
GRANT SELECT, INSERT, OPTIMIZE, SHOW TABLES, SHOW COLUMNS ON dim_product TO etl_writer;
GRANT SELECT, INSERT, OPTIMIZE, SHOW TABLES, SHOW COLUMNS ON dim_supplier TO etl_writer;
GRANT SELECT, INSERT ON fact_sales TO etl_writer;
GRANT SELECT, INSERT ON fact_inventory TO etl_writer;
GRANT SELECT, INSERT ON fact_price_changes TO etl_writer;
GRANT SELECT, INSERT ON fact_lost_sales TO etl_writer;
GRANT SELECT, INSERT ON fact_supplier_shipments TO etl_writer;
GRANT SELECT, INSERT ON fact_ml_predictions TO etl_writer;
GRANT SELECT, INSERT ON raw_events TO etl_writer;
GRANT SELECT, INSERT ON sales_metrics_5m TO etl_writer;
GRANT SELECT, INSERT ON inventory_levels_current TO etl_writer;
GRANT SELECT, INSERT ON stream_alerts TO etl_writer;
GRANT SELECT, INSERT ON quarantine_events TO etl_writer;
GRANT SELECT, INSERT ON job_runs TO etl_writer;
GRANT SELECT ON agg_sales_daily TO etl_writer;
GRANT SELECT ON agg_store_daily TO etl_writer;
GRANT SELECT ON agg_product_daily TO etl_writer;
GRANT SELECT ON agg_inventory_daily TO etl_writer;
GRANT SELECT ON agg_inventory_latest TO etl_writer;
GRANT SELECT ON agg_supplier_daily TO etl_writer;
GRANT SELECT ON stock_as_of TO etl_writer;
GRANT SELECT ON schema_migrations TO etl_writer;

-- Row-level security for direct BI users: a bi_reader sees the rows of the stores that
-- rls_assignments gives them (by store, by region, or all). Each view with a store also
-- has a policy that leaves everyone else unrestricted: once a table has any row policy,
-- users without one would otherwise see nothing.
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_dim_store
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_fact_sales
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_fact_sales_daily
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_fact_inventory_daily
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_inventory_current
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_fact_lost_sales
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_fact_predictions
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_stream_alerts
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_self ON bi_user_access
    USING `User Principal Name` = currentUser() AS permissive TO bi_reader;

CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_dim_store USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_fact_sales USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_fact_sales_daily USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_fact_inventory_daily USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_inventory_current USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_fact_lost_sales USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_fact_predictions USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_stream_alerts USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_user_access USING 1 AS permissive TO ALL EXCEPT bi_reader;
