-- title: Forecast accuracy over time
-- description: Per evaluated day of the 90 days up to as_of and model version: the realised WAPE, bias, MAE and interval coverage of the forecasts, pooled over horizons and product categories.
--
-- Reads model_evaluations FINAL (evaluate_forecasts: per model version x day x horizon x
-- category, the forecasts for the day against its demand), days as_of - 89 .. as_of. The
-- sums pool exactly: pairs = sum(n); wape = sum(abs_error_sum) / sum(actual_sum); bias =
-- (sum(forecast_sum) - sum(actual_sum)) / sum(actual_sum) (> 0 over-forecasts); both NULL
-- without demand; mae = sum(abs_error_sum) / pairs; coverage_80 = the share of actuals inside
-- the 80 % interval, the rows' shares weighted by n; coverage_95 likewise over the rows that
-- have one (NULL: none). Shares are fractions (0.8 = 80 %), rounded to 4 decimals.
-- Model-wide: no store filter (the evaluations hold no store).
SELECT
    date,
    model,
    model_version,
    sum(n) AS pairs,
    round(sum(actual_sum), 2) AS actual_units,
    round(sum(forecast_sum), 2) AS forecast_units,
    if(sum(actual_sum) = 0, NULL, round(sum(abs_error_sum) / sum(actual_sum), 4)) AS wape,
    if(sum(actual_sum) = 0, NULL,
       round((sum(forecast_sum) - sum(actual_sum)) / sum(actual_sum), 4)) AS bias,
    if(pairs = 0, NULL, round(sum(abs_error_sum) / pairs, 4)) AS mae,
    if(pairs = 0, NULL, round(sum(coverage_80 * n) / pairs, 4)) AS coverage_80,
    if(sumIf(n, coverage_95 IS NOT NULL) = 0, NULL,
       round(sumIf(coverage_95 * n, coverage_95 IS NOT NULL)
             / sumIf(n, coverage_95 IS NOT NULL), 4)) AS coverage_95
FROM model_evaluations FINAL
WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
GROUP BY date, model, model_version
ORDER BY date, model, model_version
