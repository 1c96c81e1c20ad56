-- title: Inventory aging
-- description: Stock on hand per store and product with the days since its last restock, bucketed 0-30, 31-60, 61-90, 90+.
--
-- Pairs of the stores in {stores} (the reader's: row-level security) whose closing stock on
-- as_of (latest movement on or before as_of, stock_as_of) is > 0. days_since_restock =
-- as_of - date of the newest 'restock' movement on or before as_of
-- (stock_as_of.last_restock_key, UTC day). Buckets: 0-30, 31-60, 61-90, 90+ (= over 90 days);
-- 'unknown' when the pair has no restock on record (days_since_restock is NULL).
SELECT
    st.store_id AS store_id,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    s.on_hand AS on_hand,
    round(toFloat64(s.on_hand * p.unit_cost), 2) AS stock_value,
    s.last_restock AS last_restock_date,
    dateDiff('day', s.last_restock, {as_of:Date}) AS days_since_restock,
    multiIf(days_since_restock IS NULL, 'unknown', days_since_restock <= 30, '0-30',
            days_since_restock <= 60, '31-60', days_since_restock <= 90, '61-90', '90+')
        AS age_bucket
FROM
(
    SELECT store_key, product_key, on_hand,
           if(last_restock_key = 0, NULL,
              toNullable(YYYYMMDDToDate(last_restock_key))) AS last_restock
    FROM stock_as_of(as_of = {as_of:Date})
    WHERE on_hand > 0 AND store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
) AS s
LEFT JOIN (SELECT store_key, store_id FROM dim_store FINAL) AS st ON s.store_key = st.store_key
LEFT JOIN (SELECT product_key, product_id, sku, name, unit_cost FROM dim_product FINAL) AS p
    ON s.product_key = p.product_key
ORDER BY days_since_restock DESC NULLS FIRST, store_id, sku
