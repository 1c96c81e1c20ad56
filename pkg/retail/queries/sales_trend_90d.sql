-- title: Sales trend, 90 days
-- description: Net revenue, units and sale transactions per day for the 90 days up to as_of.
--
-- 90 days = as_of - 89 .. as_of, exactly one row per day (days without sales are 0).
-- Reads agg_store_daily of the stores in {stores} (the reader's: row-level security);
-- transactions = distinct sale transaction ids (returns excluded), merged across stores
-- with uniqExactMerge.
SELECT
    YYYYMMDDToDate(date_key) AS date,
    round(toFloat64(sum(revenue)), 2) AS revenue,
    sum(units) AS units,
    uniqExactMerge(transactions) AS transactions
FROM agg_store_daily
WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
  AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
GROUP BY date_key
ORDER BY date WITH FILL FROM {as_of:Date} - 89 TO {as_of:Date} + 1 STEP 1
