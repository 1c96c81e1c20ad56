-- Facts: one row per business event, kept for the life of the warehouse (no TTL).
--
-- Every fact table is a ReplacingMergeTree whose ORDER BY ends in the event's natural key,
-- and declares non_replicated_deduplication_window so an insert carrying the same
-- insert_deduplication_token as an earlier one is dropped: a micro-batch or a backfill
-- replayed after a crash never double counts (the MVs fed by these tables skip it too).
-- Rows that arrive again in a *different* batch collapse on merge; exact reads use FINAL.
--
-- PARTITION BY month of the event: partitions stay few (tens per year) and a month can be
-- dropped or reloaded on its own. ORDER BY starts with what dashboards filter on - store,
-- product, then date - so a store manager's query reads a narrow range of the primary key.
-- LowCardinality for categorical strings; DateTime64(3, 'UTC') for event times; money is
-- Decimal. Keys default to retail_key(id). date_key is the store's local day: writers that
-- know the store's time zone send it (the loads and the stream do); the default, the UTC
-- date of the event, is only a fallback.

CREATE TABLE IF NOT EXISTS fact_sales
(
    event_id           UUID,
    transaction_id     String,
    line_number        UInt16,
    transaction_type   LowCardinality(String) COMMENT 'sale | return',
    date_key           UInt32 DEFAULT toYYYYMMDD(event_time),
    store_id           LowCardinality(String),
    product_id         String,
    store_key          Int64 DEFAULT retail_key(store_id),
    product_key        Int64 DEFAULT retail_key(product_id),
    quantity           Int32 COMMENT 'signed: returns are negative',
    unit_price         Decimal(12, 2),
    discount           Decimal(12, 2) COMMENT 'signed like quantity',
    revenue            Decimal(14, 2) COMMENT 'line total after discount, signed',
    unit_cost          Decimal(12, 2),
    cost               Decimal(14, 2) DEFAULT quantity * unit_cost,
    profit             Decimal(14, 2) DEFAULT revenue - cost,
    is_promotion       Bool DEFAULT promotion_id IS NOT NULL,
    promotion_id       Nullable(String),
    payment_method     LowCardinality(String),
    customer_id        Nullable(String),
    currency           LowCardinality(String) DEFAULT 'USD',
    event_time         DateTime64(3, 'UTC'),
    ingested_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_key, product_key, date_key, transaction_id, line_number)
SETTINGS non_replicated_deduplication_window = 10000;

-- Inventory: every movement (record_type 'movement') and end-of-day snapshots
-- ('snapshot', written by the batch job) in one table, so stock questions read one place.
CREATE TABLE IF NOT EXISTS fact_inventory
(
    event_id          UUID,
    record_type       LowCardinality(String) COMMENT 'movement | snapshot',
    inventory_id      String,
    date_key          UInt32 DEFAULT toYYYYMMDD(event_time),
    store_id          LowCardinality(String),
    product_id        String,
    store_key         Int64 DEFAULT retail_key(store_id),
    product_key       Int64 DEFAULT retail_key(product_id),
    quantity_change   Int32,
    quantity_on_hand  Int32,
    reason            LowCardinality(String) COMMENT 'sale | restock | return | shrinkage | adjustment | snapshot',
    reference_id      Nullable(String),
    reorder_point     Int32 DEFAULT 0,
    safety_stock      Int32 DEFAULT 0,
    unit_cost         Decimal(12, 2) DEFAULT 0,
    event_time        DateTime64(3, 'UTC'),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_key, product_key, date_key, record_type, inventory_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS fact_price_changes
(
    event_id         UUID,
    price_change_id  String,
    date_key         UInt32 DEFAULT toYYYYMMDD(event_time),
    store_id         LowCardinality(String),
    product_id       String,
    store_key        Int64 DEFAULT retail_key(store_id),
    product_key      Int64 DEFAULT retail_key(product_id),
    old_price        Decimal(12, 2),
    new_price        Decimal(12, 2),
    change_pct       Float32 DEFAULT if(old_price = 0, 0, toFloat32((new_price - old_price) / old_price * 100)),
    change_type      LowCardinality(String) COMMENT 'promotion_start | promotion_end | regular',
    promotion_id     Nullable(String),
    event_time       DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_key, product_key, date_key, price_change_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Unmet demand: what shoppers asked for and the shelf could not give.
CREATE TABLE IF NOT EXISTS fact_lost_sales
(
    event_id            UUID,
    lost_sale_id        String,
    transaction_id      String,
    date_key            UInt32 DEFAULT toYYYYMMDD(event_time),
    store_id            LowCardinality(String),
    product_id          String,
    store_key           Int64 DEFAULT retail_key(store_id),
    product_key         Int64 DEFAULT retail_key(product_id),
    requested_quantity  Int32,
    fulfilled_quantity  Int32,
    lost_quantity       Int32,
    unit_price          Decimal(12, 2),
    lost_revenue        Decimal(14, 2) DEFAULT lost_quantity * unit_price,
    event_time          DateTime64(3, 'UTC'),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_key, product_key, date_key, lost_sale_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Supplier orders and deliveries (status 'ordered' then 'delivered' per shipment_id):
-- lead-time performance compares delivered_at with ordered_at and expected_arrival.
CREATE TABLE IF NOT EXISTS fact_supplier_shipments
(
    event_id          UUID,
    shipment_id       String,
    status            LowCardinality(String) COMMENT 'ordered | delivered',
    date_key          UInt32 DEFAULT toYYYYMMDD(event_time),
    supplier_id       LowCardinality(String),
    store_id          LowCardinality(String),
    product_id        String,
    supplier_key      Int64 DEFAULT retail_key(supplier_id),
    store_key         Int64 DEFAULT retail_key(store_id),
    product_key       Int64 DEFAULT retail_key(product_id),
    quantity          Int32,
    unit_cost         Decimal(12, 2),
    ordered_at        DateTime64(3, 'UTC'),
    expected_arrival  DateTime64(3, 'UTC'),
    event_time        DateTime64(3, 'UTC'),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (supplier_key, store_key, product_key, shipment_id, status)
SETTINGS non_replicated_deduplication_window = 10000;

-- Demand forecasts from the ML pipeline, one row per target day, store, product, horizon
-- and model version; a re-run of the same model replaces its rows.
CREATE TABLE IF NOT EXISTS fact_ml_predictions
(
    prediction_id          UUID,
    date_key               UInt32 COMMENT 'the day the forecast is for',
    store_id               LowCardinality(String),
    product_id             String,
    store_key              Int64 DEFAULT retail_key(store_id),
    product_key            Int64 DEFAULT retail_key(product_id),
    horizon                UInt16 COMMENT 'days ahead of predicted_at',
    predicted_demand       Float64,
    confidence_low         Float64,
    confidence_high        Float64,
    stock_out_risk_score   Float32,
    recommended_order_qty  UInt32,
    model_version          LowCardinality(String),
    predicted_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(predicted_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, product_key, date_key, horizon, model_version)
SETTINGS non_replicated_deduplication_window = 1000;
