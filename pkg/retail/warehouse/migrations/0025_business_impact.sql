-- 0025: the closed-loop experiment's results (issue 23; `retail evaluate business`,
-- docs/business-impact.md). One row per run x arm x metric: the same simulated chain and
-- customers ordering by the chain's fixed policy (arm 'baseline') and by the platform's
-- recommendations (arm 'platform'), over the compared period. forecast_wape is the
-- champion's in the platform arm and seasonal naive's in the baseline arm. A variant run
-- (the attribution: parts of the platform's chain replaced by the simulator's truth) names
-- them in `variant`; the platform as it is has ''. Chain-wide (no store), so no row
-- policy. A run is written once; ReplacingMergeTree(created_at) makes a repeated insert of
-- the same run harmless.
CREATE TABLE IF NOT EXISTS business_impact
(
    run_id       String COMMENT 'UTC start time, chain size and seed: 20261207t101500-10x200-s42',
    arm          LowCardinality(String) COMMENT 'baseline | platform',
    variant      LowCardinality(String) DEFAULT '' COMMENT 'empty: the platform as it is; oracle:forecast+lead-time, ...',
    metric       LowCardinality(String) COMMENT 'stockout_rate, lost_value, turnover, ... (docs/business-impact.md)',
    value        Float64,
    period_from  Date COMMENT 'the compared period, inclusive',
    period_to    Date,
    stores       UInt32,
    products     UInt32,
    seed         UInt64,
    created_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (run_id, arm, metric);

-- As 0015's views: SQL SECURITY DEFINER, FINAL reads, friendly names; the platform as it
-- is (the attribution's variants are an engineering report's, docs/business-impact.md).
-- `Latest Run` marks the newest run's rows, the one a report page shows by default.
CREATE OR REPLACE VIEW bi_business_impact SQL SECURITY DEFINER AS
SELECT
    run_id AS `Run ID`, arm AS `Arm`, metric AS `Metric`, value AS `Value`,
    period_from AS `Period From`, period_to AS `Period To`, toInt64(stores) AS `Stores`,
    toInt64(products) AS `Products`, toInt64(seed) AS `Seed`,
    created_at AS `Created At (UTC)`,
    toInt64(run_id = (SELECT argMax(run_id, created_at) FROM business_impact FINAL
                      WHERE variant = '')) AS `Latest Run`
FROM business_impact FINAL
WHERE variant = '';

-- Access (as 0006; skipped by the local server): readers the view only (the dashboards'
-- role, 0022, on a line of its own: tests/pkg/warehouse/test_dashboard_role.py holds it to
-- what the dashboard reads); the experiment writes its rows as the jobs do.
GRANT SELECT ON bi_business_impact TO bi_reader, bi_gateway;
GRANT SELECT ON bi_business_impact TO dashboard_reader;
GRANT SELECT, INSERT ON business_impact TO etl_writer;
