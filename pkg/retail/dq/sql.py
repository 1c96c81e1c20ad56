"""The SQL behind each kind of check: one statement each, returning one row
``(observed Nullable(Float64), details String)``.

Everything that varies is a ClickHouse query parameter (``{name:Type}``), tables and columns
included (``Identifier``), so no value is ever formatted into SQL text. Every statement may
use the run's parameters (:data:`RUN_PARAMETERS`); a check adds its own (``Check.params``).

Opening hours: ``dim_store`` has ``opens_at``/``closes_at`` in store-local time and a time
zone. ClickHouse needs a constant time zone, so the runner passes each zone's standard UTC
offset (the one the simulator and ``date_key`` use, no daylight saving) as two arrays, and
:data:`OPEN_SPANS` turns every store's opening hours into UTC spans per local day.
"""

from __future__ import annotations

# Parameters every check receives from the run (retail.dq.runner.Window.parameters).
RUN_PARAMETERS = {
    "now": "DateTime64(3, 'UTC')",     # the time the run judges "now" by (--as-of)
    "start": "DateTime64(3, 'UTC')",   # hour-grain checks: complete hours in [start, end)
    "end": "DateTime64(3, 'UTC')",
    "day_from": "UInt32",              # day-grain checks: store-local date_keys
    "day_to": "UInt32",
    "tz_names": "Array(String)",       # dim_store's time zones ...
    "tz_offsets": "Array(Int32)",      # ... and their standard UTC offsets in seconds
}

# Each store's opening span per local day, in UTC, for the days around the run's window
# and its "now". A closing time at or before the opening time is on the next day
# (closes_at '00:00' is midnight).
OPEN_SPANS = """
store_hours AS (
    SELECT store_key, store_id,
           transform(timezone, {tz_names:Array(String)}, {tz_offsets:Array(Int32)},
                     toInt32(0)) AS offset_s,
           toInt32(substring(opens_at, 1, 2)) * 3600 + toInt32(substring(opens_at, 4, 2)) * 60
               AS open_s,
           toInt32(substring(closes_at, 1, 2)) * 3600 + toInt32(substring(closes_at, 4, 2)) * 60
               AS close_s
    FROM dim_store FINAL
),
spans AS (
    SELECT store_key, store_id, local_day,
           toDateTime(local_day, 'UTC') + (open_s - offset_s) AS opens,
           toDateTime(local_day, 'UTC') + (if(close_s <= open_s, close_s + 86400, close_s)
                                           - offset_s) AS closes
    FROM store_hours
    ARRAY JOIN arrayMap(i -> toDate(least({start:DateTime64(3, 'UTC')},
                                          {now:DateTime64(3, 'UTC')})) - 1 + i,
                        range(toUInt32(dateDiff('day',
                            toDate(least({start:DateTime64(3, 'UTC')}, {now:DateTime64(3, 'UTC')})),
                            toDate(greatest({end:DateTime64(3, 'UTC')}, {now:DateTime64(3, 'UTC')})))
                            + 3))) AS local_day
),
-- The last moment any store was open: now while one is, else the latest closing time.
(SELECT coalesce(maxOrNull(least(closes, {now:DateTime64(3, 'UTC')})),
                 {now:DateTime64(3, 'UTC')})
 FROM spans WHERE opens <= {now:DateTime64(3, 'UTC')}) AS last_open"""

# The time a store-driven feed is judged against: while every store is closed, nothing new
# is expected, so staleness counts from the last moment a store was open.
_REFERENCE = "if({open_hours:Bool}, last_open, {now:DateTime64(3, 'UTC')})"
_FRESHNESS_SELECT = f"""
SELECT greatest(0, dateDiff('millisecond',
                            coalesce(newest, {{now:DateTime64(3, 'UTC')}}
                                             - toIntervalSecond({{horizon_s:UInt32}})),
                            {_REFERENCE}) / 1000) AS observed,
       if(newest IS NULL,
          concat('nothing in the ', toString({{horizon_s:UInt32}} / 3600), ' hours before now'),
          concat('newest ', toString(newest),
                 if({_REFERENCE} < {{now:DateTime64(3, 'UTC')}},
                    concat('; every store closed since ', toString(last_open)), '')))
           AS details"""
# Only rows of the last horizon_s seconds are read (the threshold's twice or more): older
# than that is stale whatever the exact age.
_RECENT = """{time_column:Identifier} >= {now:DateTime64(3, 'UTC')} - toIntervalSecond({horizon_s:UInt32})
       AND {time_column:Identifier} <= {now:DateTime64(3, 'UTC')}"""

# Seconds from the newest row of a table to now (or to the last open moment).
FRESHNESS_TABLE = f"""WITH {OPEN_SPANS},
(SELECT maxOrNull({{time_column:Identifier}}) FROM {{table:Identifier}}
 WHERE {_RECENT}) AS newest
{_FRESHNESS_SELECT}"""

# Seconds from the newest event of a topic (raw_events) to now (or the last open moment).
FRESHNESS_TOPIC = f"""WITH {OPEN_SPANS},
(SELECT maxOrNull({{time_column:Identifier}}) FROM raw_events
 WHERE topic = {{topic:String}} AND {_RECENT}) AS newest
{_FRESHNESS_SELECT}"""

# Complete open hours of a store (of the run's local days, in its window) without a sale.
SILENT_STORE_HOURS = f"""WITH {OPEN_SPANS},
hours AS (
    SELECT store_key, store_id, toDateTime(hour_s, 'UTC') AS hour
    FROM spans
    ARRAY JOIN range(toUInt32(toStartOfHour(opens + INTERVAL 3599 SECOND)),
                     toUInt32(closes) - 3599, 3600) AS hour_s
    WHERE toYYYYMMDD(local_day) BETWEEN {{day_from:UInt32}} AND {{day_to:UInt32}}
)
SELECT toFloat64(count()) AS observed,
       arrayStringConcat(arraySlice(arraySort(groupArray(
           concat(store_id, ' ', formatDateTime(hour, '%F %H:00')))), 1, 5), ', ') AS details
FROM hours
WHERE hour >= {{start:DateTime64(3, 'UTC')}}
  AND hour + INTERVAL 1 HOUR <= {{end:DateTime64(3, 'UTC')}}
  AND (store_key, hour) NOT IN (
      SELECT store_key, hour FROM agg_sales_hourly
      WHERE hour >= {{start:DateTime64(3, 'UTC')}} AND hour < {{end:DateTime64(3, 'UTC')}}
      GROUP BY store_key, hour HAVING sum(lines) > 0)"""

# Store-hours with sales whose count is far off the median of the same hour on the last 4
# same weekdays (hours without any sale are the silent-hours check's).
VOLUME_VS_4_WEEKS = """WITH
recent AS (
    SELECT store_key, hour, sum(lines) AS lines FROM agg_sales_hourly
    WHERE hour >= {start:DateTime64(3, 'UTC')}
      AND hour + INTERVAL 1 HOUR <= {end:DateTime64(3, 'UTC')}
    GROUP BY store_key, hour HAVING lines > 0
),
past AS (
    SELECT store_key, hour + toIntervalDay(7 * week) AS same_hour, sum(lines) AS lines
    FROM agg_sales_hourly ARRAY JOIN [1, 2, 3, 4] AS week
    WHERE hour >= {start:DateTime64(3, 'UTC')} - INTERVAL 28 DAY
      AND hour < {end:DateTime64(3, 'UTC')} - INTERVAL 7 DAY
    GROUP BY store_key, same_hour, week
),
baseline AS (
    SELECT store_key, same_hour, quantileExactInclusive(0.5)(lines) AS lines, count() AS weeks
    FROM past GROUP BY store_key, same_hour
),
judged AS (
    SELECT c.store_key AS store_key, c.hour AS hour, c.lines AS lines, b.lines AS usual,
           b.lines >= {min_baseline:Float64}
               AND (c.lines < b.lines * {low:Float64} OR c.lines > b.lines * {high:Float64})
               AS off
    FROM recent AS c
    INNER JOIN baseline AS b ON b.store_key = c.store_key AND b.same_hour = c.hour
    WHERE b.weeks = 4
)
SELECT toFloat64(countIf(off)) AS observed,
       arrayStringConcat(arraySlice(arraySort(groupArrayIf(
           concat(s.store_id, ' ', formatDateTime(j.hour, '%F %H:00'), ': ', toString(j.lines),
                  ' lines, usually ', toString(j.usual)), off)), 1, 5), ', ') AS details
FROM judged AS j
LEFT JOIN (SELECT store_key, store_id FROM dim_store FINAL) AS s ON s.store_key = j.store_key"""

# Day-grain checks read rows of the run's store-local days, up to the end of its window.
_DAYS = """date_key BETWEEN {day_from:UInt32} AND {day_to:UInt32}
      AND event_time < {end:DateTime64(3, 'UTC')}"""

# Products in the facts that the catalog (dim_product) does not know.
PRODUCTS_IN_CATALOG = f"""SELECT toFloat64(uniqExact(product_id)) AS observed,
       arrayStringConcat(arraySlice(arraySort(groupUniqArray(product_id)), 1, 5), ', ')
           AS details
FROM (
    SELECT product_id FROM fact_sales WHERE {_DAYS}
    UNION ALL
    SELECT product_id FROM fact_inventory WHERE {_DAYS}
)
WHERE product_id NOT IN (SELECT product_id FROM dim_product)"""

# Closed days of the run (from the table's first day on) without a row in a daily table.
# A day is closed once it is over in the westernmost store's time zone.
DAYS_MISSING = """WITH
(SELECT minOrNull(date_key) FROM {table:Identifier}) AS first_day,
toYYYYMMDD(toDate({now:DateTime64(3, 'UTC')}
                  + toIntervalSecond(if(empty({tz_offsets:Array(Int32)}), 0,
                                        arrayMin({tz_offsets:Array(Int32)})))) - 1)
    AS last_closed,
YYYYMMDDToDate(greatest({day_from:UInt32}, assumeNotNull(first_day))) AS d0,
YYYYMMDDToDate(least({day_to:UInt32}, last_closed)) AS d1,
arrayMap(i -> toYYYYMMDD(d0 + i), range(toUInt32(greatest(0, dateDiff('day', d0, d1) + 1))))
    AS expected,
(SELECT groupUniqArray(date_key) FROM {table:Identifier}
 WHERE date_key BETWEEN {day_from:UInt32} AND {day_to:UInt32}) AS present,
arrayFilter(d -> NOT has(present, d), expected) AS missing
SELECT if(first_day IS NULL, NULL, toFloat64(length(missing))) AS observed,
       if(first_day IS NULL, 'the table is empty',
          arrayStringConcat(arrayMap(d -> toString(d), arraySlice(missing, 1, 5)), ', '))
           AS details"""

# Store-days whose units sold (fact_sales) differ from their sale movements (fact_inventory).
SALES_VS_MOVEMENTS = f"""WITH
sold AS (
    SELECT store_id, date_key, toInt64(sum(quantity)) AS units FROM fact_sales FINAL
    WHERE {_DAYS} AND transaction_type = 'sale'
    GROUP BY store_id, date_key
),
moved AS (
    SELECT store_id, date_key, toInt64(-sum(quantity_change)) AS units FROM fact_inventory FINAL
    WHERE {_DAYS} AND record_type = 'movement' AND reason = 'sale'
    GROUP BY store_id, date_key
)
SELECT toFloat64(countIf(sold.units != moved.units)) AS observed,
       arrayStringConcat(arraySlice(arraySort(groupArrayIf(
           concat(store_id, ' ', toString(date_key), ': sold ', toString(sold.units),
                  ', moved ', toString(moved.units)), sold.units != moved.units)), 1, 5), ', ')
           AS details
FROM sold FULL OUTER JOIN moved USING (store_id, date_key)"""

# Stock levels below zero: movements of the run's days, and the current levels.
INVENTORY_NOT_NEGATIVE = f"""SELECT toFloat64(count()) AS observed,
       arrayStringConcat(arraySlice(arraySort(groupArray(
           concat(store_id, ' ', product_id, ' ', at, ': ', toString(level)))), 1, 5), ', ')
           AS details
FROM (
    SELECT store_id, product_id, toString(event_time) AS at, quantity_on_hand AS level
    FROM fact_inventory FINAL WHERE {_DAYS} AND quantity_on_hand < 0
    UNION ALL
    SELECT store_id, product_id, 'now', quantity_on_hand
    FROM inventory_levels_current FINAL WHERE quantity_on_hand < 0
)"""

# Sales lines whose revenue is not quantity x unit price - discount (to the cent).
REVENUE_ARITHMETIC = f"""SELECT toFloat64(count()) AS observed,
       arrayStringConcat(arraySlice(arraySort(groupArray(
           concat(transaction_id, '#', toString(line_number), ': ', toString(revenue), ' vs ',
                  toString(quantity * unit_price - discount)))), 1, 5), ', ') AS details
FROM fact_sales FINAL
WHERE {_DAYS}
  AND abs(revenue - (quantity * unit_price - discount)) > {{tolerance:Decimal(12, 2)}}"""

# The largest share of a topic's records in the window quarantined for one reason.
QUARANTINE_SHARE = """WITH
(SELECT count() FROM raw_events WHERE topic = {topic:String}
   AND ingested_at >= {start:DateTime64(3, 'UTC')} AND ingested_at < {end:DateTime64(3, 'UTC')})
    AS accepted
SELECT if(accepted + sum(n) = 0, NULL, max(n) / (accepted + sum(n))) AS observed,
       if(accepted + sum(n) = 0, 'no records in the window',
          concat(toString(accepted + sum(n)), ' records; ',
                 arrayStringConcat(arrayMap((r, k) -> concat(r, ' ', toString(k)),
                                            groupArray(reason), groupArray(n)), ', ')))
           AS details
FROM (
    SELECT reason, count() AS n FROM quarantine_events
    WHERE topic = {topic:String} AND quarantined_at >= {start:DateTime64(3, 'UTC')}
      AND quarantined_at < {end:DateTime64(3, 'UTC')}
    GROUP BY reason ORDER BY n DESC
)"""

# Rows of a fact table that repeat an event id already stored (a copy under the same key
# until a merge collapses it, or under another key, which never collapses).
DUPLICATES = """SELECT toFloat64(count() - uniqExact(event_id)) AS observed,
       (SELECT arrayStringConcat(groupArray(5)(toString(event_id)), ', ')
        FROM (SELECT event_id FROM {table:Identifier}
              WHERE date_key BETWEEN {day_from:UInt32} AND {day_to:UInt32}
                AND event_time < {end:DateTime64(3, 'UTC')}
              GROUP BY event_id HAVING count() > 1 ORDER BY event_id)) AS details
FROM {table:Identifier}
WHERE date_key BETWEEN {day_from:UInt32} AND {day_to:UInt32}
  AND event_time < {end:DateTime64(3, 'UTC')}"""

# The newest micro-batch's lag: its finish time minus its newest event time, in seconds.
STREAM_LAG = """SELECT if(countIf(lag_ms IS NOT NULL) = 0, NULL,
          argMaxIf(lag_ms, finished_at, lag_ms IS NOT NULL) / 1000) AS observed,
       if(count() = 0, 'no micro-batch recorded',
          concat('batch ', toString(argMax(batch_id, finished_at)), ' finished ',
                 toString(max(finished_at)))) AS details
FROM stream_batches
WHERE finished_at <= {now:DateTime64(3, 'UTC')}"""

# Seconds since the last micro-batch finished (counted to the last open moment: a closed
# chain sends nothing, and Spark runs no batch without input).
STREAM_BATCH_AGE = f"""WITH {OPEN_SPANS},
(SELECT maxOrNull(finished_at) FROM stream_batches
 WHERE finished_at <= {{now:DateTime64(3, 'UTC')}}) AS last_batch
SELECT if(last_batch IS NULL, NULL,
          greatest(0, dateDiff('millisecond', last_batch, last_open) / 1000)) AS observed,
       if(last_batch IS NULL, 'no micro-batch recorded',
          concat('last batch finished ', toString(last_batch))) AS details"""

# The bi_ views' bounded queries (checks with measure "latency"): the runner times each, so
# the observed value is milliseconds, not a column; the first column (rows read) and the
# details describe what was answered. A dashboard reads a view the same way: a filter on
# its day key or time, an aggregate over what is left.
BI_ROWS_SINCE_DAY = """SELECT toFloat64(count()) AS observed,
       'rows of the last day and after' AS details
FROM {view:Identifier}
WHERE {day_column:Identifier}
      >= toInt64(toYYYYMMDD({now:DateTime64(3, 'UTC')} - INTERVAL 1 DAY))"""

BI_ROWS_SINCE_TIME = """SELECT toFloat64(count()) AS observed,
       'rows of the last 24 hours' AS details
FROM {view:Identifier}
WHERE {time_column:Identifier} > {now:DateTime64(3, 'UTC')} - INTERVAL 1 DAY
  AND {time_column:Identifier} <= {now:DateTime64(3, 'UTC')}"""

BI_ROWS = """SELECT toFloat64(count()) AS observed, 'rows' AS details
FROM {view:Identifier}"""
