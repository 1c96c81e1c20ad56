-- title: Store recommended orders
-- description: A store's recommended orders from its latest replenishment run on or before as_of: products with an order quantity above 0, to be ordered soonest first.
--
-- The run: the store's newest fact_replenishment run_date on or before as_of; of that day's
-- model versions, the one written last (max created_at). Rows FINAL, order_qty > 0 only.
-- order_qty is whole packs (pack_size units each); reorder_point and order_up_to are the
-- policy's levels for the stock position (on_hand + on_order); stock_out_risk the
-- probability (0..1) of a stock-out before the next delivery; reasons joined with ', '.
-- Ordered by order_by_date (NULL last), then the highest risk, then sku.
WITH (
    SELECT argMax((run_date, model_version), (run_date, created_at))
    FROM fact_replenishment
    WHERE store_key = retail_key({store_id:String}) AND run_date <= {as_of:Date}
) AS run
SELECT
    r.run_date AS run_date,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    r.on_hand AS on_hand,
    r.on_order AS on_order,
    round(r.reorder_point, 2) AS reorder_point,
    round(r.order_up_to, 2) AS order_up_to,
    r.order_qty AS order_qty,
    r.pack_size AS pack_size,
    r.order_by_date AS order_by_date,
    round(toFloat64(r.stock_out_risk), 4) AS stock_out_risk,
    r.abc_class AS abc_class,
    arrayStringConcat(r.reasons, ', ') AS reasons
FROM
(
    SELECT run_date, product_key, on_hand, on_order, reorder_point, order_up_to, order_qty,
           pack_size, order_by_date, stock_out_risk, abc_class, reasons
    FROM fact_replenishment FINAL
    WHERE store_key = retail_key({store_id:String})
      AND run_date = run.1 AND model_version = run.2 AND order_qty > 0
) AS r
LEFT JOIN (SELECT product_key, product_id, sku, name, category FROM dim_product FINAL) AS p
    ON r.product_key = p.product_key
ORDER BY order_by_date ASC NULLS LAST, stock_out_risk DESC, sku
