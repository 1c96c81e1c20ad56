-- title: Trending products
-- description: The 10 products whose units sold over the last 7 days grew the most against their weekly average of the 28 days before, in the reader's stores.
--
-- units_7d: net units (sales minus returns) over as_of - 6 .. as_of; weekly_avg_prev_28d:
-- net units over the 28 days before (as_of - 34 .. as_of - 7) / 4; both summed over the
-- stores in {stores} (the reader's: row-level security; agg_sales_daily). growth_pct =
-- (units_7d - weekly_avg_prev_28d) / weekly_avg_prev_28d x 100. Products that sold in both
-- windows (net units > 0 in each) and grew (growth_pct > 0); the 10 with the highest
-- growth, ties by more units_7d, then sku.
-- A reader of every store in dim_store (every_store) reads agg_product_daily instead, the
-- same sums across stores (which also count any store missing from dim_store); the other
-- branch then reads nothing.
WITH notEmpty({stores:Array(String)})
     AND (SELECT countIf(NOT has({stores:Array(String)}, store_id)) FROM dim_store) = 0
     AS every_store
SELECT
    row_number() OVER (ORDER BY t.growth DESC, t.u7 DESC, p.sku) AS trend_rank,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    t.u7 AS units_7d,
    round(t.prev / 4, 2) AS weekly_avg_prev_28d,
    round(t.growth, 1) AS growth_pct
FROM
(
    SELECT product_key, u7, prev, (u7 * 4 - prev) / prev * 100 AS growth
    FROM
    (
        SELECT product_key,
               sumIf(units, date_key >= toYYYYMMDD({as_of:Date} - 6)) AS u7,
               sumIf(units, date_key <= toYYYYMMDD({as_of:Date} - 7)) AS prev
        FROM agg_product_daily
        WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 34) AND toYYYYMMDD({as_of:Date})
          AND every_store
        GROUP BY product_key
        UNION ALL
        SELECT product_key,
               sumIf(units, date_key >= toYYYYMMDD({as_of:Date} - 6)) AS u7,
               sumIf(units, date_key <= toYYYYMMDD({as_of:Date} - 7)) AS prev
        FROM agg_sales_daily
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
          AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 34) AND toYYYYMMDD({as_of:Date})
          AND NOT every_store
        GROUP BY product_key
    )
    WHERE u7 > 0 AND prev > 0 AND u7 * 4 > prev
) AS t
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON t.product_key = p.product_key
ORDER BY trend_rank
LIMIT 10
