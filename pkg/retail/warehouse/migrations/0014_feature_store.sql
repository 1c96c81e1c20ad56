-- 0014: the feature store (issue 17). One row per store x product x closed business day,
-- computed by `build_features --date D` only from what the warehouse knew at the end of D.
-- The columns, their types and meanings are declared once, in retail.features.definitions
-- (docs/features.md is generated from it; a test checks this table against it).
--
-- ReplacingMergeTree(updated_at) keyed (date_key, store_key, product_key): a re-run writes
-- only the rows that changed, each replacing its older version (exact reads use FINAL), so
-- a day is never duplicated. No deduplication window: a row that changes back to an
-- earlier value must be written again, not dropped as a replayed block.
--
-- Sorted by day first: "all stores of day D" (the daily scoring, the lake export) reads one
-- contiguous range. Partitions are months, so within a partition the day has at most 31
-- values and "all features of store S" finds the store's range in each day with the
-- primary index's generic exclusion search: one short range per day, no full scan.
CREATE TABLE IF NOT EXISTS feature_store_daily
(
    date                  Date,
    date_key              UInt32,
    store_key             Int64,
    product_key           Int64,
    store_id              LowCardinality(String),
    product_id            String,
    units_sold            Int64,
    lost_units            Int64,
    demand                Int64,
    demand_lag_1          Nullable(Int64),
    demand_lag_7          Nullable(Int64),
    demand_lag_14         Nullable(Int64),
    demand_lag_28         Nullable(Int64),
    demand_mean_7         Float64,
    demand_mean_14        Float64,
    demand_mean_30        Float64,
    demand_mean_90        Float64,
    demand_std_7          Nullable(Float64),
    demand_std_14         Nullable(Float64),
    demand_std_30         Nullable(Float64),
    demand_std_90         Nullable(Float64),
    days_since_last_sale  Nullable(Int32),
    zero_sales_share      Float64,
    history_days          Int32,
    day_of_week           Int32,
    week_of_year          Int32,
    month                 Int32,
    season                LowCardinality(String),
    is_weekend            Bool,
    is_holiday            Bool,
    is_special_day        Bool,
    days_to_next_holiday  Int32,
    is_payday             Bool,
    has_local_event       Bool,
    local_event_kind      LowCardinality(Nullable(String)),
    shelf_price           Nullable(Float64),
    regular_price         Nullable(Float64),
    discount_depth        Float64,
    on_promotion          Bool,
    price_ratio_28        Nullable(Float64),
    on_hand               Int32,
    on_order              Int32,
    days_of_cover         Nullable(Float64),
    stockout_days_7       Int32,
    stockout_days_28      Int32,
    temp_c                Nullable(Float64),
    precip_mm             Nullable(Float64),
    temp_c_mean_7         Nullable(Float64),
    precip_mm_mean_7      Nullable(Float64),
    store_trend_7_28      Nullable(Float64),
    category_trend_7_28   Nullable(Float64),
    store_type            LowCardinality(Nullable(String)),
    square_footage        Nullable(Int32),
    region                LowCardinality(Nullable(String)),
    category              LowCardinality(Nullable(String)),
    sub_category          LowCardinality(Nullable(String)),
    brand                 LowCardinality(Nullable(String)),
    shelf_life_days       Nullable(Int32),
    lead_time_days        Nullable(Float64),
    updated_at            DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY intDiv(date_key, 100)
ORDER BY (date_key, store_key, product_key);
