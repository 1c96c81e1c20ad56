-- 0024: stream_batches keeps insert tokens like every other table the stream writes. A
-- micro-batch that recorded itself and was then replayed (the process killed after its
-- last write, before Spark committed it) wrote its row a second time: the table only
-- collapsed the two on merge or FINAL. With a deduplication window the replay's insert,
-- carrying the same token, is dropped.
ALTER TABLE stream_batches MODIFY SETTING non_replicated_deduplication_window = 10000;
