-- 0011: weather and the calendar as data (issue 17). What drove the simulated demand, for
-- the features to read: the calendar of the chain's country (public holidays from the
-- `holidays` package, shopping days, paydays) on dim_date, the daily weather of each
-- region, and each store's local events. The simulator writes all three from the same
-- functions its demand follows (retail.sim.reference), loaded with the dimensions.

-- dim_date: holiday_name keeps the public holidays (observed days included, two names
-- joined by '; '); the shopping days that are not public holidays (Black Friday,
-- Christmas Eve, Halloween...) get a column of their own. Rows loaded before this
-- migration show the defaults until the next dimension load replaces them.
ALTER TABLE dim_date
    ADD COLUMN IF NOT EXISTS special_day LowCardinality(Nullable(String))
        COMMENT 'shopping day that is not a public holiday: Black Friday, Christmas Eve, ...'
        AFTER holiday_name;
ALTER TABLE dim_date
    ADD COLUMN IF NOT EXISTS days_to_next_holiday UInt16 DEFAULT 0
        COMMENT '0 on a public holiday; 366 = none within a year'
        AFTER special_day;
ALTER TABLE dim_date
    ADD COLUMN IF NOT EXISTS is_payday Bool DEFAULT false
        COMMENT 'the 1st or 15th, or the last business day before it'
        AFTER days_to_next_holiday;

-- One row per region and day. ReplacingMergeTree on updated_at keyed (region, date): a
-- re-load of the same days replaces their rows instead of duplicating them, and the
-- deduplication window drops an identical re-load outright. A few thousand rows a year:
-- no partitions (FINAL stays a single cheap merge). Doubles, not Float32: the values are
-- rounded to 0.1 and read back exactly as the simulator used them.
CREATE TABLE IF NOT EXISTS weather_daily
(
    region         LowCardinality(String),
    date           Date,
    date_key       UInt32 DEFAULT toYYYYMMDD(date) COMMENT 'YYYYMMDD, joins dim_date',
    temp_c         Float64 COMMENT 'daily mean, degrees C',
    temp_min_c     Float64,
    temp_max_c     Float64,
    temp_normal_c  Float64 COMMENT 'the seasonal normal of the region on that day',
    precip_mm      Float64 COMMENT '0 on a dry day',
    condition      LowCardinality(String) COMMENT 'dry, rain or snow',
    updated_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (region, date)
SETTINGS non_replicated_deduplication_window = 100;

-- One row per store and event day (a store has at most one event a day). Sorted by store
-- first: the features read "the events of store S"; keyed like the facts (retail_key) so
-- it joins dim_store and the facts without a lookup. Same replacing/dedup rule as above.
CREATE TABLE IF NOT EXISTS store_events
(
    store_key        Int64 DEFAULT retail_key(store_id),
    store_id         String,
    date             Date,
    date_key         UInt32 DEFAULT toYYYYMMDD(date) COMMENT 'YYYYMMDD, joins dim_date',
    kind             LowCardinality(String) COMMENT 'street_fair, game_day, festival, concert',
    lift             Float64 COMMENT 'store traffic multiplier on the day',
    lift_day_before  Float64 COMMENT 'store traffic multiplier on the day before',
    updated_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (store_key, date)
SETTINGS non_replicated_deduplication_window = 100;
