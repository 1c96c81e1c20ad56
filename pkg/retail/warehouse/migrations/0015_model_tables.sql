-- 0015: the tables of the forecast, replenishment and model-monitoring jobs (issue 18):
-- predict_daily writes fact_ml_predictions, optimize_stock fact_replenishment,
-- evaluate_forecasts model_evaluations and model_drift, each training
-- model_feature_importance. The 'ML Model Performance' dashboard reads their bi_* views.

-- fact_ml_predictions (0002) gets the 95 % interval beside the 80 % one and names its model.
-- Its sorting key stays (store_key, product_key, date_key, horizon, model_version): the run
-- date is date_key - horizon, so that key already is (store, product, run date, horizon,
-- model version) and a re-run of the same run date and model version replaces each row
-- (ReplacingMergeTree(predicted_at); exact reads use FINAL). No new table and copy needed.
-- A re-run that forecasts fewer pairs leaves the dropped pairs' earlier rows in place.
ALTER TABLE fact_ml_predictions
    ADD COLUMN IF NOT EXISTS confidence_low_95 Nullable(Float64)
        COMMENT '95 % prediction interval, lower bound (NULL: written before 0015)' AFTER confidence_high,
    ADD COLUMN IF NOT EXISTS confidence_high_95 Nullable(Float64)
        COMMENT '95 % prediction interval, upper bound (NULL: written before 0015)' AFTER confidence_low_95,
    ADD COLUMN IF NOT EXISTS model_name LowCardinality(String) DEFAULT 'demand_forecast'
        COMMENT 'the registered model (without the MLflow prefix) model_version belongs to' AFTER recommended_order_qty,
    ADD COLUMN IF NOT EXISTS run_date Date ALIAS subtractDays(YYYYMMDDToDate(date_key), horizon)
        COMMENT 'the day the forecast was made (date_key - horizon): the idempotency unit with model_version';

ALTER TABLE fact_ml_predictions
    COMMENT COLUMN confidence_low '80 % prediction interval, lower bound',
    COMMENT COLUMN confidence_high '80 % prediction interval, upper bound',
    COMMENT COLUMN stock_out_risk_score 'probability (0..1) that demand over the horizon exceeds the stock',
    COMMENT COLUMN recommended_order_qty 'units to order on the run date (optimize_stock; 0 until it ran)',
    COMMENT COLUMN model_version 'the registered model version that wrote the row';

-- Replenishment recommendations: one row per store x product x run date x model version
-- (optimize_stock --date D, from D's forecasts and stock). ReplacingMergeTree(created_at)
-- on that key: a re-run replaces each row. Sorted and partitioned like the facts (store,
-- product, day first; months of the run date).
CREATE TABLE IF NOT EXISTS fact_replenishment
(
    -- what and when
    date_key               UInt32 COMMENT 'the run date, YYYYMMDD',
    run_date               Date COMMENT 'the day the recommendation was computed',
    order_by_date          Nullable(Date) COMMENT 'place the order by this day (NULL: no demand, no date)',
    store_id               LowCardinality(String),
    product_id             String,
    store_key              Int64 DEFAULT retail_key(store_id) COMMENT 'retail_key(store_id): write the ids, the keys, or both',
    product_key            Int64 DEFAULT retail_key(product_id),
    -- stock position at the end of the run date
    on_hand                Int32,
    on_order               Int32 COMMENT 'ordered from suppliers, not yet delivered',
    -- the policy: forecast over lead time + review period, safety stock, levels
    forecast_lead_review   Float64 COMMENT 'forecast demand over lead time + review period (units)',
    safety_stock           Float64,
    reorder_point          Float64,
    order_up_to            Float64 COMMENT 'order up to this position (on hand + on order)',
    order_qty              UInt32 COMMENT 'the recommended units to order, whole packs (0: no order)',
    pack_size              UInt32,
    reasons                Array(LowCardinality(String)) COMMENT 'why this quantity (below reorder point, pack rounding, ...)',
    stock_out_risk         Float32 COMMENT 'probability (0..1) of a stock-out before the next delivery',
    -- the inputs of the policy
    lead_time_days         Float32 COMMENT 'mean supplier lead time',
    lead_time_sd_days      Float32,
    service_level          Float32 COMMENT 'target cycle service level of the ABC class',
    abc_class              LowCardinality(String) COMMENT 'A | B | C',
    model_version          LowCardinality(String) COMMENT 'the forecast model version the recommendation used',
    created_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (store_key, product_key, date_key, model_version);

-- Realised forecast accuracy (evaluate_forecasts --date D, once the actual demand of D is
-- in the feature store): per model version x horizon x product category, the forecasts
-- for D against the demand of D (units sold + lost units). The sums are kept so any
-- roll-up recomputes WAPE and bias exactly (sum(abs_error_sum) / sum(actual_sum)).
-- ReplacingMergeTree(evaluated_at) on (model, version, day, horizon, category): a re-run
-- for the same day replaces its rows.
CREATE TABLE IF NOT EXISTS model_evaluations
(
    -- which forecasts
    model           LowCardinality(String),
    model_version   LowCardinality(String),
    date            Date COMMENT 'the evaluated day (the day forecast)',
    date_key        UInt32,
    horizon         UInt16 COMMENT 'days between the run date and the evaluated day',
    category        LowCardinality(String) COMMENT 'product category (unknown: not in the feature store)',
    -- sums over the store x product pairs
    n               UInt32 COMMENT 'store x product pairs with a forecast and an actual',
    actual_sum      Float64 COMMENT 'sum of the actual demand',
    forecast_sum    Float64,
    abs_error_sum   Float64 COMMENT 'sum of |forecast - actual|',
    -- the metrics
    wape            Nullable(Float64) COMMENT 'abs_error_sum / actual_sum (NULL: no demand)',
    bias            Nullable(Float64) COMMENT '(forecast_sum - actual_sum) / actual_sum: > 0 over-forecasts (NULL: no demand)',
    mae             Float64 COMMENT 'abs_error_sum / n',
    coverage_80     Float64 COMMENT 'share of actuals inside the 80 % interval',
    coverage_95     Nullable(Float64) COMMENT 'share of actuals inside the 95 % interval (NULL: no 95 % interval)',
    evaluated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(evaluated_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (model, model_version, date_key, horizon, category);

-- Feature drift: the population stability index (PSI) of each main feature, the recent week
-- (the 7 days to the evaluated day) against the reference window (the model's training
-- window), binned by the reference window's deciles. status: stable (PSI < 0.1), moderate
-- (0.1 to 0.25), significant (> 0.25), no_data (a window without values).
-- ReplacingMergeTree(computed_at) on (model, version, day, feature): a re-run replaces.
CREATE TABLE IF NOT EXISTS model_drift
(
    -- which model, day and feature
    model            LowCardinality(String),
    model_version    LowCardinality(String),
    date             Date COMMENT 'the evaluated day (the last day of the recent window)',
    date_key         UInt32,
    feature          LowCardinality(String) COMMENT 'a feature_store_daily column',
    -- the result
    psi              Nullable(Float64) COMMENT 'NULL: a window has no values',
    status           LowCardinality(String) COMMENT 'stable | moderate | significant | no_data',
    -- the windows compared (inclusive days) and what they held
    reference_from   Date,
    reference_to     Date,
    recent_from      Date,
    recent_to        Date,
    bins             UInt8 COMMENT 'bins used (deciles of the reference; fewer when edges repeat)',
    reference_rows   UInt64 COMMENT 'non-NULL values in the reference window',
    recent_rows      UInt64,
    reference_mean   Nullable(Float64),
    recent_mean      Nullable(Float64),
    computed_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (model, model_version, date_key, feature);

-- Feature importance of each training: one row per model version x feature. A version is
-- one training, so re-writing it replaces its rows (ReplacingMergeTree(trained_at)).
CREATE TABLE IF NOT EXISTS model_feature_importance
(
    model            LowCardinality(String),
    model_version    LowCardinality(String),
    trained_at       DateTime64(3, 'UTC'),
    feature          LowCardinality(String),
    importance       Float64 COMMENT 'share of the total importance (sums to 1 per version)',
    importance_type  LowCardinality(String) COMMENT 'how it was measured (gain, permutation, ...)',
    rank             UInt16 COMMENT '1: most important'
)
ENGINE = ReplacingMergeTree(trained_at)
ORDER BY (model, model_version, feature);

-- BI views (as 0005: SQL SECURITY DEFINER, FINAL reads, friendly names, Int64 keys).
-- bi_fact_predictions gains the 95 % pair, the run date and the model; its row policies
-- (0006) stay, as they belong to the view's name.
CREATE OR REPLACE VIEW bi_fact_predictions SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    horizon AS `Horizon (days)`, run_date AS `Run Date`, predicted_demand AS `Predicted Demand`,
    confidence_low AS `Confidence Low`, confidence_high AS `Confidence High`,
    confidence_low_95 AS `Confidence Low 95%`, confidence_high_95 AS `Confidence High 95%`,
    stock_out_risk_score AS `Stock-out Risk`, recommended_order_qty AS `Recommended Order`,
    model_name AS `Model`, model_version AS `Model Version`
FROM fact_ml_predictions FINAL;

CREATE OR REPLACE VIEW bi_fact_replenishment SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    order_by_date AS `Order By`, on_hand AS `On Hand`, on_order AS `On Order`,
    forecast_lead_review AS `Forecast Lead Time + Review`, safety_stock AS `Safety Stock`,
    reorder_point AS `Reorder Point`, order_up_to AS `Order-up-to Level`,
    order_qty AS `Recommended Order`, pack_size AS `Pack Size`,
    arrayStringConcat(reasons, ', ') AS `Reasons`, stock_out_risk AS `Stock-out Risk`,
    lead_time_days AS `Lead Time (days)`, lead_time_sd_days AS `Lead Time SD (days)`,
    service_level AS `Service Level`, abc_class AS `ABC Class`,
    model_version AS `Model Version`, created_at AS `Created At (UTC)`
FROM fact_replenishment FINAL;

CREATE OR REPLACE VIEW bi_model_evaluations SQL SECURITY DEFINER AS
SELECT
    model AS `Model`, model_version AS `Model Version`, toInt64(date_key) AS `Date Key`,
    horizon AS `Horizon (days)`, category AS `Category`, n AS `Pairs`,
    actual_sum AS `Actual Demand`, forecast_sum AS `Forecast Demand`,
    abs_error_sum AS `Absolute Error`, wape AS `WAPE`, bias AS `Bias`, mae AS `MAE`,
    coverage_80 AS `Coverage 80%`, coverage_95 AS `Coverage 95%`,
    evaluated_at AS `Evaluated At (UTC)`
FROM model_evaluations FINAL;

CREATE OR REPLACE VIEW bi_model_drift SQL SECURITY DEFINER AS
SELECT
    model AS `Model`, model_version AS `Model Version`, toInt64(date_key) AS `Date Key`,
    feature AS `Feature`, psi AS `PSI`, status AS `Status`,
    reference_from AS `Reference From`, reference_to AS `Reference To`,
    recent_from AS `Recent From`, recent_to AS `Recent To`, bins AS `Bins`,
    toInt64(reference_rows) AS `Reference Rows`, toInt64(recent_rows) AS `Recent Rows`,
    reference_mean AS `Reference Mean`, recent_mean AS `Recent Mean`,
    computed_at AS `Computed At (UTC)`
FROM model_drift FINAL;

CREATE OR REPLACE VIEW bi_model_feature_importance SQL SECURITY DEFINER AS
SELECT
    model AS `Model`, model_version AS `Model Version`, trained_at AS `Trained At (UTC)`,
    feature AS `Feature`, importance AS `Importance`, importance_type AS `Importance Type`,
    rank AS `Rank`
FROM model_feature_importance FINAL;

-- Access (as 0006; skipped by the local server). Readers: the views only. The evaluation,
-- drift and importance views have no store (chain-wide by category or feature), so no row
-- policy; bi_fact_replenishment has one, and the "unrestricted" policy for everyone else.
GRANT SELECT ON bi_fact_replenishment TO bi_reader, bi_gateway;
GRANT SELECT ON bi_model_evaluations TO bi_reader, bi_gateway;
GRANT SELECT ON bi_model_drift TO bi_reader, bi_gateway;
GRANT SELECT ON bi_model_feature_importance TO bi_reader, bi_gateway;

GRANT SELECT, INSERT ON fact_replenishment TO etl_writer;
GRANT SELECT, INSERT ON model_evaluations TO etl_writer;
GRANT SELECT, INSERT ON model_drift TO etl_writer;
GRANT SELECT, INSERT ON model_feature_importance TO etl_writer;
-- 0014 granted nothing on the feature store: build_features writes it, this job reads it.
GRANT SELECT, INSERT ON feature_store_daily TO etl_writer;

CREATE ROW POLICY IF NOT EXISTS rls_store ON bi_fact_replenishment
    USING `Store Key` IN (SELECT `Store Key` FROM bi_user_access WHERE `User Principal Name` = currentUser()) AS permissive TO bi_reader;
CREATE ROW POLICY IF NOT EXISTS unrestricted ON bi_fact_replenishment USING 1 AS permissive TO ALL EXCEPT bi_reader;
