-- title: Reorder points
-- description: The replenishment policy per store x product from the latest run on or before as_of: stock position against safety stock, reorder point and order-up-to level; the 500 pairs furthest below their reorder point.
--
-- The run: the newest fact_replenishment run_date on or before as_of among the stores in
-- {stores} (the reader's: row-level security); of that day's model versions, the one
-- written last (max created_at). Rows FINAL of those stores. position = on_hand + on_order;
-- below_reorder_point = position < reorder_point (the policy's trigger to order);
-- gap_to_reorder_point = position - reorder_point (< 0: below). Levels in units, rounded
-- to 2 decimals. The 500 pairs with the lowest gap (ties by store_id, sku).
WITH (
    SELECT argMax((run_date, model_version), (run_date, created_at))
    FROM fact_replenishment
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND run_date <= {as_of:Date}
) AS run
SELECT
    r.run_date AS run_date,
    r.store_id AS store_id,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    r.on_hand AS on_hand,
    r.on_order AS on_order,
    round(r.safety_stock, 2) AS safety_stock,
    round(r.reorder_point, 2) AS reorder_point,
    round(r.order_up_to, 2) AS order_up_to,
    r.order_qty AS order_qty,
    r.on_hand + r.on_order < r.reorder_point AS below_reorder_point,
    round(r.on_hand + r.on_order - r.reorder_point, 2) AS gap_to_reorder_point,
    round(toFloat64(r.lead_time_days), 2) AS lead_time_days,
    round(toFloat64(r.service_level), 3) AS service_level,
    r.abc_class AS abc_class
FROM
(
    SELECT run_date, store_id, product_key, on_hand, on_order, safety_stock, reorder_point,
           order_up_to, order_qty, lead_time_days, service_level, abc_class
    FROM fact_replenishment FINAL
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND run_date = run.1 AND model_version = run.2
) AS r
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON r.product_key = p.product_key
ORDER BY gap_to_reorder_point, store_id, sku
LIMIT 500
