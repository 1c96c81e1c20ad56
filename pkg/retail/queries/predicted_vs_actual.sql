-- title: Predicted vs actual by product
-- description: Per product over the 28 days up to as_of, the next-day (horizon 1) forecasts summed over the reader's stores against the units those stores sold.
--
-- 28 days = as_of - 27 .. as_of. predicted_units: sum of predicted_demand of
-- fact_ml_predictions FINAL rows with horizon 1 of the 'demand_forecast' model for the
-- stores in {stores} (the reader's: row-level security), one per store x product x day
-- (the model version written last when several). actual_units: net units (sales minus
-- returns) the same store x product pairs sold over the 28 days (agg_sales_daily, 0 without
-- sales): the units of the forecast days when the daily job forecast every day. Products
-- with at least one forecast. error = predicted - actual; error_pct = error / actual x 100
-- (NULL when nothing sold). Ordered by actual units (highest first), then sku.
SELECT
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    round(f.predicted, 2) AS predicted_units,
    f.actual AS actual_units,
    round(f.predicted - f.actual, 2) AS error,
    if(f.actual = 0, NULL, round((f.predicted - f.actual) / f.actual * 100, 1)) AS error_pct
FROM
(
    SELECT fc.product_key AS product_key, sum(fc.predicted) AS predicted,
           sum(ifNull(s.units, 0)) AS actual
    FROM
    (
        SELECT store_key, product_key, sum(p) AS predicted
        FROM
        (
            SELECT store_key, product_key, date_key,
                   argMax(predicted_demand, predicted_at) AS p
            FROM fact_ml_predictions FINAL
            WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
              AND horizon = 1 AND model_name = 'demand_forecast'
              AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
            GROUP BY store_key, product_key, date_key
        )
        GROUP BY store_key, product_key
    ) AS fc
    LEFT JOIN
    (
        SELECT store_key, product_key, toNullable(sum(units)) AS units
        FROM agg_sales_daily
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
          AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
          AND (store_key, product_key) IN (  -- the forecast pairs only (read by the key)
              SELECT store_key, product_key FROM fact_ml_predictions
              WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
                AND horizon = 1 AND model_name = 'demand_forecast'
                AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27)
                                 AND toYYYYMMDD({as_of:Date}))
        GROUP BY store_key, product_key
    ) AS s ON fc.store_key = s.store_key AND fc.product_key = s.product_key
    GROUP BY product_key
) AS f
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON f.product_key = p.product_key
ORDER BY actual_units DESC, sku
