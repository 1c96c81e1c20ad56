-- title: Overstocked stores
-- description: Per store, the products with more than 60 days of cover as of as_of: how many, their units and their value at unit cost, highest value first.
--
-- Overstock exactly as in overstock_understock: a store x product with stock on as_of
-- (closing stock of the latest movement on or before as_of, stock_as_of, > 0) and either no
-- net sales over as_of - 27 .. as_of (agg_sales_daily) or on_hand x 28 > 60 x those units.
-- Stores in {stores} (the reader's: row-level security) with at least one such product;
-- overstock_value = sum(on_hand x dim_product.unit_cost). Ties by store_id.
SELECT
    st.store_id AS store_id,
    st.name AS store_name,
    st.region AS region,
    o.products AS overstock_products,
    o.units AS overstock_units,
    round(toFloat64(o.value), 2) AS overstock_value
FROM
(
    SELECT s.store_key AS store_key, count() AS products, sum(s.on_hand) AS units,
           sum(s.on_hand * p.unit_cost) AS value
    FROM
    (
        SELECT store_key, product_key, on_hand FROM stock_as_of(as_of = {as_of:Date})
        WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
          AND on_hand > 0
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
    WHERE d.units_28d <= 0 OR s.on_hand * 28 > 60 * d.units_28d
    GROUP BY s.store_key
) AS o
LEFT JOIN (SELECT store_key, store_id, name, region FROM dim_store FINAL) AS st
    ON o.store_key = st.store_key
ORDER BY overstock_value DESC, store_id
