-- title: Store stock-out risk
-- description: A store's products as a traffic light of stock-out risk as of as_of: red at or above 50 % (or out of stock), amber at or above 20 %, green below.
--
-- Products: those with inventory on record at the store on or before as_of; on_hand = the
-- closing stock of the latest movement on or before as_of (agg_inventory_daily).
-- stock_out_risk (0..1), the first that exists:
--   1. 'replenishment': fact_replenishment's risk (a stock-out before the next delivery)
--      from the store's latest run on or before as_of (newest run_date, then the model
--      version written last), FINAL;
--   2. 'stream': inventory_levels_current FINAL, the stream's current risk (a setting of
--      now, used whatever as_of is);
--   3. 'none': no estimate (stock_out_risk NULL).
-- risk_light: 'red' when on_hand <= 0 or risk >= 0.5; 'amber' when risk >= 0.2; 'green'
-- when risk < 0.2; 'unknown' when there is no estimate and the product is in stock. The risk
-- is rounded to 4 decimals before it is compared.
-- Ordered red, amber, unknown, green, then the highest risk, then sku.
WITH (
    SELECT argMax((run_date, model_version), (run_date, created_at))
    FROM fact_replenishment
    WHERE store_key = retail_key({store_id:String}) AND run_date <= {as_of:Date}
) AS run
SELECT
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    s.on_hand AS on_hand,
    round(coalesce(rr.rp_risk, c.c_risk), 4) AS stock_out_risk,
    multiIf(rr.rp_risk IS NOT NULL, 'replenishment', c.c_risk IS NOT NULL, 'stream', 'none')
        AS risk_source,
    multiIf(s.on_hand <= 0 OR stock_out_risk >= 0.5, 'red', stock_out_risk >= 0.2, 'amber',
            stock_out_risk IS NULL, 'unknown', 'green') AS risk_light
FROM
(
    SELECT product_key, argMaxMerge(closing_on_hand) AS on_hand
    FROM agg_inventory_daily
    WHERE store_key = retail_key({store_id:String}) AND date_key <= toYYYYMMDD({as_of:Date})
    GROUP BY product_key
) AS s
LEFT JOIN
(
    SELECT product_key, toNullable(toFloat64(stock_out_risk)) AS rp_risk
    FROM fact_replenishment FINAL
    WHERE store_key = retail_key({store_id:String})
      AND run_date = run.1 AND model_version = run.2
) AS rr ON s.product_key = rr.product_key
LEFT JOIN
(
    SELECT product_key, toNullable(toFloat64(stock_out_risk)) AS c_risk
    FROM inventory_levels_current FINAL
    WHERE store_id = {store_id:String}
) AS c ON s.product_key = c.product_key
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON s.product_key = p.product_key
ORDER BY indexOf(['red', 'amber', 'unknown', 'green'], risk_light), stock_out_risk DESC NULLS LAST,
         sku
