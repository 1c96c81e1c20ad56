-- 0016: the chain's promotion calendar, published ahead (issue 18). The simulator draws
-- each week's promotions from (seed, the week's Monday) before the week starts
-- (retail.sim.pricing); the dimension load (`retail warehouse load-dims`, `retail simulate
-- --sink warehouse`) publishes them for the loaded days and the week after them
-- (retail.warehouse.load.AHEAD_DAYS), so the daily predictions of day D read the
-- promotions planned for D + 1 .. D + 7 (retail.ml.forecast.targets). No dashboard reads
-- it: no bi_* view, no grant beyond the database's.

-- One row per product and promotion week; promotions are chain-wide (every store that
-- stocks the product). ReplacingMergeTree(published_at) keyed (start_date, product_key):
-- publishing a week again replaces its rows, and the deduplication window drops an
-- identical re-publish outright. Sorted by the start first: readers ask "what runs between
-- these days". A few thousand rows a year: no partitions. discount is a Float64 so it reads
-- back exactly as the simulator used it.
CREATE TABLE IF NOT EXISTS promotion_calendar
(
    product_id     String,
    product_key    Int64 DEFAULT retail_key(product_id) COMMENT 'retail_key(product_id)',
    promotion_id   String COMMENT 'the id the sales and price changes of the promotion carry',
    start_date     Date COMMENT 'the Monday the promotion starts (a run that starts mid-week starts it on its first day)',
    end_date       Date COMMENT 'the Sunday it ends (inclusive)',
    discount       Float64 COMMENT 'share off the regular price, 0.10 .. 0.40',
    published_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(published_at)
ORDER BY (start_date, product_key)
SETTINGS non_replicated_deduplication_window = 100;
