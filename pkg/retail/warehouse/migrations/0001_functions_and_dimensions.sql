-- Dimensions of the star schema, plus the key function every table shares.
--
-- Keys are Int64 hashes of the business ids (retail_key('S00017')): the stream processor,
-- batch jobs and SQL all derive the same key without a lookup, and Power BI loads Int64
-- (it does not load UInt64). Dimensions are ReplacingMergeTree on updated_at: re-loading a
-- dimension row replaces it instead of duplicating it; the bi_* views read them FINAL.
-- The deduplication window drops an identical re-load (same insert_deduplication_token).

CREATE FUNCTION IF NOT EXISTS retail_key AS (id) -> reinterpretAsInt64(sipHash64(id));

CREATE TABLE IF NOT EXISTS dim_date
(
    date_key      UInt32 COMMENT 'YYYYMMDD',
    date          Date,
    day_of_week   UInt8 COMMENT 'ISO: 1 = Monday',
    day_name      LowCardinality(String),
    week          UInt8 COMMENT 'ISO week',
    month         UInt8,
    month_name    LowCardinality(String),
    quarter       UInt8,
    year          UInt16,
    is_weekend    Bool,
    is_holiday    Bool,
    holiday_name  LowCardinality(Nullable(String)),
    season        LowCardinality(String),
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY date_key
SETTINGS non_replicated_deduplication_window = 100;

CREATE TABLE IF NOT EXISTS dim_store
(
    store_key       Int64 DEFAULT retail_key(store_id),
    store_id        String,
    name            String,
    city            String,
    state           LowCardinality(String),
    region          LowCardinality(String),
    country         LowCardinality(String),
    timezone        LowCardinality(String),
    store_type      LowCardinality(String),
    square_footage  UInt32,
    opens_at        LowCardinality(String),
    closes_at       LowCardinality(String),
    updated_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY store_key
SETTINGS non_replicated_deduplication_window = 100;

CREATE TABLE IF NOT EXISTS dim_supplier
(
    supplier_key         Int64 DEFAULT retail_key(supplier_id),
    supplier_id          String,
    name                 String,
    category             LowCardinality(String),
    lead_time_mean_days  Float32,
    lead_time_sd_days    Float32,
    updated_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY supplier_key
SETTINGS non_replicated_deduplication_window = 100;

CREATE TABLE IF NOT EXISTS dim_product
(
    product_key      Int64 DEFAULT retail_key(product_id),
    product_id       String,
    sku              String,
    name             String,
    category         LowCardinality(String),
    sub_category     LowCardinality(String),
    brand            LowCardinality(String),
    supplier_key     Int64 DEFAULT retail_key(supplier_id),
    supplier_id      String,
    unit_cost        Decimal(12, 2),
    list_price       Decimal(12, 2),
    shelf_life_days  UInt16,
    pack_size        UInt16,
    updated_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY product_key
SETTINGS non_replicated_deduplication_window = 100;
