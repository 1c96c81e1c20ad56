-- Pre-aggregated tables for the dashboards, fed by materialized views on INSERT.
--
-- A materialized view here is an insert trigger: each block inserted into the fact table
-- is aggregated and appended to the target table, which merges rows with the same key in
-- the background (Summing-/AggregatingMergeTree). Readers therefore always aggregate again
-- (sum(), argMaxMerge(), uniqExactMerge() with GROUP BY), which is correct whether or not
-- the background merge has happened yet.
-- Replays: the aggregate tables keep a deduplication window too, and writers that send an
-- insert_deduplication_token also set deduplicate_blocks_in_dependent_materialized_views=1
-- (retail.io.warehouse does), so a replayed batch is dropped from the facts *and* from the
-- aggregates. Without a token nothing is deduplicated here (two equal aggregate blocks
-- from different batches are both real).
-- Aggregates carry keys only (store_key, product_key, date_key); names come from the
-- dimensions. Daily grain keeps these tables ~1/50 the size of fact_sales at the design's volumes.

CREATE TABLE IF NOT EXISTS agg_sales_daily
(
    date_key      UInt32,
    store_key     Int64,
    product_key   Int64,
    units         Int64,
    revenue       Decimal(18, 2),
    cost          Decimal(18, 2),
    profit        Decimal(18, 2),
    discount      Decimal(18, 2),
    promo_units   Int64,
    return_units  Int64,
    sale_lines    UInt64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, product_key, date_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_sales_daily TO agg_sales_daily AS
SELECT
    date_key, store_key, product_key,
    sum(quantity) AS units,
    sum(revenue) AS revenue,
    sum(cost) AS cost,
    sum(profit) AS profit,
    sum(discount) AS discount,
    sumIf(quantity, is_promotion) AS promo_units,
    -sumIf(quantity, transaction_type = 'return') AS return_units,
    countIf(transaction_type = 'sale') AS sale_lines
FROM fact_sales
GROUP BY date_key, store_key, product_key;

-- Store-day totals with exact distinct transactions (not summable, hence an aggregate state).
CREATE TABLE IF NOT EXISTS agg_store_daily
(
    date_key      UInt32,
    store_key     Int64,
    units         SimpleAggregateFunction(sum, Int64),
    revenue       SimpleAggregateFunction(sum, Decimal(38, 2)),
    profit        SimpleAggregateFunction(sum, Decimal(38, 2)),
    transactions  AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, date_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_store_daily TO agg_store_daily AS
SELECT
    date_key, store_key,
    toInt64(sum(quantity)) AS units,
    sum(revenue) AS revenue,
    sum(profit) AS profit,
    uniqExactStateIf(transaction_id, transaction_type = 'sale') AS transactions
FROM fact_sales
GROUP BY date_key, store_key;

-- Product performance across the chain: product first in the key for product pages.
CREATE TABLE IF NOT EXISTS agg_product_daily
(
    date_key     UInt32,
    product_key  Int64,
    units        SimpleAggregateFunction(sum, Int64),
    revenue      SimpleAggregateFunction(sum, Decimal(38, 2)),
    profit       SimpleAggregateFunction(sum, Decimal(38, 2)),
    stores       AggregateFunction(uniqExact, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY intDiv(date_key, 100)
ORDER BY (product_key, date_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_product_daily TO agg_product_daily AS
SELECT
    date_key, product_key,
    toInt64(sum(quantity)) AS units,
    sum(revenue) AS revenue,
    sum(profit) AS profit,
    uniqExactState(store_key) AS stores
FROM fact_sales
GROUP BY date_key, product_key;

-- Inventory by store and product per day: closing stock (last movement of the day) and
-- units in/out.
CREATE TABLE IF NOT EXISTS agg_inventory_daily
(
    date_key          UInt32,
    store_key         Int64,
    product_key       Int64,
    -- argMax by (event_time, inventory_id): two movements in the same millisecond (two lines
    -- of one basket) are ordered by their id, which writers issue in applied order.
    closing_on_hand   AggregateFunction(argMax, Int32, Tuple(DateTime64(3, 'UTC'), String)),
    units_in          SimpleAggregateFunction(sum, Int64),
    units_out         SimpleAggregateFunction(sum, Int64),
    movements         SimpleAggregateFunction(sum, UInt64),
    last_restock_key  SimpleAggregateFunction(max, UInt32) COMMENT 'date_key of a restock that day, 0 if none'
)
ENGINE = AggregatingMergeTree
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, product_key, date_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_inventory_daily TO agg_inventory_daily AS
SELECT
    date_key, store_key, product_key,
    argMaxState(quantity_on_hand, (event_time, inventory_id)) AS closing_on_hand,
    toInt64(sumIf(quantity_change, quantity_change > 0)) AS units_in,
    toInt64(-sumIf(quantity_change, quantity_change < 0)) AS units_out,
    toUInt64(countIf(record_type = 'movement')) AS movements,
    toUInt32(maxIf(date_key, reason = 'restock')) AS last_restock_key
FROM fact_inventory
GROUP BY date_key, store_key, product_key;

-- The latest state of every store x product (one row each, whatever the history length):
-- what "stock now" dashboards read. The daily table above answers "stock as of a past day".
CREATE TABLE IF NOT EXISTS agg_inventory_latest
(
    store_key         Int64,
    product_key       Int64,
    on_hand           AggregateFunction(argMax, Int32, Tuple(DateTime64(3, 'UTC'), String)),
    last_date_key     SimpleAggregateFunction(max, UInt32),
    last_restock_key  SimpleAggregateFunction(max, UInt32)
)
ENGINE = AggregatingMergeTree
ORDER BY (store_key, product_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_inventory_latest TO agg_inventory_latest AS
SELECT
    store_key, product_key,
    argMaxState(quantity_on_hand, (event_time, inventory_id)) AS on_hand,
    max(date_key) AS last_date_key,
    toUInt32(maxIf(date_key, reason = 'restock')) AS last_restock_key
FROM fact_inventory
GROUP BY store_key, product_key;

-- Stock per store x product as of a day: stock_as_of(as_of = '2026-01-31').
-- on_hand is the level after the latest movement on or before as_of; last_restock_key the
-- date_key of the latest restock on or before it (0: none on record). When no movement is
-- newer than as_of (the dashboards' "today") the answer comes from agg_inventory_latest
-- (one row per pair); otherwise from the daily history. The branch conditions are constants
-- once the scalar subquery is evaluated, so the other branch reads nothing.
CREATE OR REPLACE VIEW stock_as_of AS
SELECT store_key, product_key, argMaxMerge(on_hand) AS on_hand,
       max(last_restock_key) AS last_restock_key
FROM agg_inventory_latest
WHERE (SELECT max(last_date_key) FROM agg_inventory_latest) <= toYYYYMMDD({as_of:Date})
GROUP BY store_key, product_key
UNION ALL
SELECT store_key, product_key, argMaxMerge(closing_on_hand) AS on_hand,
       max(last_restock_key) AS last_restock_key
FROM agg_inventory_daily
WHERE date_key <= toYYYYMMDD({as_of:Date})
  AND (SELECT max(last_date_key) FROM agg_inventory_latest) > toYYYYMMDD({as_of:Date})
GROUP BY store_key, product_key;

-- Supplier deliveries per day (of delivery): lead times as sums so any window averages them.
CREATE TABLE IF NOT EXISTS agg_supplier_daily
(
    date_key        UInt32,
    supplier_key    Int64,
    deliveries      SimpleAggregateFunction(sum, UInt64),
    units           SimpleAggregateFunction(sum, Int64),
    lead_s          SimpleAggregateFunction(sum, Int64) COMMENT 'sum of delivered - ordered, seconds',
    promised_s      SimpleAggregateFunction(sum, Int64) COMMENT 'sum of expected - ordered, seconds',
    on_time         SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY intDiv(date_key, 100)
ORDER BY (supplier_key, date_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_supplier_daily TO agg_supplier_daily AS
SELECT
    date_key, supplier_key,
    toUInt64(count()) AS deliveries,
    toInt64(sum(quantity)) AS units,
    toInt64(sum(dateDiff('second', ordered_at, event_time))) AS lead_s,
    toInt64(sum(dateDiff('second', ordered_at, expected_arrival))) AS promised_s,
    toUInt64(countIf(event_time <= expected_arrival)) AS on_time
FROM fact_supplier_shipments
WHERE status = 'delivered'
GROUP BY date_key, supplier_key;
