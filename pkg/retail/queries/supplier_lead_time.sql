-- title: Supplier lead time
-- description: Per supplier, deliveries in the 90 days up to as_of: count, mean and spread of the actual lead time, the promised lead time, on-time rate.
--
-- Deliveries to the stores in {stores} (the reader's: row-level security) whose 'delivered'
-- status event falls in as_of - 89 .. as_of. Lead time = delivered event_time - ordered_at;
-- promised = expected_arrival - ordered_at (days, from seconds); on time = delivered
-- event_time <= expected_arrival. Read from agg_supplier_store_daily (0021: the sums per
-- store x supplier x day, kept by a materialized view). sd_lead_time_days is the sample
-- standard deviation, from the exact integer sums: sqrt((n * sum(x^2) - sum(x)^2) /
-- (n * (n - 1))), NULL for a single delivery; on_time_rate_pct = on-time deliveries /
-- deliveries * 100.
SELECT
    sp.supplier_id AS supplier_id,
    sp.name AS supplier_name,
    f.deliveries AS delivered_shipments,
    f.units AS units_delivered,
    round(f.lead_s / f.deliveries / 86400, 2) AS mean_lead_time_days,
    if(f.deliveries > 1,
       round(sqrt(toFloat64(f.deliveries * f.lead_s2 - toInt128(f.lead_s) * f.lead_s)
                  / (f.deliveries * (f.deliveries - 1))) / 86400, 2),
       NULL) AS sd_lead_time_days,
    round(f.promised_s / f.deliveries / 86400, 2) AS mean_promised_lead_time_days,
    round(f.on_time / f.deliveries * 100, 2) AS on_time_rate_pct
FROM
(
    SELECT
        supplier_key,
        sum(deliveries) AS deliveries,
        sum(units) AS units,
        sum(lead_s) AS lead_s,
        sum(lead_s2) AS lead_s2,
        sum(promised_s) AS promised_s,
        sum(on_time) AS on_time
    FROM agg_supplier_store_daily
    WHERE store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
    GROUP BY supplier_key
) AS f
LEFT JOIN (SELECT supplier_key, supplier_id, name FROM dim_supplier FINAL) AS sp
    ON f.supplier_key = sp.supplier_key
ORDER BY supplier_id
