-- title: Sales trend, 90 days
-- description: Net revenue, units and sale transactions per day for the 90 days up to as_of.
--
-- 90 days = as_of - 89 .. as_of, exactly one row per day (days without sales are 0).
-- Reads agg_store_daily of the stores in {stores} (the reader's: row-level security);
-- transactions = distinct sale transaction ids (returns excluded), counted per store and
-- day with uniqExactMerge and summed over the stores: a transaction belongs to one store,
-- so the sum is the distinct count, without merging every store's id set into one (which
-- took 1.6x as long at 200 stores).
SELECT
    YYYYMMDDToDate(date_key) AS date,
    round(toFloat64(sum(revenue)), 2) AS revenue,
    sum(units) AS units,
    sum(transactions) AS transactions
FROM
(
    SELECT date_key, store_key, sum(revenue) AS revenue, sum(units) AS units,
           uniqExactMerge(transactions) AS transactions
    FROM agg_store_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
    GROUP BY date_key, store_key
)
GROUP BY date_key
ORDER BY date WITH FILL FROM {as_of:Date} - 89 TO {as_of:Date} + 1 STEP 1
