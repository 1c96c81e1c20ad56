-- 0023: the stream hashes an event's content where it parses it (Spark's Python workers,
-- column by column) instead of with Spark's xxhash64 over the parsed row. A registration
-- says which hash it carries (0: xxhash64, every row written before this migration; 1: the
-- parse's hash), and a look-up compares a batch's hashes with earlier ones of the same
-- scheme only: an earlier registration of the other scheme counts as content unknown, a copy
-- (as content_hash 0 does), so a copy sent after the upgrade is dropped, not quarantined.
ALTER TABLE stream_event_ids
    ADD COLUMN IF NOT EXISTS hash_scheme UInt8 DEFAULT 0 COMMENT '0 = xxhash64 (Spark); 1 = the parse''s hash (retail.transforms.parsed)' AFTER content_hash;
