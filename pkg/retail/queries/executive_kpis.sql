-- title: Executive KPIs
-- description: Revenue on the day vs the same weekday last week, stock value, stock-outs and 30-day inventory turnover.
--
-- One row over the stores in {stores} (the reader's: row-level security). Windows include
-- as_of; "30 days" is as_of - 29 .. as_of.
--   revenue, revenue_last_week  net revenue (returns subtract) on as_of and on as_of - 7,
--                               from agg_store_daily.
--   revenue_change_pct          (revenue - revenue_last_week) / revenue_last_week * 100;
--                               NULL when last week had no revenue.
--   stock                       per store x product, the closing stock of its latest movement
--                               on or before as_of: argMaxMerge(closing_on_hand) over every
--                               day of agg_inventory_daily up to as_of (argMax by event time).
--   stock_value                 sum(stock x dim_product.unit_cost); negative stock (a book
--                               error) counts as 0, not as negative value.
--   stock_outs                  store x product pairs whose stock is <= 0.
--   cogs_30d                    cost of goods sold: sum(cost) of agg_sales_daily over the 30
--                               days (returns reduce it).
--   inventory_turnover_30d      cogs_30d / average stock value, where the AVERAGE STOCK VALUE
--                               IS DEFINED AS THE STOCK VALUE AT as_of (a point estimate, no
--                               daily history is averaged); NULL when that value is 0.
SELECT
    {as_of:Date} AS as_of,
    round(toFloat64(rev.revenue_day), 2) AS revenue,
    round(toFloat64(rev.revenue_week_ago), 2) AS revenue_last_week,
    if(rev.revenue_week_ago = 0, NULL,
       round((toFloat64(rev.revenue_day) - toFloat64(rev.revenue_week_ago))
             / toFloat64(rev.revenue_week_ago) * 100, 2)) AS revenue_change_pct,
    round(toFloat64(st.value), 2) AS stock_value,
    st.outs AS stock_outs,
    round(toFloat64(cg.cogs), 2) AS cogs_30d,
    if(st.value = 0, NULL,
       round(toFloat64(cg.cogs) / toFloat64(st.value), 2)) AS inventory_turnover_30d
FROM
(
    SELECT
        sumIf(revenue, date_key = toYYYYMMDD({as_of:Date})) AS revenue_day,
        sumIf(revenue, date_key = toYYYYMMDD({as_of:Date} - 7)) AS revenue_week_ago
    FROM agg_store_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key IN (toYYYYMMDD({as_of:Date}), toYYYYMMDD({as_of:Date} - 7))
) AS rev
CROSS JOIN
(
    SELECT
        sum(greatest(s.on_hand, 0) * p.unit_cost) AS value,
        countIf(s.on_hand <= 0) AS outs
    FROM
    (
        SELECT store_key, product_key, on_hand FROM stock_as_of(as_of = {as_of:Date})
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
    ) AS s
    LEFT JOIN (SELECT product_key, unit_cost FROM dim_product FINAL) AS p
        ON s.product_key = p.product_key
) AS st
CROSS JOIN
(
    SELECT sum(cost) AS cogs
    FROM agg_sales_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
) AS cg
