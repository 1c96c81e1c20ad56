-- title: Supplier lead time
-- description: Per supplier, deliveries in the 90 days up to as_of: count, mean and spread of the actual lead time, the promised lead time, on-time rate.
--
-- Shipments whose 'delivered' status event falls in as_of - 89 .. as_of. Lead time =
-- delivered event_time - ordered_at; promised = expected_arrival - ordered_at (days, from
-- seconds); on time = delivered event_time <= expected_arrival. Counts and means come from
-- agg_supplier_daily; the spread (sample standard deviation of the lead time, NULL for a
-- single delivery) from fact_supplier_shipments FINAL, which has the individual deliveries.
-- on_time_rate_pct = on-time deliveries / deliveries * 100.
SELECT
    sp.supplier_id AS supplier_id,
    sp.name AS supplier_name,
    f.deliveries AS delivered_shipments,
    f.units AS units_delivered,
    round(f.lead_s / 86400, 2) AS mean_lead_time_days,
    if(f.deliveries > 1, round(d.sd_s / 86400, 2), NULL) AS sd_lead_time_days,
    round(f.promised_s / 86400, 2) AS mean_promised_lead_time_days,
    round(f.on_time / f.deliveries * 100, 2) AS on_time_rate_pct
FROM
(
    SELECT
        supplier_key,
        sum(deliveries) AS deliveries,
        sum(units) AS units,
        sum(lead_s) / deliveries AS lead_s,
        sum(promised_s) / deliveries AS promised_s,
        sum(on_time) AS on_time
    FROM agg_supplier_daily
    WHERE date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
    GROUP BY supplier_key
) AS f
LEFT JOIN
(
    SELECT supplier_key, stddevSamp(dateDiff('second', ordered_at, event_time)) AS sd_s
    FROM fact_supplier_shipments FINAL
    WHERE status = 'delivered'
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
    GROUP BY supplier_key
) AS d ON f.supplier_key = d.supplier_key
LEFT JOIN (SELECT supplier_key, supplier_id, name FROM dim_supplier FINAL) AS sp
    ON f.supplier_key = sp.supplier_key
ORDER BY supplier_id
