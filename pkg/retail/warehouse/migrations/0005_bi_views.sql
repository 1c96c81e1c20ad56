-- The Power BI-facing star schema: bi_* views with friendly column names, the only objects
-- BI users may read (see 0006_security.sql).
--
-- SQL SECURITY DEFINER: a view reads its tables with the rights of whoever ran the
-- migrations, so bi_reader needs SELECT on the views only. Row policies sit on the views
-- themselves and are evaluated for the querying user (currentUser()).
-- Dimensions and facts are read FINAL (replaced rows collapse); aggregates are re-aggregated.
-- Keys are Int64 (Power BI does not load UInt64).

CREATE OR REPLACE VIEW bi_dim_date SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, date AS `Date`, day_of_week AS `Day of Week`,
    day_name AS `Day Name`, week AS `Week`, month AS `Month`, month_name AS `Month Name`,
    quarter AS `Quarter`, year AS `Year`, is_weekend AS `Is Weekend`,
    is_holiday AS `Is Holiday`, holiday_name AS `Holiday`, season AS `Season`
FROM dim_date FINAL;

CREATE OR REPLACE VIEW bi_dim_store SQL SECURITY DEFINER AS
SELECT
    store_key AS `Store Key`, store_id AS `Store ID`, name AS `Store Name`, city AS `City`,
    state AS `State`, region AS `Region`, country AS `Country`, store_type AS `Store Type`,
    square_footage AS `Square Footage`
FROM dim_store FINAL;

CREATE OR REPLACE VIEW bi_dim_product SQL SECURITY DEFINER AS
SELECT
    product_key AS `Product Key`, product_id AS `Product ID`, sku AS `SKU`,
    name AS `Product Name`, category AS `Category`, sub_category AS `Sub-category`,
    brand AS `Brand`, supplier_key AS `Supplier Key`, unit_cost AS `Unit Cost`,
    list_price AS `List Price`, shelf_life_days AS `Shelf Life (days)`
FROM dim_product FINAL;

CREATE OR REPLACE VIEW bi_dim_supplier SQL SECURITY DEFINER AS
SELECT
    supplier_key AS `Supplier Key`, supplier_id AS `Supplier ID`, name AS `Supplier Name`,
    category AS `Category`, lead_time_mean_days AS `Lead Time (days)`,
    lead_time_sd_days AS `Lead Time SD (days)`
FROM dim_supplier FINAL;

CREATE OR REPLACE VIEW bi_fact_sales SQL SECURITY DEFINER AS
SELECT
    transaction_id AS `Transaction ID`, line_number AS `Line`, transaction_type AS `Type`,
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    quantity AS `Quantity`, unit_price AS `Unit Price`, discount AS `Discount`,
    revenue AS `Revenue`, cost AS `Cost`, profit AS `Profit`, is_promotion AS `On Promotion`,
    payment_method AS `Payment Method`, event_time AS `Sold At (UTC)`
FROM fact_sales FINAL;

CREATE OR REPLACE VIEW bi_fact_sales_daily SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    sum(units) AS `Units`, sum(revenue) AS `Revenue`, sum(cost) AS `Cost`,
    sum(profit) AS `Profit`, sum(discount) AS `Discount`, sum(promo_units) AS `Promotion Units`,
    sum(return_units) AS `Returned Units`
FROM agg_sales_daily
GROUP BY date_key, store_key, product_key;

CREATE OR REPLACE VIEW bi_fact_inventory_daily SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    argMaxMerge(closing_on_hand) AS `Closing Stock`, sum(units_in) AS `Units In`,
    sum(units_out) AS `Units Out`
FROM agg_inventory_daily
GROUP BY date_key, store_key, product_key;

CREATE OR REPLACE VIEW bi_inventory_current SQL SECURITY DEFINER AS
SELECT
    store_key AS `Store Key`, product_key AS `Product Key`,
    quantity_on_hand AS `On Hand`, reorder_point AS `Reorder Point`,
    safety_stock AS `Safety Stock`, days_of_cover AS `Days of Cover`,
    stock_out_risk AS `Stock-out Risk`, last_event_time AS `As Of (UTC)`
FROM inventory_levels_current FINAL;

CREATE OR REPLACE VIEW bi_fact_lost_sales SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    lost_quantity AS `Lost Units`, lost_revenue AS `Lost Revenue`, event_time AS `At (UTC)`
FROM fact_lost_sales FINAL;

CREATE OR REPLACE VIEW bi_fact_predictions SQL SECURITY DEFINER AS
SELECT
    toInt64(date_key) AS `Date Key`, store_key AS `Store Key`, product_key AS `Product Key`,
    horizon AS `Horizon (days)`, predicted_demand AS `Predicted Demand`,
    confidence_low AS `Confidence Low`, confidence_high AS `Confidence High`,
    stock_out_risk_score AS `Stock-out Risk`, recommended_order_qty AS `Recommended Order`,
    model_version AS `Model Version`
FROM fact_ml_predictions FINAL;

CREATE OR REPLACE VIEW bi_stream_alerts SQL SECURITY DEFINER AS
SELECT
    alert_id AS `Alert ID`, alert_type AS `Alert Type`, severity AS `Severity`,
    status AS `Status`, retail_key(store_id) AS `Store Key`,
    if(product_id = '', toInt64(0), retail_key(product_id)) AS `Product Key`,
    metric_value AS `Value`, threshold AS `Threshold`, event_time AS `At (UTC)`
FROM stream_alerts FINAL;

-- Who sees which stores, expanded to store keys: the table behind the ClickHouse row
-- policies and behind the Power BI model's own RLS roles
-- ([User Principal Name] = USERPRINCIPALNAME()), one source of truth for both.
CREATE OR REPLACE VIEW bi_user_access SQL SECURITY DEFINER AS
SELECT
    a.user_name AS `User Principal Name`, s.store_key AS `Store Key`,
    s.store_id AS `Store ID`, s.region AS `Region`, a.scope AS `Scope`
FROM rls_assignments AS a FINAL
CROSS JOIN dim_store AS s FINAL
WHERE a.is_active
  AND ((a.scope = 'all')
       OR (a.scope = 'store' AND s.store_id = a.store_id)
       OR (a.scope = 'region' AND s.region = a.region));
