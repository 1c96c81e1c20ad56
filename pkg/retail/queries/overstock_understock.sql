-- title: Overstock and understock
-- description: Store x product pairs classed by days of cover (understock < 3 days, overstock > 60 days, else ok): counts, units and value per class.
--
-- Per store x product with inventory on record, of the stores in {stores} (the reader's:
-- row-level security): on_hand = closing stock of the latest
-- movement on or before as_of (agg_inventory_daily); average daily units = net units over
-- the 28 days as_of - 27 .. as_of (agg_sales_daily) / 28; days of cover = on_hand / that.
-- on_hand <= 0 is understock (0 days of cover); on_hand > 0 with no net sales is overstock
-- (unbounded cover). Compared exactly: on_hand * 28 < 3 * units_28d, > 60 * units_28d.
-- Always three rows (understock, ok, overstock); units and value count negative stock as 0.
SELECT
    k.stock_class AS stock_class,
    c.pairs AS store_products,
    c.units AS units_on_hand,
    round(toFloat64(c.value), 2) AS stock_value
FROM
(
    SELECT arrayJoin(['understock', 'ok', 'overstock']) AS stock_class
) AS k
LEFT JOIN
(
    SELECT
        multiIf(s.on_hand <= 0, 'understock',
                d.units_28d <= 0, 'overstock',
                s.on_hand * 28 < 3 * d.units_28d, 'understock',
                s.on_hand * 28 > 60 * d.units_28d, 'overstock',
                'ok') AS stock_class,
        count() AS pairs,
        sum(greatest(s.on_hand, 0)) AS units,
        sum(greatest(s.on_hand, 0) * p.unit_cost) AS value
    FROM
    (
        SELECT store_key, product_key, on_hand FROM stock_as_of(as_of = {as_of:Date})
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
    ) AS s
    LEFT JOIN
    (
        SELECT store_key, product_key, sum(units) AS units_28d
        FROM agg_sales_daily
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
          AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
        GROUP BY store_key, product_key
    ) AS d ON s.store_key = d.store_key AND s.product_key = d.product_key
    LEFT JOIN (SELECT product_key, unit_cost FROM dim_product FINAL) AS p
        ON s.product_key = p.product_key
    GROUP BY stock_class
) AS c ON k.stock_class = c.stock_class
ORDER BY indexOf(['understock', 'ok', 'overstock'], stock_class)
