-- 0020: the dashboards' current stock is current whatever filled the warehouse (issue 20,
-- "Power BI data preparation"). bi_inventory_current read only inventory_levels_current, the
-- stream's own state, so stock that reached fact_inventory another way (a backfill, a day
-- completed by the daily ETL, an end-of-day snapshot of close-imported) never showed. Its
-- On Hand now comes from agg_inventory_latest, which a materialized view keeps at every
-- insert into fact_inventory, whoever inserts; the stream's state adds the policy columns
-- (reorder point, safety stock, cover, risk) where it has them (0 / NULL where not). No
-- table needs refreshing on a schedule: the bi_prepare DAG only checks the views' budgets.
CREATE OR REPLACE VIEW bi_inventory_current SQL SECURITY DEFINER AS
SELECT
    l.store_key AS `Store Key`, l.product_key AS `Product Key`,
    l.on_hand AS `On Hand`, s.reorder_point AS `Reorder Point`,
    s.safety_stock AS `Safety Stock`, s.days_of_cover AS `Days of Cover`,
    s.stock_out_risk AS `Stock-out Risk`,
    if(s.s_store = 0, l.as_of, greatest(s.last_event_time, l.as_of)) AS `As Of (UTC)`
FROM
(
    SELECT store_key, product_key, argMaxMerge(on_hand) AS on_hand,
           toDateTime64(toDate(toString(max(last_date_key))), 3, 'UTC') AS as_of
    FROM agg_inventory_latest
    GROUP BY store_key, product_key
) AS l
LEFT JOIN
(
    SELECT store_key AS s_store, product_key AS s_product, reorder_point, safety_stock,
           days_of_cover, stock_out_risk, last_event_time
    FROM inventory_levels_current FINAL
) AS s ON l.store_key = s.s_store AND l.product_key = s.s_product;
