-- Tables the stream processor writes continuously, plus quarantine and job run records.
--
-- Real-time tables carry TTLs: raw events are a short replay buffer (the lake keeps them
-- for good), windowed metrics and alerts age out after the dashboards stop looking. With
-- ttl_only_drop_parts whole expired parts are dropped instead of rewritten, which is why
-- raw events are partitioned by day.

CREATE TABLE IF NOT EXISTS raw_events
(
    event_id         UUID,
    event_type       LowCardinality(String),
    schema_version   UInt8,
    topic            LowCardinality(String),
    partition        UInt16,
    offset           UInt64,
    key              String,
    payload          String CODEC(ZSTD(3)),
    event_time       DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(event_time)
-- (topic, partition, offset) identifies a Kafka record: a replayed record replaces itself.
ORDER BY (topic, partition, offset)
TTL toDateTime(event_time) + INTERVAL 7 DAY DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

-- 5-minute windows sliding by 1 minute. product_id = '' marks the store-level row.
-- The stream rewrites a window while it is open; the newest version (updated_at) wins.
CREATE TABLE IF NOT EXISTS sales_metrics_5m
(
    window_start      DateTime64(3, 'UTC'),
    window_end        DateTime64(3, 'UTC'),
    store_id          LowCardinality(String),
    product_id        String,
    store_key         Int64 DEFAULT retail_key(store_id),
    units             Int64,
    revenue           Decimal(18, 2),
    transactions      UInt32,
    velocity_per_hour Float64 COMMENT 'units per hour over the window',
    updated_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (store_id, product_id, window_start)
TTL toDateTime(window_start) + INTERVAL 30 DAY DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

-- Current stock per store and product: one row each, newest state wins.
CREATE TABLE IF NOT EXISTS inventory_levels_current
(
    store_id            LowCardinality(String),
    product_id          String,
    store_key           Int64 DEFAULT retail_key(store_id),
    product_key         Int64 DEFAULT retail_key(product_id),
    quantity_on_hand    Int32,
    reorder_point       Int32 DEFAULT 0,
    safety_stock        Int32 DEFAULT 0,
    velocity_per_day    Float64 DEFAULT 0,
    days_of_cover       Nullable(Float64),
    stock_out_risk      Float32 DEFAULT 0,
    last_event_time     DateTime64(3, 'UTC'),
    updated_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (store_id, product_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS stream_alerts
(
    alert_id       UUID,
    alert_type     LowCardinality(String) COMMENT 'sales_spike | sales_drop | high_value_transaction | inventory_discrepancy | suspicious_price_change | restock',
    severity       LowCardinality(String) COMMENT 'low | medium | high | critical',
    status         LowCardinality(String) DEFAULT 'open',
    store_id       LowCardinality(String),
    product_id     String,
    metric_value   Float64,
    threshold      Float64,
    details        String COMMENT 'JSON with the values that triggered the alert',
    event_time     DateTime64(3, 'UTC'),
    created_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_id, alert_type, event_time, alert_id)
TTL toDateTime(event_time) + INTERVAL 90 DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000;

-- Rejected input with the reason: nothing is silently lost.
CREATE TABLE IF NOT EXISTS quarantine_events
(
    quarantined_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    source          LowCardinality(String) COMMENT 'stream | batch | api',
    topic           LowCardinality(String),
    partition       Int32 DEFAULT -1,
    offset          Int64 DEFAULT -1,
    key             Nullable(String),
    payload         String CODEC(ZSTD(3)),
    reason          LowCardinality(String) COMMENT 'contract_violation | late | duplicate | invalid | ...',
    error           String,
    error_field     Nullable(String),
    event_time      Nullable(DateTime64(3, 'UTC'))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(quarantined_at)
ORDER BY (reason, quarantined_at)
TTL toDateTime(quarantined_at) + INTERVAL 90 DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS job_runs
(
    run_id       String,
    job          LowCardinality(String),
    status       LowCardinality(String) COMMENT 'running | succeeded | failed',
    started_at   DateTime64(3, 'UTC'),
    finished_at  Nullable(DateTime64(3, 'UTC')),
    rows_in      UInt64 DEFAULT 0,
    rows_out     UInt64 DEFAULT 0,
    details      String DEFAULT '',
    updated_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (job, run_id);

-- Who may see which stores: one row per grant. scope 'store' names a store_id, 'region' a
-- region, 'all' everything. Adding a manager is an INSERT, not DDL; the row policies and
-- the bi_user_access view (Power BI's own RLS) both read this table.
CREATE TABLE IF NOT EXISTS rls_assignments
(
    user_name    String COMMENT 'ClickHouse user or Power BI user principal name',
    scope        LowCardinality(String) COMMENT 'store | region | all',
    store_id     String DEFAULT '',
    region       String DEFAULT '',
    granted_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    is_active    Bool DEFAULT true
)
ENGINE = ReplacingMergeTree(granted_at)
ORDER BY (user_name, scope, store_id, region);
