-- 0009: the event memory keeps a hash of each event's content, so a second *version* of an
-- event id (same id, other content: a producer bug, an edited replay) is told apart from a
-- plain copy. A copy is dropped silently; another version is quarantined as
-- conflicting_duplicate beside the original it conflicts with. 0 = registered before this
-- migration (content unknown: treated as a copy).
ALTER TABLE stream_event_ids
    ADD COLUMN IF NOT EXISTS content_hash Int64 DEFAULT 0 COMMENT 'xxhash64 of the parsed fields; 0 = unknown' AFTER event_hour;

