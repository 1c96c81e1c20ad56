-- 0021: supplier performance per store (issue 21). The dashboards limit every figure to the
-- reader's stores, and agg_supplier_daily (0004) has no store: the supplier lead-time query
-- had to read fact_supplier_shipments FINAL for a year of a chain (2.3 s p95 at 200 stores x
-- 2,000 SKUs, the slowest dashboard query). This aggregate keeps the same sums per store as
-- well, plus the sum of squared lead times, so the sample standard deviation comes from it
-- exactly: var = (n * sum(x^2) - sum(x)^2) / (n * (n - 1)), in Int128 arithmetic (seconds).
-- Like the other aggregates it counts what is inserted into the fact table (inserts are
-- deduplicated by their tokens, 0004), and it is filled from the facts already there.
CREATE TABLE IF NOT EXISTS agg_supplier_store_daily
(
    date_key        UInt32,
    supplier_key    Int64,
    store_key       Int64,
    deliveries      SimpleAggregateFunction(sum, UInt64),
    units           SimpleAggregateFunction(sum, Int64),
    lead_s          SimpleAggregateFunction(sum, Int64) COMMENT 'sum of delivered - ordered, seconds',
    lead_s2         SimpleAggregateFunction(sum, Int128) COMMENT 'sum of (delivered - ordered)^2, seconds^2',
    promised_s      SimpleAggregateFunction(sum, Int64) COMMENT 'sum of expected - ordered, seconds',
    on_time         SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, supplier_key, date_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_supplier_store_daily TO agg_supplier_store_daily AS
SELECT
    date_key, supplier_key, store_key,
    toUInt64(count()) AS deliveries,
    toInt64(sum(quantity)) AS units,
    toInt64(sum(dateDiff('second', ordered_at, event_time))) AS lead_s,
    toInt128(sum(toInt128(dateDiff('second', ordered_at, event_time))
                 * toInt128(dateDiff('second', ordered_at, event_time)))) AS lead_s2,
    toInt64(sum(dateDiff('second', ordered_at, expected_arrival))) AS promised_s,
    toUInt64(countIf(event_time <= expected_arrival)) AS on_time
FROM fact_supplier_shipments
WHERE status = 'delivered'
GROUP BY date_key, supplier_key, store_key;

-- The deliveries already in the warehouse (a fresh warehouse has none).
INSERT INTO agg_supplier_store_daily
SELECT
    date_key, supplier_key, store_key,
    toUInt64(count()) AS deliveries,
    toInt64(sum(quantity)) AS units,
    toInt64(sum(dateDiff('second', ordered_at, event_time))) AS lead_s,
    toInt128(sum(toInt128(dateDiff('second', ordered_at, event_time))
                 * toInt128(dateDiff('second', ordered_at, event_time)))) AS lead_s2,
    toInt64(sum(dateDiff('second', ordered_at, expected_arrival))) AS promised_s,
    toUInt64(countIf(event_time <= expected_arrival)) AS on_time
FROM fact_supplier_shipments FINAL
WHERE status = 'delivered'
GROUP BY date_key, supplier_key, store_key;

-- Access (as 0006; skipped by the local server): the jobs read it, the dashboards' role
-- (0022) reads it through the supplier lead-time query.
GRANT SELECT ON agg_supplier_store_daily TO etl_writer;
