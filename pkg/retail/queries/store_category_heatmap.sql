-- title: Store x category heatmap
-- description: Net revenue and units per store and product category over the 30 days up to as_of.
--
-- 30 days = as_of - 29 .. as_of. Reads agg_sales_daily (store x product x day) and rolls
-- products up to categories with dim_product. Only cells with sales lines appear, and only
-- the stores in {stores} (the reader's: row-level security).
SELECT
    s.store_id AS store_id,
    s.name AS store_name,
    s.region AS region,
    p.category AS category,
    sum(a.units_30d) AS units,
    round(toFloat64(sum(a.revenue_30d)), 2) AS revenue
FROM
(
    SELECT store_key, product_key, sum(units) AS units_30d, sum(revenue) AS revenue_30d
    FROM agg_sales_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
    GROUP BY store_key, product_key
) AS a
LEFT JOIN (SELECT store_key, store_id, name, region FROM dim_store FINAL) AS s
    ON a.store_key = s.store_key
LEFT JOIN (SELECT product_key, category FROM dim_product FINAL) AS p
    ON a.product_key = p.product_key
GROUP BY store_id, store_name, region, category
ORDER BY store_id, category
