-- title: Slow movers with markdowns
-- description: The slow-mover model's flagged store x product pairs from its latest run on or before as_of, with the suggested markdown, by stock value (top 200).
--
-- The run: the newest ml_slow_movers run_date on or before as_of among the stores in
-- {stores} (the reader's: row-level security); of that day's model versions, the one
-- written last (max created_at). Rows FINAL with is_slow_mover, of those stores only.
--   probability           P(the stock on hand does not sell within horizon_days), 0..1.
--   stock_value           max(on_hand, 0) x dim_product.unit_cost.
--   velocity_28           mean units sold per day over the 28 days to the run date.
--   days_of_cover         on_hand / velocity_28 (NULL: no sales).
--   markdown_depth_pct    the suggested discount, % of the regular price (0: none).
--   markdown_start        start the markdown on this day (NULL: none).
--   expected_units_markdown  units expected to sell within the horizon with the markdown.
-- The 200 pairs with the highest stock value (ties by store_id, sku).
WITH (
    SELECT argMax((run_date, model_version), (run_date, created_at))
    FROM ml_slow_movers
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND run_date <= {as_of:Date}
) AS run
SELECT
    m.run_date AS run_date,
    m.model_version AS model_version,
    m.store_id AS store_id,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    round(m.probability, 4) AS probability,
    m.on_hand AS on_hand,
    round(toFloat64(greatest(m.on_hand, 0) * p.unit_cost), 2) AS stock_value,
    round(m.velocity_28, 2) AS velocity_28,
    round(m.days_of_cover, 1) AS days_of_cover,
    round(toFloat64(m.markdown_depth) * 100, 1) AS markdown_depth_pct,
    m.markdown_start AS markdown_start,
    round(m.expected_units_markdown, 1) AS expected_units_markdown
FROM
(
    SELECT run_date, model_version, store_id, product_key, probability, on_hand,
           velocity_28, days_of_cover, markdown_depth, markdown_start, expected_units_markdown
    FROM ml_slow_movers FINAL
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND run_date = run.1 AND model_version = run.2 AND is_slow_mover
) AS m
LEFT JOIN (SELECT product_key, product_id, sku, name, category, unit_cost
           FROM dim_product FINAL) AS p ON m.product_key = p.product_key
ORDER BY stock_value DESC, store_id, sku
LIMIT 200
