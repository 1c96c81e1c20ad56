-- title: Store low stock
-- description: A store's products whose stock as of as_of is at or below the reorder point, lowest stock first.
--
-- on_hand = closing stock of the product's latest movement on or before as_of
-- (argMaxMerge over agg_inventory_daily).
-- Reorder point, first that is > 0 (0 is the column default and means "not set"):
--   1. inventory_levels_current FINAL: the policy the stream keeps current (it is a setting,
--      not history, so it is used whatever as_of is);
--   2. else the newest fact_inventory row (FINAL, on or before as_of) with reorder_point > 0;
--   3. else 0: the product is listed only when it is out of stock (on_hand <= 0).
-- reorder_point_source says which one applied: current | fact_inventory | none.
SELECT
    {store_id:String} AS store_id,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    r.on_hand AS on_hand,
    r.rp AS reorder_point,
    r.rp_source AS reorder_point_source,
    r.rp - r.on_hand AS units_below_reorder_point
FROM
(
    SELECT
        s.product_key AS product_key,
        s.on_hand AS on_hand,
        multiIf(c.rp_current > 0, c.rp_current, f.rp_fact > 0, f.rp_fact, 0) AS rp,
        multiIf(c.rp_current > 0, 'current', f.rp_fact > 0, 'fact_inventory', 'none')
            AS rp_source
    FROM
    (
        SELECT product_key, argMaxMerge(closing_on_hand) AS on_hand
        FROM agg_inventory_daily
        WHERE store_key = retail_key({store_id:String})
          AND date_key <= toYYYYMMDD({as_of:Date})
        GROUP BY product_key
    ) AS s
    LEFT JOIN
    (
        SELECT product_key, reorder_point AS rp_current
        FROM inventory_levels_current FINAL
        WHERE store_id = {store_id:String}
    ) AS c ON s.product_key = c.product_key
    LEFT JOIN
    (
        SELECT product_key, argMax(reorder_point, event_time) AS rp_fact
        FROM fact_inventory FINAL
        WHERE store_key = retail_key({store_id:String})
          AND date_key <= toYYYYMMDD({as_of:Date})
          AND reorder_point > 0
        GROUP BY product_key
    ) AS f ON s.product_key = f.product_key
) AS r
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON r.product_key = p.product_key
WHERE r.on_hand <= r.rp
ORDER BY on_hand, sku
