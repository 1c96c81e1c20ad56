-- title: Store today vs target
-- description: A store's revenue and units on as_of against a target: the average of the same weekday over the previous 4 weeks.
--
-- target = (value on as_of - 7, - 14, - 21, - 28) / 4; a day without sales counts as 0.
-- *_pct_of_target = value / target * 100, NULL when the target is 0. Reads agg_store_daily.
SELECT
    {store_id:String} AS store_id,
    {as_of:Date} AS as_of,
    round(toFloat64(revenue_day), 2) AS revenue,
    units_day AS units,
    round(toFloat64(revenue_4w) / 4, 2) AS target_revenue,
    round(units_4w / 4, 2) AS target_units,
    if(revenue_4w = 0, NULL,
       round(toFloat64(revenue_day) / (toFloat64(revenue_4w) / 4) * 100, 2))
        AS revenue_pct_of_target,
    if(units_4w = 0, NULL, round(units_day / (units_4w / 4) * 100, 2)) AS units_pct_of_target
FROM
(
    SELECT
        sumIf(revenue, date_key = toYYYYMMDD({as_of:Date})) AS revenue_day,
        sumIf(units, date_key = toYYYYMMDD({as_of:Date})) AS units_day,
        sumIf(revenue, date_key != toYYYYMMDD({as_of:Date})) AS revenue_4w,
        sumIf(units, date_key != toYYYYMMDD({as_of:Date})) AS units_4w
    FROM agg_store_daily
    WHERE store_key = retail_key({store_id:String})
      AND date_key IN (toYYYYMMDD({as_of:Date}), toYYYYMMDD({as_of:Date} - 7),
                       toYYYYMMDD({as_of:Date} - 14), toYYYYMMDD({as_of:Date} - 21),
                       toYYYYMMDD({as_of:Date} - 28))
)
