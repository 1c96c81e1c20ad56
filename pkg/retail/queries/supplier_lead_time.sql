-- title: Supplier lead time
-- description: Per supplier, deliveries in the 90 days up to as_of: count, mean and spread of the actual lead time, the promised lead time, on-time rate.
--
-- Shipments to the stores in {stores} (the reader's: row-level security) whose 'delivered'
-- status event falls in as_of - 89 .. as_of. Lead time = delivered event_time - ordered_at;
-- promised = expected_arrival - ordered_at (days, from seconds); on time = delivered
-- event_time <= expected_arrival. Read from fact_supplier_shipments FINAL (the individual
-- deliveries: agg_supplier_daily has no store, so it cannot be limited to the reader's
-- stores). sd_lead_time_days is the sample standard deviation (NULL for a single delivery);
-- on_time_rate_pct = on-time deliveries / deliveries * 100.
SELECT
    sp.supplier_id AS supplier_id,
    sp.name AS supplier_name,
    f.deliveries AS delivered_shipments,
    f.units AS units_delivered,
    round(f.lead_s / 86400, 2) AS mean_lead_time_days,
    if(f.deliveries > 1, round(f.sd_s / 86400, 2), NULL) AS sd_lead_time_days,
    round(f.promised_s / 86400, 2) AS mean_promised_lead_time_days,
    round(f.on_time / f.deliveries * 100, 2) AS on_time_rate_pct
FROM
(
    SELECT
        supplier_key,
        count() AS deliveries,
        sum(quantity) AS units,
        avg(dateDiff('second', ordered_at, event_time)) AS lead_s,
        stddevSamp(dateDiff('second', ordered_at, event_time)) AS sd_s,
        avg(dateDiff('second', ordered_at, expected_arrival)) AS promised_s,
        countIf(event_time <= expected_arrival) AS on_time
    FROM fact_supplier_shipments FINAL
    WHERE status = 'delivered'
      AND store_key IN (SELECT retail_key(arrayJoin({stores:Array(String)})))
      AND date_key BETWEEN toYYYYMMDD({as_of:Date} - 89) AND toYYYYMMDD({as_of:Date})
    GROUP BY supplier_key
) AS f
LEFT JOIN (SELECT supplier_key, supplier_id, name FROM dim_supplier FINAL) AS sp
    ON f.supplier_key = sp.supplier_key
ORDER BY supplier_id
