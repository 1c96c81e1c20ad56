-- title: Stock and days of cover
-- description: Store x product pairs' stock on hand against their days of cover as of as_of, classed understock (< 3 days), ok or overstock (> 60 days): the 500 pairs with the highest stock value.
--
-- The pairs, on_hand, units and classes of overstock_understock: pairs of the stores in
-- {stores} (the reader's: row-level security) with inventory on record; on_hand = closing
-- stock of the latest movement on or before as_of (stock_as_of); units_sold_28d = net
-- units over as_of - 27 .. as_of (agg_sales_daily, 0 when none); days_of_cover = on_hand x
-- 28 / units_sold_28d, 0 when on_hand <= 0, NULL (unbounded) when in stock without net
-- sales. stock_class: understock when on_hand <= 0 or cover < 3 days, overstock when cover
-- > 60 days or unbounded, else ok (compared exactly, in integers). stock_value =
-- max(on_hand, 0) x unit_cost. The 500 pairs with the highest stock value (ties by
-- store_id, sku): a scatter of every pair of a 200-store chain would not be read.
SELECT
    st.store_id AS store_id,
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    s.on_hand AS on_hand,
    round(toFloat64(greatest(s.on_hand, 0) * p.unit_cost), 2) AS stock_value,
    ifNull(d.units_28d, 0) AS units_sold_28d,
    multiIf(s.on_hand <= 0, toNullable(0.), units_sold_28d <= 0, NULL,
            round(s.on_hand * 28 / units_sold_28d, 1)) AS days_of_cover,
    multiIf(s.on_hand <= 0, 'understock',
            units_sold_28d <= 0, 'overstock',
            s.on_hand * 28 < 3 * units_sold_28d, 'understock',
            s.on_hand * 28 > 60 * units_sold_28d, 'overstock',
            'ok') AS stock_class
FROM
(
    SELECT store_key, product_key, on_hand FROM stock_as_of(as_of = {as_of:Date})
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
) AS s
LEFT JOIN
(
    SELECT store_key, product_key, toNullable(sum(units)) AS units_28d
    FROM agg_sales_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
    GROUP BY store_key, product_key
) AS d ON s.store_key = d.store_key AND s.product_key = d.product_key
LEFT JOIN (SELECT store_key, store_id FROM dim_store FINAL) AS st ON s.store_key = st.store_key
LEFT JOIN (SELECT product_key, product_id, sku, name, category, unit_cost
           FROM dim_product FINAL) AS p ON s.product_key = p.product_key
ORDER BY stock_value DESC, store_id, sku
LIMIT 500
