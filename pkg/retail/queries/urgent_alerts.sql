-- title: Urgent alerts
-- description: The open stream alerts of the 7 days up to as_of in the reader's stores, most severe first, then newest: the 100 most urgent.
--
-- Reads stream_alerts FINAL: status 'open', event day (UTC) in as_of - 6 .. as_of, store in
-- {stores} (the reader's: row-level security). Severity order critical, high, medium,
-- low (anything else after), then the newest event_time, then alert_id. product_name from
-- dim_product (NULL for a store-level alert, whose product_id is ''). details is the JSON
-- the rule wrote (the values that triggered it).
SELECT
    a.event_time AS event_time,
    a.severity AS severity,
    a.alert_type AS alert_type,
    a.store_id AS store_id,
    a.product_id AS product_id,
    p.name AS product_name,
    a.metric_value AS metric_value,
    a.threshold AS threshold,
    a.details AS details,
    toString(a.alert_id) AS alert_id
FROM
(
    SELECT alert_id, event_time, severity, alert_type, store_id, product_id, metric_value,
           threshold, details
    FROM stream_alerts FINAL
    WHERE store_id IN (SELECT arrayJoin({stores:Array(String)}))
      AND status = 'open'
      AND toDate(event_time) BETWEEN {as_of:Date} - 6 AND {as_of:Date}
) AS a
LEFT JOIN (SELECT product_id, toNullable(name) AS name FROM dim_product FINAL) AS p
    ON a.product_id = p.product_id
ORDER BY indexOf(['critical', 'high', 'medium', 'low'], severity) = 0,
         indexOf(['critical', 'high', 'medium', 'low'], severity), event_time DESC, alert_id
LIMIT 100
