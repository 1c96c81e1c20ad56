-- title: Store stock by category
-- description: A store's stock on hand (units and value at unit cost) per product category as of as_of.
--
-- Stock per product = closing stock of its latest movement on or before as_of
-- (argMaxMerge over agg_inventory_daily). Negative stock counts as 0 units and 0 value;
-- out_of_stock_products counts products whose stock is <= 0.
SELECT
    {store_id:String} AS store_id,
    p.category AS category,
    count() AS products,
    sum(greatest(s.on_hand, 0)) AS units_on_hand,
    round(toFloat64(sum(greatest(s.on_hand, 0) * p.unit_cost)), 2) AS stock_value,
    countIf(s.on_hand <= 0) AS out_of_stock_products
FROM
(
    SELECT product_key, argMaxMerge(closing_on_hand) AS on_hand
    FROM agg_inventory_daily
    WHERE store_key = retail_key({store_id:String})
      AND date_key <= toYYYYMMDD({as_of:Date})
    GROUP BY product_key
) AS s
LEFT JOIN (SELECT product_key, category, unit_cost FROM dim_product FINAL) AS p
    ON s.product_key = p.product_key
GROUP BY category
ORDER BY category
