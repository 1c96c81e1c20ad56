-- 0012: what the data-quality checks (retail dq run, jobs/data_quality.py) need.
--
-- dq_results: one row per check per run, the history `retail dq status` and dashboards
-- read. agg_sales_hourly: sales lines per store and UTC hour, kept 6 weeks, so the volume
-- check can compare an hour with the same hour on the last 4 same weekdays (raw_events
-- keeps 7 days only; the daily aggregates have no hours).

CREATE TABLE IF NOT EXISTS dq_results
(
    run_id        String,
    check_name    LowCardinality(String),
    category      LowCardinality(String) COMMENT 'freshness | completeness | volume | consistency | validity | stream',
    target        LowCardinality(String) COMMENT 'the table or topic checked',
    severity      LowCardinality(String) COMMENT 'warn | error',
    status        LowCardinality(String) COMMENT 'pass | warn | fail',
    observed      Nullable(Float64) COMMENT 'NULL: nothing to measure (see details)',
    threshold     Float64 COMMENT 'an observed value above it is a finding',
    details       String,
    window_start  DateTime64(3, 'UTC') COMMENT 'hour-grain checks look at complete hours from here',
    window_end    DateTime64(3, 'UTC'),
    checked_at    DateTime64(3, 'UTC'),
    duration_ms   UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (check_name, checked_at)
TTL toDateTime(checked_at) + INTERVAL 400 DAY DELETE
SETTINGS non_replicated_deduplication_window = 1000;

-- Sales lines, units and revenue per store and UTC hour. Weekly partitions: the TTL drops a
-- week whole, and a 35-day backfill makes a handful of parts, not one per day.
CREATE TABLE IF NOT EXISTS agg_sales_hourly
(
    hour       DateTime('UTC'),
    store_key  Int64,
    lines      UInt64 COMMENT 'sales_transaction events (sale and return lines)',
    units      Int64 COMMENT 'net units (returns negative)',
    revenue    Decimal(18, 2)
)
ENGINE = SummingMergeTree((lines, units, revenue))
PARTITION BY toMonday(hour)
ORDER BY (store_key, hour)
TTL hour + INTERVAL 42 DAY DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_sales_hourly TO agg_sales_hourly AS
SELECT
    toDateTime(toStartOfHour(event_time), 'UTC') AS hour,
    store_key,
    count() AS lines,
    toInt64(sum(quantity)) AS units,
    sum(revenue) AS revenue
FROM fact_sales
GROUP BY hour, store_key;

GRANT SELECT, INSERT ON dq_results TO etl_writer;
GRANT SELECT ON agg_sales_hourly TO etl_writer;

-- The sales already in the warehouse, last: the view counts what is inserted from its
-- creation on, this counts what was ingested before it (FINAL: a row stored twice counts
-- once; the view's creation time has whole seconds, so rows ingested within that second are
-- left out rather than counted twice). The token makes a second run of this statement (the
-- file re-applied after a failure) a no-op.
INSERT INTO agg_sales_hourly (hour, store_key, lines, units, revenue)
SELECT
    toDateTime(toStartOfHour(event_time), 'UTC') AS hour,
    store_key,
    count() AS lines,
    toInt64(sum(quantity)) AS units,
    sum(revenue) AS revenue
FROM fact_sales FINAL
WHERE event_time >= now() - INTERVAL 42 DAY
  AND ingested_at < (SELECT max(metadata_modification_time) FROM system.tables
                     WHERE database = currentDatabase() AND name = 'mv_sales_hourly')
GROUP BY hour, store_key
SETTINGS insert_deduplication_token = '0012_data_quality:backfill';
