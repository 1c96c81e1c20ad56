-- title: Inventory aging by bucket
-- description: Stock on hand as of as_of per age bucket (days since the last restock: 0-30, 31-60, 61-90, 90+, unknown): store x product pairs, units and value at unit cost.
--
-- inventory_aging rolled up: pairs of the stores in {stores} (the reader's: row-level
-- security) whose closing stock on as_of (stock_as_of) is > 0, bucketed by as_of - the
-- date of their newest restock on or before as_of (0-30, 31-60, 61-90, 90+ = over 90
-- days; unknown = no restock on record). stock_value = on_hand x dim_product.unit_cost.
-- Always five rows, in bucket order (an empty bucket has zeros).
SELECT
    k.age_bucket AS age_bucket,
    b.pairs AS store_products,
    b.units AS units_on_hand,
    round(toFloat64(b.value), 2) AS stock_value
FROM
(
    SELECT arrayJoin(['0-30', '31-60', '61-90', '90+', 'unknown']) AS age_bucket
) AS k
LEFT JOIN
(
    SELECT
        multiIf(s.last_restock_key = 0, 'unknown', s.age <= 30, '0-30', s.age <= 60, '31-60',
                s.age <= 90, '61-90', '90+') AS age_bucket,
        count() AS pairs,
        sum(s.on_hand) AS units,
        sum(s.on_hand * p.unit_cost) AS value
    FROM
    (
        SELECT product_key, on_hand, last_restock_key,
               dateDiff('day', YYYYMMDDToDate(greatest(last_restock_key, 19700101)),
                        {as_of:Date}) AS age
        FROM stock_as_of(as_of = {as_of:Date})
        WHERE on_hand > 0
          AND store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
    ) AS s
    LEFT JOIN (SELECT product_key, unit_cost FROM dim_product FINAL) AS p
        ON s.product_key = p.product_key
    GROUP BY age_bucket
) AS b ON k.age_bucket = b.age_bucket
ORDER BY indexOf(['0-30', '31-60', '61-90', '90+', 'unknown'], age_bucket)
