-- title: Business impact
-- description: The newest closed-loop experiment created on or before as_of (retail evaluate business): stock-outs prevented, overstock reduction, lost sales avoided and the change in inventory turnover of the platform arm against the chain's fixed ordering policy.
--
-- Reads bi_business_impact (one row per run x arm x metric; docs/business-impact.md): the
-- run with the newest Created At before the end of as_of (UTC), as the other model panels
-- read the newest training. stockouts_prevented_pct = 100 * (1 - platform / baseline
-- stock-out rate); overstock_reduction_pct the same of the overstock value at cost;
-- lost_sales_avoided = baseline - platform lost sales value; turnover_change_pct = 100 *
-- (platform / baseline turnover - 1). NULL where the baseline's figure is 0. Chain-wide
-- (a simulated chain, not the warehouse's stores): no store filter. No row when no run.
SELECT
    `Run ID` AS run_id,
    any(`Period From`) AS period_from,
    any(`Period To`) AS period_to,
    any(`Stores`) AS stores,
    any(`Products`) AS products,
    round(100 * (1 - sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'stockout_rate')
                 / nullIf(sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'stockout_rate'), 0)),
          1) AS stockouts_prevented_pct,
    round(100 * (1 - sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'overstock_value')
                 / nullIf(sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'overstock_value'), 0)),
          1) AS overstock_reduction_pct,
    round(sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'lost_value')
          - sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'lost_value'), 0) AS lost_sales_avoided,
    round(100 * (sumIf(`Value`, `Arm` = 'platform' AND `Metric` = 'turnover')
                 / nullIf(sumIf(`Value`, `Arm` = 'baseline' AND `Metric` = 'turnover'), 0) - 1),
          1) AS turnover_change_pct
FROM bi_business_impact
WHERE `Run ID` = (
    SELECT argMax(`Run ID`, `Created At (UTC)`)
    FROM bi_business_impact
    WHERE `Created At (UTC)` < toDateTime64({as_of:Date} + 1, 3, 'UTC'))
GROUP BY `Run ID`
