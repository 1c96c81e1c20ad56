-- 0017: the tables of the three insight models (issue 19): detect_anomalies writes
-- ml_anomalies, classify_slow_movers ml_slow_movers, train_recommendations
-- ml_recommendations and ml_product_affinity. Each job is idempotent per day and model
-- version: every table is a ReplacingMergeTree whose sorting key ends with (day, model
-- version, the row's slot), so a re-run replaces its rows. The 'Store Operations' and
-- 'Merchandising' dashboards read their bi_* views (row policies as 0006: a bi_reader sees
-- the stores rls_assignments gives them).

-- Anomalies: one row per store x product x day the Isolation Forest flags among the top-k
-- of its store and day (docs/models.md, "Anomaly detection"). duplicate_alert_id names the
-- stream's rule-based alert (stream_alerts) that already told the manager about the same
-- store, product and day; bi_ml_anomalies leaves those rows out (no event reported twice).
CREATE TABLE IF NOT EXISTS ml_anomalies
(
    date                    Date COMMENT 'the scored day (store local)',
    date_key                UInt32,
    store_id                LowCardinality(String),
    product_id              String,
    store_key               Int64 DEFAULT retail_key(store_id),
    product_key             Int64 DEFAULT retail_key(product_id),
    score                   Float64 COMMENT 'anomaly score, 0..1: higher is more anomalous (Isolation Forest, rescaled)',
    rank                    UInt16 COMMENT '1 = the most anomalous pair of its store and day',
    kind                    LowCardinality(String) COMMENT 'sales_drop | demand_spike | inventory_discrepancy | pricing_error: the feature that drove the score',
    -- the values behind the score
    demand                  Float64 COMMENT 'units sold + lost units on the day',
    expected_demand         Nullable(Float64) COMMENT 'the forecast for the day (or the 28-day mean without one)',
    expected_low            Nullable(Float64) COMMENT 'lower bound of the expected range',
    expected_high           Nullable(Float64) COMMENT 'upper bound of the expected range',
    unexplained_stock_change Float64 COMMENT 'stock change not explained by sales, returns and deliveries (units; < 0 lost)',
    avg_unit_price          Nullable(Float64) COMMENT 'mean price paid per unit on the day',
    reference_price         Nullable(Float64) COMMENT 'the product''s regular price',
    velocity_change         Nullable(Float64) COMMENT 'log ratio of the last 7 days'' sales to the 28 before',
    duplicate_alert_id      Nullable(String) COMMENT 'the stream alert already raised for this store, product and day (NULL: none)',
    model_version           LowCardinality(String),
    detected_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, date_key, model_version, product_key);

-- Slow movers: one row per store x product scored on the run date; the markdown suggestion
-- from the category's price elasticity estimated on past promotions (docs/models.md).
CREATE TABLE IF NOT EXISTS ml_slow_movers
(
    date_key                UInt32 COMMENT 'the run date, YYYYMMDD',
    run_date                Date,
    store_id                LowCardinality(String),
    product_id              String,
    store_key               Int64 DEFAULT retail_key(store_id),
    product_key             Int64 DEFAULT retail_key(product_id),
    probability             Float64 COMMENT 'probability (0..1) that the stock on hand will not sell within the horizon',
    is_slow_mover           Bool COMMENT 'probability above the classifier''s threshold',
    on_hand                 Int32,
    velocity_28             Float64 COMMENT 'mean units sold per day over the last 28 days',
    days_of_cover           Nullable(Float64) COMMENT 'on_hand / velocity (NULL: no sales)',
    horizon_days            UInt16 COMMENT 'shelf life, at most 60 days (non-perishables: 60)',
    markdown_depth          Float32 COMMENT 'suggested discount, share of the regular price (0: no markdown)',
    markdown_start          Nullable(Date) COMMENT 'start the markdown on this day (NULL: none)',
    expected_units_markdown Nullable(Float64) COMMENT 'units expected to sell within the horizon with the markdown',
    elasticity              Nullable(Float32) COMMENT 'the category''s price elasticity used (units ~ price ^ elasticity)',
    model_version           LowCardinality(String),
    created_at              DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, product_key, date_key, model_version);

-- Recommendations: 'customer' rows (ALS on loyal customers' purchases: customer_id set,
-- store_id the customer's home store) and 'store' rows (products that sell together in the
-- store's baskets but it does not stock or under-orders: customer_id '').
CREATE TABLE IF NOT EXISTS ml_recommendations
(
    date_key                UInt32 COMMENT 'the run date, YYYYMMDD',
    run_date                Date,
    kind                    LowCardinality(String) COMMENT 'customer | store',
    store_id                LowCardinality(String) COMMENT 'the customer''s home store, or the store',
    store_key               Int64 DEFAULT retail_key(store_id),
    customer_id             String COMMENT 'loyalty number ('''' for store rows)',
    rank                    UInt16 COMMENT '1 = the best',
    product_id              String,
    product_key             Int64 DEFAULT retail_key(product_id),
    score                   Float64,
    reason                  LowCardinality(String) COMMENT 'als | not_stocked | under_ordered',
    model_version           LowCardinality(String),
    created_at              DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (kind, store_key, customer_id, date_key, model_version, rank);

-- Product affinity, chain-wide: for each product its top partners by lift (FPGrowth's
-- association rules) or by the ALS item factors' cosine (method). No store in it: every
-- bi_reader may see it (no row policy; it is about products, not a store's figures).
CREATE TABLE IF NOT EXISTS ml_product_affinity
(
    date_key                UInt32 COMMENT 'the run date, YYYYMMDD',
    run_date                Date,
    method                  LowCardinality(String) COMMENT 'fpgrowth | item_factors',
    product_id              String,
    product_key             Int64 DEFAULT retail_key(product_id),
    rank                    UInt16 COMMENT '1 = the strongest partner',
    other_product_id        String,
    other_product_key       Int64 DEFAULT retail_key(other_product_id),
    support                 Nullable(Float64) COMMENT 'share of baskets holding both (fpgrowth)',
    confidence              Nullable(Float64) COMMENT 'P(other | product) (fpgrowth)',
    lift                    Nullable(Float64) COMMENT 'confidence / P(other) (fpgrowth)',
    score                   Float64 COMMENT 'lift (fpgrowth) or cosine (item_factors)',
    model_version           LowCardinality(String),
    created_at              DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (product_key, method, date_key, model_version, rank);

CREATE OR REPLACE VIEW bi_ml_anomalies SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    score AS `Anomaly Score`, rank AS `Rank`, kind AS `Kind`, demand AS `Demand`,
    expected_demand AS `Expected Demand`, expected_low AS `Expected Low`,
    expected_high AS `Expected High`, unexplained_stock_change AS `Unexplained Stock Change`,
    avg_unit_price AS `Average Unit Price`, reference_price AS `Reference Price`,
    velocity_change AS `Velocity Change`, model_version AS `Model Version`,
    detected_at AS `Detected At (UTC)`
FROM ml_anomalies FINAL
WHERE duplicate_alert_id IS NULL;

CREATE OR REPLACE VIEW bi_ml_slow_movers SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    probability AS `Slow-mover Probability`, is_slow_mover AS `Slow Mover`,
    on_hand AS `On Hand`, velocity_28 AS `Units per Day (28 d)`,
    days_of_cover AS `Days of Cover`, horizon_days AS `Horizon (days)`,
    markdown_depth AS `Markdown Depth`, markdown_start AS `Markdown Start`,
    expected_units_markdown AS `Expected Units with Markdown`, elasticity AS `Price Elasticity`,
    model_version AS `Model Version`, created_at AS `Created At (UTC)`
FROM ml_slow_movers FINAL;

CREATE OR REPLACE VIEW bi_ml_recommendations SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, kind AS `Kind`, store_key AS `Store Key`,
    customer_id AS `Customer`, rank AS `Rank`, product_key AS `Product Key`,
    score AS `Score`, reason AS `Reason`, model_version AS `Model Version`,
    created_at AS `Created At (UTC)`
FROM ml_recommendations FINAL;

CREATE OR REPLACE VIEW bi_ml_product_affinity SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, method AS `Method`, product_key AS `Product Key`,
    rank AS `Rank`, other_product_key AS `Other Product Key`, support AS `Support`,
    confidence AS `Confidence`, lift AS `Lift`, score AS `Score`,
    model_version AS `Model Version`, created_at AS `Created At (UTC)`
FROM ml_product_affinity FINAL;

GRANT SELECT ON bi_ml_anomalies TO bi_reader, bi_gateway;
GRANT SELECT ON bi_ml_slow_movers TO bi_reader, bi_gateway;
GRANT SELECT ON bi_ml_recommendations TO bi_reader, bi_gateway;
GRANT SELECT ON bi_ml_product_affinity TO bi_reader, bi_gateway;

GRANT SELECT, INSERT ON ml_anomalies TO etl_writer;
GRANT SELECT, INSERT ON ml_slow_movers TO etl_writer;
GRANT SELECT, INSERT ON ml_recommendations TO etl_writer;
GRANT SELECT, INSERT ON ml_product_affinity TO etl_writer;

CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_ml_anomalies
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_ml_anomalies USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_ml_slow_movers
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_ml_slow_movers USING 1 AS permissive TO ALL EXCEPT bi_reader;
CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_ml_recommendations
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_ml_recommendations USING 1 AS permissive TO ALL EXCEPT bi_reader;
