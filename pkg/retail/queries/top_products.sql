-- title: Top 10 products
-- description: The 10 products with the highest net revenue over the 30 days up to as_of.
--
-- 30 days = as_of - 29 .. as_of. Sums agg_sales_daily (store x product x day) over the
-- stores in {stores} (the reader's: row-level security) and names products from
-- dim_product. Ties on revenue are broken by sku. A reader of every store in dim_store
-- (every_store) reads agg_product_daily instead, the same sums across stores (which also
-- count any store missing from dim_store); the other branch then reads nothing.
WITH notEmpty({stores:Array(String)})
     AND (SELECT countIf(NOT has({stores:Array(String)}, store_id)) FROM dim_store) = 0
     AS every_store
SELECT
    row_number() OVER (ORDER BY t.revenue_30d DESC, p.sku) AS revenue_rank,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    t.units_30d AS units,
    round(toFloat64(t.revenue_30d), 2) AS revenue,
    round(toFloat64(t.profit_30d), 2) AS profit
FROM
(
    -- a reader of every store: the product-day totals (60x fewer rows to read)
    SELECT product_key, sum(units) AS units_30d, sum(revenue) AS revenue_30d,
           sum(profit) AS profit_30d
    FROM agg_product_daily
    WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
      AND every_store
    GROUP BY product_key
    UNION ALL
    SELECT product_key, sum(units) AS units_30d, sum(revenue) AS revenue_30d,
           sum(profit) AS profit_30d
    FROM agg_sales_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
      AND NOT every_store
    GROUP BY product_key
) AS t
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON t.product_key = p.product_key
ORDER BY revenue_rank
LIMIT 10
