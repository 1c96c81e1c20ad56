-- title: Slow movers
-- description: Products with stock whose rate of sale (net units per stocking store per week, last 28 days) is under a quarter of the median product's, by stock value.
--
-- Per product, over the stores in {stores} (the reader's: row-level security; every store:
-- the chain). Stocking stores: the stores with the product on their inventory record on
-- as_of (stock_as_of); on_hand: the sum of their closing stock on as_of (negative stock
-- counts as 0). units_sold_28d: net units (sales minus returns) over as_of - 27 .. as_of in
-- those stores (agg_sales_daily; 0 when none). rate_of_sale = units_sold_28d / stocking
-- stores / 4 (units per store and week). The median is taken over every stocked
-- product (quantileExactInclusive, the mean of the middle two for an even count). Slow:
-- on_hand > 0 and rate_of_sale < median / 4; pct_of_median = rate_of_sale / median * 100.
-- Why a quarter: a rate relative to the chain's own median works for any chain size (a
-- simulated chain of 500 SKUs sells each far more than a real store's 30,000 do); in the
-- M5 (Walmart) data a quarter of the median item-store rate is about 1 unit per week, the
-- slowest eighth of the series (docs/simulator.md).
-- A reader of every store in dim_store (every_store) reads agg_product_daily instead, the
-- same units across stores (which also count any store missing from dim_store); the other
-- branch then reads nothing.
WITH notEmpty({stores:Array(String)})
     AND (SELECT countIf(NOT has({stores:Array(String)}, store_id)) FROM dim_store) = 0
     AS every_store
SELECT
    p.product_id AS product_id,
    p.sku AS sku,
    p.name AS product_name,
    p.category AS category,
    r.stores AS stores,
    r.on_hand AS on_hand,
    r.units AS units_sold_28d,
    round(r.rate, 2) AS rate_of_sale,
    round(r.rate / r.median_rate * 100, 1) AS pct_of_median,
    round(toFloat64(r.on_hand * p.unit_cost), 2) AS stock_value
FROM
(
    SELECT product_key, stores, on_hand, units, rate,
           quantileExactInclusive(0.5)(rate) OVER () AS median_rate
    FROM
    (
        SELECT s.product_key AS product_key, s.stores AS stores, s.on_hand AS on_hand,
               u.units AS units, u.units / s.stores / 4 AS rate
        FROM
        (
            SELECT product_key, count() AS stores, sum(greatest(on_hand, 0)) AS on_hand
            FROM stock_as_of(as_of = {as_of:Date})
            WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
            GROUP BY product_key
        ) AS s
        LEFT JOIN
        (
            SELECT product_key, sum(units) AS units
            FROM agg_product_daily
            WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
              AND every_store
            GROUP BY product_key
            UNION ALL
            SELECT product_key, sum(units) AS units
            FROM agg_sales_daily
            WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
              AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 27) AND toYYYYMMDD({as_of:Date})
              AND NOT every_store
            GROUP BY product_key
        ) AS u ON s.product_key = u.product_key
    )
) AS r
LEFT JOIN (SELECT product_key, product_id, sku, name, category, unit_cost
           FROM dim_product FINAL) AS p ON r.product_key = p.product_key
WHERE r.on_hand > 0 AND r.rate * 4 < r.median_rate
ORDER BY stock_value DESC, sku
