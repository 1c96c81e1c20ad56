-- title: ABC analysis
-- description: Products classed A, B or C by their share of cumulative net revenue over the 90 days up to as_of.
--
-- 90 days = as_of - 89 .. as_of; products with sales lines in the window in the stores in
-- {stores} (the reader's: row-level security; agg_sales_daily).
-- Products are ranked by revenue (ties by sku); cumulative_share_pct is the running total up
-- to and including the product over the total. Class: A while the cumulative share is
-- <= 80 %, B while <= 95 %, C after (compared exactly, in Decimal).
-- A reader of every store in dim_store (every_store) reads agg_product_daily instead, the
-- same sums across stores (which also count any store missing from dim_store); the other
-- branch then reads nothing.
WITH notEmpty({stores:Array(String)})
     AND (SELECT countIf(NOT has({stores:Array(String)}, store_id)) FROM dim_store) = 0
     AS every_store
SELECT
    product_id,
    sku,
    product_name,
    category,
    round(toFloat64(rev), 2) AS revenue,
    if(total_rev <= 0, NULL, round(toFloat64(rev) / toFloat64(total_rev) * 100, 2))
        AS revenue_share_pct,
    if(total_rev <= 0, NULL, round(toFloat64(cum_rev) / toFloat64(total_rev) * 100, 2))
        AS cumulative_share_pct,
    multiIf(cum_rev * 100 <= total_rev * 80, 'A', cum_rev * 100 <= total_rev * 95, 'B', 'C')
        AS abc_class
FROM
(
    SELECT
        p.product_id AS product_id,
        p.sku AS sku,
        p.name AS product_name,
        p.category AS category,
        r.rev AS rev,
        sum(r.rev) OVER (ORDER BY r.rev DESC, p.sku
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum_rev,
        sum(r.rev) OVER () AS total_rev
    FROM
    (
        SELECT product_key, sum(revenue) AS rev
        FROM agg_product_daily
        WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
          AND every_store
        GROUP BY product_key
        UNION ALL
        SELECT product_key, sum(revenue) AS rev
        FROM agg_sales_daily
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
          AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
          AND NOT every_store
        GROUP BY product_key
    ) AS r
    LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL)
        AS p ON r.product_key = p.product_key
)
ORDER BY rev DESC, sku
