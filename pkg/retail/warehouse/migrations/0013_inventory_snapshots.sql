-- 0013: the end-of-day inventory snapshot the daily batch writes into fact_inventory
-- (record_type 'snapshot', one row per store x product with stock on record, keyed by
-- inventory_id 'snapshot-YYYYMMDD': a re-run replaces it). Its event_time is the last
-- millisecond of the store's local day, so "stock now" (agg_inventory_latest) still follows
-- the first movement of the next day. A snapshot changes no quantity (quantity_change 0),
-- so the inventory views count it nowhere but as the day's closing level, which it equals.
ALTER TABLE fact_inventory
    ADD COLUMN IF NOT EXISTS on_order Int32 DEFAULT 0
        COMMENT 'snapshot: units ordered from suppliers and not yet delivered at the end of the day' AFTER quantity_on_hand,
    ADD COLUMN IF NOT EXISTS days_of_cover Nullable(Float32)
        COMMENT 'snapshot: on hand / mean units sold per day over the last 28 days (null: no sales)' AFTER on_order;
