-- 0010: quarantine keeps each rejected record's exact bytes.
--
-- payload is the record as text, and a record that is not valid UTF-8 shows its bad
-- bytes there as U+FFFD: the original was lost to whoever investigates. payload_base64
-- holds the exact bytes of every row the stream quarantines from now on
-- (base64Decode(payload_base64) gives them back; empty for a tombstone and for rows
-- written before this migration).
ALTER TABLE quarantine_events
    ADD COLUMN IF NOT EXISTS payload_base64 String DEFAULT ''
        COMMENT 'the original record bytes in base64 (payload shows bytes that are not UTF-8 as U+FFFD)'
        CODEC(ZSTD(3)) AFTER payload;
