-- title: Inventory aging
-- description: Stock on hand per store and product with the days since its last restock, bucketed 0-30, 31-60, 61-90, 90+.
--
-- Pairs whose closing stock on as_of (latest movement on or before as_of, agg_inventory_daily)
-- is > 0. days_since_restock = as_of - date of the newest 'restock' movement on or before
-- as_of (fact_inventory FINAL). Buckets: 0-30, 31-60, 61-90, 90+ (= over 90 days);
-- 'unknown' when the pair has no restock on record (days_since_restock is NULL).
SELECT
    st.store_id AS store_id,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    s.on_hand AS on_hand,
    round(toFloat64(s.on_hand * p.unit_cost), 2) AS stock_value,
    r.last_restock AS last_restock_date,
    dateDiff('day', r.last_restock, {as_of:Date}) AS days_since_restock,
    multiIf(days_since_restock IS NULL, 'unknown', days_since_restock <= 30, '0-30',
            days_since_restock <= 60, '31-60', days_since_restock <= 90, '61-90', '90+')
        AS age_bucket
FROM
(
    SELECT store_key, product_key, argMaxMerge(closing_on_hand) AS on_hand
    FROM agg_inventory_daily
    WHERE date_key <= toYYYYMMDD({as_of:Date})
    GROUP BY store_key, product_key
    HAVING on_hand > 0
) AS s
LEFT JOIN
(
    SELECT store_key, product_key, toNullable(toDate(max(event_time))) AS last_restock
    FROM fact_inventory FINAL
    WHERE record_type = 'movement' AND reason = 'restock'
      AND date_key <= toYYYYMMDD({as_of:Date})
    GROUP BY store_key, product_key
) AS r ON s.store_key = r.store_key AND s.product_key = r.product_key
LEFT JOIN (SELECT store_key, store_id FROM dim_store FINAL) AS st ON s.store_key = st.store_key
LEFT JOIN (SELECT product_key, product_id, sku, name, unit_cost FROM dim_product FINAL) AS p
    ON s.product_key = p.product_key
ORDER BY days_since_restock DESC NULLS FIRST, store_id, sku
