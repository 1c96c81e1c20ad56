-- title: Power BI measures (SQL twins)
-- description: Every KPI measure of the Power BI model (KPI table) on one day and the reader's stores: one row, one column per measure.
--
-- The twin of each DAX measure in powerbi/RetailPlatform.SemanticModel/definition/tables/
-- KPI.tmdl (its SqlTwin annotation names the column here): the number the measure shows
-- with the report filtered to the one day as_of and to the stores in {stores} (what the
-- RLS roles leave a reader). It reads the same bi_* views as the model, with the same
-- windows. A DAX BLANK is NULL here for ratios (DIVIDE by 0) and 0 for sums and counts
-- over no rows (the count measures add 0 in DAX too). Ratios are fractions (0.25 = 25 %).
--   sales        bi_fact_sales_daily: the day; the day 7 days earlier (revenue_last_week);
--                the target = mean of the days 7, 14, 21 and 28 days earlier; units over
--                the 28 days and cost over the 30 days ending on as_of.
--   stock        bi_fact_inventory_daily: per store x product, the closing stock of its
--                latest day on or before as_of; negative stock counts 0 in units and value
--                (at bi_dim_product's unit cost); <= 0 is a stock-out.
--   turnover     cogs_30d / stock_value; days_of_cover = stock_units / (units_28d / 28).
--   low stock    bi_inventory_current (live, no date): On Hand <= Reorder Point.
--   forecasts    bi_model_evaluations of the evaluated day as_of (no store: chain-wide):
--                WAPE = sum |error| / sum actual; MAPE = mean over rows with demand of
--                |forecast - actual| / actual (category-day totals: the view keeps no
--                pairs); bias = (sum forecast - sum actual) / sum actual; coverage = the
--                Pairs-weighted mean of the row coverages (95 %: rows that have one).
--   alerts       bi_stream_alerts (no date): open; urgent = open and high or critical.
--   per day      lost revenue, recommended order units, slow movers, anomalies and
--                significant drift on the day as_of.
--   experiment   bi_business_impact's newest run (`Latest Run` = 1; the DAX takes the
--                newest run in context, that one when no run is chosen). A simulated chain:
--                no date, no store. 1 - platform / baseline of the stock-out rate and the
--                overstock value, baseline - platform lost value, platform / baseline
--                turnover - 1; NULL when the baseline's figure is 0.
SELECT
    s.revenue AS revenue,
    s.units AS units,
    s.profit AS profit,
    if(s.revenue = 0, NULL, s.profit / s.revenue) AS gross_margin_pct,
    s.revenue_last_week AS revenue_last_week,
    if(s.revenue_last_week = 0, NULL,
       (s.revenue - s.revenue_last_week) / s.revenue_last_week) AS revenue_vs_last_week_pct,
    s.revenue_4w / 4 AS revenue_target,
    if(s.revenue_4w = 0, NULL, s.revenue / (s.revenue_4w / 4)) AS revenue_vs_target_pct,
    s.units_28d AS units_28d,
    s.cogs_30d AS cogs_30d,
    st.stock_units AS stock_units,
    st.stock_value AS stock_value,
    st.stock_outs AS stock_outs_today,
    if(st.stock_value = 0, NULL, s.cogs_30d / st.stock_value) AS inventory_turnover,
    if(s.units_28d = 0, NULL, st.stock_units / (s.units_28d / 28)) AS days_of_cover,
    ic.low_stock AS low_stock_items,
    ls.lost_revenue AS lost_revenue,
    rp.order_units AS recommended_order_units,
    sm.slow_movers AS slow_mover_items,
    ev.wape AS forecast_wape,
    ev.mape AS forecast_mape,
    ev.bias AS forecast_bias,
    ev.coverage_80 AS interval_coverage_80_pct,
    ev.coverage_95 AS interval_coverage_95_pct,
    dr.drifted AS drifted_features,
    if(ex.stockout_baseline = 0, NULL,
       (ex.stockout_baseline - ex.stockout_platform) / ex.stockout_baseline)
        AS stock_outs_prevented_pct,
    if(ex.overstock_baseline = 0, NULL,
       (ex.overstock_baseline - ex.overstock_platform) / ex.overstock_baseline)
        AS overstock_reduction_pct,
    ex.lost_baseline - ex.lost_platform AS lost_sales_avoided,
    if(ex.turnover_baseline = 0, NULL,
       (ex.turnover_platform - ex.turnover_baseline) / ex.turnover_baseline)
        AS inventory_turnover_change_pct,
    al.open AS open_alerts,
    al.urgent AS urgent_alerts,
    an.anomalies AS detected_anomalies
FROM
(
    SELECT
        toFloat64(sumIf(`Revenue`, `Date Key` = toYYYYMMDD({as_of:Date}))) AS revenue,
        toInt64(sumIf(`Units`, `Date Key` = toYYYYMMDD({as_of:Date}))) AS units,
        toFloat64(sumIf(`Profit`, `Date Key` = toYYYYMMDD({as_of:Date}))) AS profit,
        toFloat64(sumIf(`Revenue`, `Date Key` = toYYYYMMDD({as_of:Date} - 7))) AS revenue_last_week,
        toFloat64(sumIf(`Revenue`, `Date Key` IN (toYYYYMMDD({as_of:Date} - 7),
            toYYYYMMDD({as_of:Date} - 14), toYYYYMMDD({as_of:Date} - 21),
            toYYYYMMDD({as_of:Date} - 28)))) AS revenue_4w,
        toInt64(sumIf(`Units`, `Date Key` >= toYYYYMMDD({as_of:Date} - 27))) AS units_28d,
        toFloat64(sum(`Cost`)) AS cogs_30d
    FROM bi_fact_sales_daily
    WHERE `Date Key` BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
      AND `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS s
CROSS JOIN
(
    SELECT
        toInt64(sum(greatest(pair.closing, 0))) AS stock_units,
        toFloat64(sum(greatest(pair.closing, 0) * p.unit_cost)) AS stock_value,
        toInt64(countIf(pair.closing <= 0)) AS stock_outs
    FROM
    (
        SELECT `Store Key` AS store_key, `Product Key` AS product_key,
               argMax(`Closing Stock`, `Date Key`) AS closing
        FROM bi_fact_inventory_daily
        WHERE `Date Key` <= toYYYYMMDD({as_of:Date})
          AND `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                              WHERE has({stores:Array(String)}, `Store ID`))
        GROUP BY store_key, product_key
    ) AS pair
    LEFT JOIN (SELECT `Product Key` AS product_key, `Unit Cost` AS unit_cost
               FROM bi_dim_product) AS p ON pair.product_key = p.product_key
) AS st
CROSS JOIN
(
    SELECT toInt64(countIf(`On Hand` <= `Reorder Point`)) AS low_stock
    FROM bi_inventory_current
    WHERE `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS ic
CROSS JOIN
(
    SELECT toFloat64(sum(`Lost Revenue`)) AS lost_revenue
    FROM bi_fact_lost_sales
    WHERE `Date Key` = toYYYYMMDD({as_of:Date})
      AND `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS ls
CROSS JOIN
(
    SELECT toInt64(sum(`Recommended Order`)) AS order_units
    FROM bi_fact_replenishment
    WHERE `Date Key` = toYYYYMMDD({as_of:Date})
      AND `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS rp
CROSS JOIN
(
    SELECT toInt64(countIf(`Slow Mover`)) AS slow_movers
    FROM bi_ml_slow_movers
    WHERE `Date Key` = toYYYYMMDD({as_of:Date})
      AND `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS sm
CROSS JOIN
(
    SELECT toInt64(count()) AS anomalies
    FROM bi_ml_anomalies
    WHERE `Date Key` = toYYYYMMDD({as_of:Date})
      AND `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS an
CROSS JOIN
(
    SELECT
        if(sum(`Actual Demand`) = 0, NULL,
           sum(`Absolute Error`) / sum(`Actual Demand`)) AS wape,
        if(countIf(`Actual Demand` > 0) = 0, NULL,
           sumIf(abs(`Forecast Demand` - `Actual Demand`) / `Actual Demand`, `Actual Demand` > 0)
               / countIf(`Actual Demand` > 0)) AS mape,
        if(sum(`Actual Demand`) = 0, NULL,
           (sum(`Forecast Demand`) - sum(`Actual Demand`)) / sum(`Actual Demand`)) AS bias,
        if(sum(`Pairs`) = 0, NULL, sum(`Coverage 80%` * `Pairs`) / sum(`Pairs`)) AS coverage_80,
        if(sumIf(`Pairs`, `Coverage 95%` IS NOT NULL) = 0, NULL,
           sumIf(`Coverage 95%` * `Pairs`, `Coverage 95%` IS NOT NULL)
               / sumIf(`Pairs`, `Coverage 95%` IS NOT NULL)) AS coverage_95
    FROM bi_model_evaluations
    WHERE `Date Key` = toYYYYMMDD({as_of:Date})
) AS ev
CROSS JOIN
(
    SELECT toInt64(countIf(`Status` = 'significant')) AS drifted
    FROM bi_model_drift
    WHERE `Date Key` = toYYYYMMDD({as_of:Date})
) AS dr
CROSS JOIN
(
    SELECT
        sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'stockout_rate') AS stockout_baseline,
        sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'stockout_rate') AS stockout_platform,
        sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'overstock_value') AS overstock_baseline,
        sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'overstock_value') AS overstock_platform,
        sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'lost_value') AS lost_baseline,
        sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'lost_value') AS lost_platform,
        sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'turnover') AS turnover_baseline,
        sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'turnover') AS turnover_platform
    FROM bi_business_impact
    WHERE `Latest Run` = 1
) AS ex
CROSS JOIN
(
    SELECT toInt64(countIf(`Status` = 'open')) AS open,
           toInt64(countIf(`Status` = 'open' AND `Severity` IN ('high', 'critical'))) AS urgent
    FROM bi_stream_alerts
    WHERE `Store Key` IN (SELECT `Store Key` FROM bi_dim_store
                          WHERE has({stores:Array(String)}, `Store ID`))
) AS al
