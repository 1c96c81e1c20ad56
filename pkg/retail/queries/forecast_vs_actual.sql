-- title: Forecast vs actual
-- description: Per day of the 28 days up to as_of, the next-day (horizon 1) demand forecasts summed over the reader's stores and products, with the 80 % band, against the units sold.
--
-- 28 days = as_of - 27 .. as_of, one row each. forecast_units: sum of predicted_demand of
-- fact_ml_predictions FINAL rows with horizon 1 (made the day before) of the
-- 'demand_forecast' model for the stores in {stores} (the reader's: row-level security);
-- where several model versions forecast a store x product x day, the one written last
-- (max predicted_at) counts. low_80, high_80: the 80 % bounds summed likewise (wider than
-- the total's own interval). NULL when no forecast exists for the day. actual_units: net
-- units sold (sales minus returns) in those stores, all products (agg_store_daily; 0
-- without sales). The model's demand also counts lost sales, so a forecast above the
-- units sold on days with stock-outs is expected.
SELECT
    d.date AS date,
    round(f.forecast, 2) AS forecast_units,
    round(f.low_80, 2) AS low_80,
    round(f.high_80, 2) AS high_80,
    ifNull(a.units, 0) AS actual_units
FROM
(
    SELECT {as_of:Date} - 27 + arrayJoin(range(28)) AS date, toYYYYMMDD(date) AS date_key
) AS d
LEFT JOIN
(
    SELECT date_key, toNullable(sum(p)) AS forecast, toNullable(sum(lo)) AS low_80,
           toNullable(sum(hi)) AS high_80
    FROM
    (
        SELECT store_key, product_key, date_key,
               argMax(predicted_demand, predicted_at) AS p,
               argMax(confidence_low, predicted_at) AS lo,
               argMax(confidence_high, predicted_at) AS hi
        FROM fact_ml_predictions FINAL
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
          AND horizon = 1 AND model_name = 'demand_forecast'
          AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
        GROUP BY store_key, product_key, date_key
    )
    GROUP BY date_key
) AS f ON d.date_key = f.date_key
LEFT JOIN
(
    SELECT date_key, sum(units) AS units
    FROM agg_store_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
    GROUP BY date_key
) AS a ON d.date_key = a.date_key
ORDER BY date
