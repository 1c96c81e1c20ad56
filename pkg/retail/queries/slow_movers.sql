-- title: Slow movers
-- description: Products with stock whose net units sold over the last 30 days are below 10 % of the stock on hand, by stock value.
--
-- Chain level, per product. on_hand = sum over stores of the closing stock of the latest
-- movement on or before as_of (agg_inventory_daily; negative stock counts as 0); only
-- products with on_hand > 0. units_sold_30d = net units (sales minus returns) over
-- as_of - 29 .. as_of (agg_product_daily). Slow: units_sold_30d < 10 % of on_hand.
-- sell_through_pct = units_sold_30d / on_hand * 100.
SELECT
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    s.stock AS on_hand,
    u.units_sold AS units_sold_30d,
    round(u.units_sold / s.stock * 100, 2) AS sell_through_pct,
    round(toFloat64(s.stock * p.unit_cost), 2) AS stock_value
FROM
(
    SELECT product_key, sum(greatest(on_hand, 0)) AS stock
    FROM
    stock_as_of(as_of = {as_of:Date})
    GROUP BY product_key
    HAVING stock > 0
) AS s
LEFT JOIN
(
    SELECT product_key, sum(units) AS units_sold
    FROM agg_product_daily
    WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 29) AND toYYYYMMDD({as_of:Date})
    GROUP BY product_key
) AS u ON s.product_key = u.product_key
LEFT JOIN (SELECT product_key, product_id, sku, name, category, unit_cost
           FROM dim_product FINAL) AS p ON s.product_key = p.product_key
WHERE u.units_sold * 10 < s.stock
ORDER BY stock_value DESC, sku
