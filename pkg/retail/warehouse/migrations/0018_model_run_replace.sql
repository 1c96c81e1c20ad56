-- 0018: a re-run of an insight model's day replaces its rows (issue 19). A re-run on
-- changed data (late events) may flag other pairs: the ReplacingMergeTree keys replace
-- the rows it writes again but keep the ones it no longer writes. The jobs therefore
-- delete the day's rows of their model version first (a lightweight DELETE), then insert
-- (retail.ml.outputs.replace_run); etl_writer may delete from these tables only.
GRANT ALTER DELETE ON ml_anomalies TO etl_writer;
GRANT ALTER DELETE ON ml_slow_movers TO etl_writer;
GRANT ALTER DELETE ON ml_recommendations TO etl_writer;
GRANT ALTER DELETE ON ml_product_affinity TO etl_writer;
