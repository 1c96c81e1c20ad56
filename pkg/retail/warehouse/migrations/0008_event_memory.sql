-- 0008: the stream's durable memory of the events it accepted.
--
-- Spark's own deduplication remembers event ids for RETAIL_STREAM__DEDUP_MINUTES only. An
-- event sent again later (a producer retry, a simulation run again, a replay from older
-- offsets, a restart from a fresh checkpoint) must still count once, so every micro-batch
-- registers the ids of its good events here and drops those an earlier batch registered.
-- The memory lasts as long as Kafka keeps a record (7 days) plus a day.
--
-- event_hour (the event's own time, to the hour) leads the sort key: a copy carries the
-- same event_time as its original, so a batch looks only at the hours its events fall in
-- (a live batch, the last hour or two; a replayed day, that day).
CREATE TABLE IF NOT EXISTS stream_event_ids
(
    event_id    UUID,
    event_hour  DateTime64(3, 'UTC') COMMENT 'event_time truncated to the hour',
    stream_id   String,
    batch_id    Int64,
    seen_at     DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when the batch first registered it'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_hour)
ORDER BY (event_hour, event_id)
TTL toDateTime(seen_at) + INTERVAL 8 DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000;

-- What each batch dropped as an event already counted.
ALTER TABLE stream_batches
    ADD COLUMN IF NOT EXISTS duplicate_rows UInt64 DEFAULT 0 COMMENT 'events an earlier batch already counted';

GRANT SELECT, INSERT ON stream_event_ids TO etl_writer;
