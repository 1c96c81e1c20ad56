-- title: Revenue by region
-- description: Net revenue, units and profit per region over the 30 days up to as_of, highest revenue first.
--
-- 30 days = as_of - 29 .. as_of. Reads agg_store_daily (store-day totals) and maps stores to
-- regions with dim_store; stores missing from dim_store are grouped under 'unknown'.
-- stores = stores in {stores} (the reader's: row-level security) with sales lines in the window.
SELECT
    if(d.region = '', 'unknown', d.region) AS region,
    count() AS stores,
    sum(s.units_30d) AS units,
    round(toFloat64(sum(s.revenue_30d)), 2) AS revenue,
    round(toFloat64(sum(s.profit_30d)), 2) AS profit
FROM
(
    SELECT store_key, sum(units) AS units_30d, sum(revenue) AS revenue_30d,
           sum(profit) AS profit_30d
    FROM agg_store_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
    GROUP BY store_key
) AS s
LEFT JOIN (SELECT store_key, region FROM dim_store FINAL) AS d ON s.store_key = d.store_key
GROUP BY region
ORDER BY revenue DESC, region
