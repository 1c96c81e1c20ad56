-- 0022: the dashboards' own role (issue 21). In the cluster `retail dashboard serve` reads the
-- warehouse as one user, `dashboard`, for everyone who opens it: the app applies row-level
-- security itself, binding the reader's stores ({stores:Array(String)}, looked up in
-- bi_user_access for the user the authenticating proxy names) into every query. So the role
-- reads exactly what the dashboard's queries read (pkg/retail/queries, and the app's lookups
-- of bi_user_access and of the sales days), never writes, never manages access. The user
-- comes from a Secret (the chart's ClickHouseInstallation user `dashboard`), like 0006's.
-- stock_as_of is a view read with the invoker's rights (it has no SQL SECURITY DEFINER), so
-- its tables agg_inventory_latest and agg_inventory_daily are granted too; the bi_ views
-- are DEFINER views (retail query measures, the Power BI twins, reads them). No query uses
-- a table function (even numbers() needs CREATE TEMPORARY TABLE on a real server: series
-- come from arrayJoin(range(n))), so the role holds SELECT and nothing else.
-- tests/pkg/warehouse/test_dashboard_role.py derives the list from the queries with
-- ClickHouse's own analyzer and holds this file to it.
CREATE ROLE IF NOT EXISTS dashboard_reader;

-- Read-only like bi_readonly (SELECT and SET only), bounded per query; one user serves every
-- reader, so it may run more queries at once than a person: the design's 100 readers, each
-- page running up to four queries at once (pkg/retail/dashboard), are 400.
CREATE SETTINGS PROFILE IF NOT EXISTS dashboard_readonly
    SETTINGS readonly = 2, max_execution_time = 60, max_memory_usage = 4000000000,
             max_result_rows = 1000000, result_overflow_mode = 'throw',
             max_concurrent_queries_for_user = 400
    TO dashboard_reader;

-- A page is a handful of queries and refreshes every 15 minutes: 100 readers on five pages
-- stay far below these; a runaway loop does not.
CREATE QUOTA IF NOT EXISTS dashboard_hourly
    KEYED BY user_name
    FOR INTERVAL 1 hour MAX queries = 100000, errors = 2000, execution_time = 36000
    TO dashboard_reader;

GRANT SELECT ON dim_store TO dashboard_reader;
GRANT SELECT ON dim_product TO dashboard_reader;
GRANT SELECT ON dim_supplier TO dashboard_reader;
GRANT SELECT ON fact_sales TO dashboard_reader;
GRANT SELECT ON fact_inventory TO dashboard_reader;
GRANT SELECT ON fact_ml_predictions TO dashboard_reader;
GRANT SELECT ON fact_replenishment TO dashboard_reader;
GRANT SELECT ON inventory_levels_current TO dashboard_reader;
GRANT SELECT ON agg_sales_daily TO dashboard_reader;
GRANT SELECT ON agg_product_daily TO dashboard_reader;
GRANT SELECT ON agg_store_daily TO dashboard_reader;
GRANT SELECT ON agg_inventory_daily TO dashboard_reader;
GRANT SELECT ON agg_inventory_latest TO dashboard_reader;
GRANT SELECT ON agg_supplier_store_daily TO dashboard_reader;
GRANT SELECT ON stock_as_of TO dashboard_reader;
GRANT SELECT ON ml_slow_movers TO dashboard_reader;
GRANT SELECT ON model_evaluations TO dashboard_reader;
GRANT SELECT ON model_drift TO dashboard_reader;
GRANT SELECT ON model_feature_importance TO dashboard_reader;
GRANT SELECT ON stream_alerts TO dashboard_reader;
GRANT SELECT ON bi_user_access TO dashboard_reader;
GRANT SELECT ON bi_dim_store TO dashboard_reader;
GRANT SELECT ON bi_dim_product TO dashboard_reader;
GRANT SELECT ON bi_fact_sales_daily TO dashboard_reader;
GRANT SELECT ON bi_fact_inventory_daily TO dashboard_reader;
GRANT SELECT ON bi_inventory_current TO dashboard_reader;
GRANT SELECT ON bi_fact_lost_sales TO dashboard_reader;
GRANT SELECT ON bi_fact_replenishment TO dashboard_reader;
GRANT SELECT ON bi_model_evaluations TO dashboard_reader;
GRANT SELECT ON bi_model_drift TO dashboard_reader;
GRANT SELECT ON bi_stream_alerts TO dashboard_reader;
GRANT SELECT ON bi_ml_anomalies TO dashboard_reader;
GRANT SELECT ON bi_ml_slow_movers TO dashboard_reader;
