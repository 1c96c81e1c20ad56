-- title: Store 7-day forecast
-- description: A store's demand forecast for the 7 days of its latest forecast run on or before as_of, summed over products, with the 80 % and 95 % bands and the actual units of days already past.
--
-- The run: the store's newest run date (fact_ml_predictions.run_date = target day -
-- horizon) on or before as_of among the 'demand_forecast' model's rows; of that run date's
-- model versions, the one written last (max predicted_at). One row per horizon 1..7 it
-- forecast (date = run_date + horizon), FINAL rows.
--   predicted_units           sum of predicted_demand over the store's products.
--   low_80, high_80           the 80 % bounds (confidence_low/high) SUMMED over products;
--   low_95, high_95           the 95 % bounds summed likewise (a product without a 95 %
--                             pair, written before 0015, counts its 80 % bounds). A sum of
--                             per-product bounds is wider than the interval of the total
--                             (products' errors partly cancel): a conservative band.
--   actual_units              net units sold (agg_sales_daily) on the day when the day is on
--                             or before as_of (0 without sales); NULL for days after as_of.
WITH (
    SELECT argMax((run_date, model_version), (run_date, predicted_at))
    FROM fact_ml_predictions
    WHERE store_key = retail_key({store_id:String}) AND model_name = 'demand_forecast'
      AND run_date <= {as_of:Date}
) AS run
SELECT
    YYYYMMDDToDate(f.date_key) AS date,
    f.horizon AS horizon,
    run.1 AS run_date,
    run.2 AS model_version,
    round(f.predicted, 2) AS predicted_units,
    round(f.low_80, 2) AS low_80,
    round(f.high_80, 2) AS high_80,
    round(f.low_95, 2) AS low_95,
    round(f.high_95, 2) AS high_95,
    if(date <= {as_of:Date}, toNullable(ifNull(a.units, 0)), NULL) AS actual_units
FROM
(
    SELECT date_key, horizon,
           sum(predicted_demand) AS predicted,
           sum(confidence_low) AS low_80,
           sum(confidence_high) AS high_80,
           sum(ifNull(confidence_low_95, confidence_low)) AS low_95,
           sum(ifNull(confidence_high_95, confidence_high)) AS high_95
    FROM fact_ml_predictions FINAL
    WHERE store_key = retail_key({store_id:String}) AND model_name = 'demand_forecast'
      AND run_date = run.1 AND model_version = run.2
    GROUP BY date_key, horizon
) AS f
LEFT JOIN
(
    SELECT date_key, sum(units) AS units
    FROM agg_sales_daily
    WHERE store_key = retail_key({store_id:String})
      AND date_key BETWEEN toYYYYMMDD(run.1) AND toYYYYMMDD({as_of:Date})
    GROUP BY date_key
) AS a ON f.date_key = a.date_key
ORDER BY horizon
