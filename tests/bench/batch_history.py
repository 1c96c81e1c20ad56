"""The batch benchmark's warehouse: 89 days of history made from the one simulated day.

The history is not simulated: the day D the benchmark simulates is also the pattern of
every earlier day. D's fact rows are staged once (``bench_day_<fact>``, the simulator's
events mapped by :func:`retail.warehouse.load.fact_tables`, as ``retail simulate --sink
warehouse`` does), then copied into the fact tables for each day D - k (k = 1 .. 89) by one
``INSERT ... SELECT`` per fact table and day, inside the warehouse:

* dates and times shifted back k days (``date_key``, ``event_time``, a shipment's
  ``ordered_at`` and ``expected_arrival``), new event ids (MD5 of the id and k), and ids that
  name a transaction, line, movement, change or shipment suffixed ``-h<k>``;
* price changes, which the simulator makes once a week (its plan, on Mondays and on a run's
  first day): the plan of the simulation's first day, whole, on every Monday of the history;
* a deterministic share of the rows kept per day, drawn once per day between 80 % and 100 %
  (``cityHash64(id, k) % 1000 < keep``; shipments by shipment id, so an order and its
  delivery of the same copy stay together): days differ in volume, pairs with few sales
  have days without any;
* inserted into the facts, so the materialized views fill every daily aggregate
  (``agg_sales_daily``, ``agg_store_daily``, ``agg_product_daily``, ``agg_inventory_daily``,
  ``agg_inventory_latest``, ``agg_supplier_daily``, ``agg_sales_hourly``) as the stream
  would.

The calendar (``dim_date``), ``weather_daily`` and ``store_events`` of those days are the
simulator's own, loaded with the dimensions. Then D itself goes through the daily ETL.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, timedelta

import pyarrow.compute as pc

from retail.io.warehouse import Warehouse
from retail.sim import Simulator
from retail.warehouse.load import FACTS, fact_tables

FACT_TABLES = [fact for fact, _ in FACTS.values()]
# ids that name one occurrence (suffixed per copy), and the id the sample is drawn by
_IDS = {
    "fact_sales": ["transaction_id"],
    "fact_inventory": ["inventory_id"],
    "fact_price_changes": ["price_change_id"],
    "fact_lost_sales": ["lost_sale_id", "transaction_id"],
    "fact_supplier_shipments": ["shipment_id"],
}
_TIMES = {"fact_supplier_shipments": ["ordered_at", "expected_arrival"]}
_SAMPLE_BY = {"fact_supplier_shipments": "shipment_id"}
# The simulator changes prices once a week (its plan, on Mondays and on a run's first day):
# the plan of the simulation's first day goes onto every Monday of the history, whole.
PLAN = "fact_price_changes"
_NO_DEDUP = {"insert_deduplicate": 0}


def staging(fact: str) -> str:
    return f"bench_day_{fact}"


def stage_day(wh: Warehouse, sim: Simulator, day: date, write_lake) -> dict[str, int]:
    """Run the simulator once: every batch to the lake (``write_lake(i, batch)``) and the
    fact rows of store-local ``day`` into the staging tables (price changes of every day: the
    week's plan). Returns the staged rows per fact table."""
    for fact in FACT_TABLES:
        wh.command(f"CREATE TABLE {staging(fact)} AS {fact} ENGINE = MergeTree "
                   "ORDER BY tuple()")
    rows = dict.fromkeys(FACT_TABLES, 0)
    key = int(day.strftime("%Y%m%d"))
    for i, batch in enumerate(sim.run()):
        write_lake(i, batch)
        for fact, table in fact_tables(batch.tables, sim.catalog).items():
            if fact != PLAN:
                table = table.filter(pc.equal(table["date_key"], key))
            if table.num_rows:
                wh.insert_arrow(staging(fact), table)
                rows[fact] += table.num_rows
    return rows


def keep_share(k: int) -> int:
    """Per mille of the day's rows that the copy k days back keeps: 800 .. 1000."""
    return 800 + int(hashlib.sha256(f"history-day-{k}".encode()).hexdigest(), 16) % 201


def copy_sql(fact: str) -> str:
    """``INSERT ... SELECT`` into ``fact`` of the staged rows of day ``src``, ``shift`` days
    earlier, ids suffixed by copy ``k``, ``keep`` per mille of them."""
    replace = [
        "reinterpretAsUUID(MD5(concat(toString(event_id), '|', toString({k:UInt16})))) "
        "AS event_id",
        "toYYYYMMDD(subtractDays(YYYYMMDDToDate(date_key), {shift:UInt16})) AS date_key",
        "event_time - toIntervalDay({shift:UInt16}) AS event_time",
        "now64(3) AS ingested_at",
        *(f"concat({c}, '-h', toString({{k:UInt16}})) AS {c}" for c in _IDS[fact]),
        *(f"{c} - toIntervalDay({{shift:UInt16}}) AS {c}" for c in _TIMES.get(fact, [])),
    ]
    sample = _SAMPLE_BY.get(fact, "event_id")
    # the sample in a subquery: the outer WHERE would see the shifted aliases
    return (f"INSERT INTO {fact} SELECT * REPLACE ({', '.join(replace)}) FROM (SELECT * "
            f"FROM {staging(fact)} WHERE date_key = {{src:UInt32}} AND cityHash64({sample}, "
            "{k:UInt16}) % 1000 < {keep:UInt16})")


def build_history(wh: Warehouse, day: date, days: int, progress=print) -> dict:
    """Copy the staged day into the facts for the ``days - 1`` days before ``day`` (oldest
    last), then drop the staging tables. Returns seconds and rows inserted per fact table."""
    d = int(day.strftime("%Y%m%d"))
    plan = wh.query_rows(f"SELECT min(date_key) FROM {staging(PLAN)}")[0][0]
    plan_day = date(plan // 10000, plan // 100 % 100, plan % 100) if plan else None
    rows = dict.fromkeys(FACT_TABLES, 0)
    started = time.perf_counter()
    for k in range(1, days):
        on = day - timedelta(days=k)
        for fact in FACT_TABLES:
            if fact != PLAN:
                params = {"src": d, "shift": k, "k": k, "keep": keep_share(k)}
            elif plan_day and on.weekday() == 0:
                params = {"src": plan, "shift": (plan_day - on).days, "k": k, "keep": 1000}
            else:
                continue
            before = _count(wh, fact)
            wh.command(copy_sql(fact), params, settings=_NO_DEDUP)
            rows[fact] += _count(wh, fact) - before
        if k % 10 == 0 or k == days - 1:
            progress(f"history: {day - timedelta(days=k)} ({k}/{days - 1} days) in "
                     f"{time.perf_counter() - started:.0f} s, "
                     f"{sum(rows.values()):,} fact rows")
    for fact in FACT_TABLES:
        wh.command(f"DROP TABLE {staging(fact)}")
    return {"seconds": time.perf_counter() - started, "rows": rows}


def _count(wh: Warehouse, fact: str) -> int:
    # count() of a MergeTree table comes from the parts' metadata: no scan
    return int(wh.query_rows(f"SELECT count() FROM {fact}")[0][0])


def settle(wh: Warehouse, timeout_s: float = 1800, progress=print) -> float:
    """Wait until the warehouse runs no merges and no mutations (background merges of the
    history would otherwise share the cores with what is measured next); returns seconds."""
    started = time.perf_counter()
    quiet = 0
    while time.perf_counter() - started < timeout_s:
        busy = wh.query_rows(
            "SELECT (SELECT count() FROM system.merges WHERE database = currentDatabase()) + "
            "(SELECT count() FROM system.mutations WHERE database = currentDatabase() "
            "AND NOT is_done)")[0][0]
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 3:  # three quiet looks in a row: a merge may start right after another
            break
        time.sleep(2)
    took = time.perf_counter() - started
    progress(f"warehouse settled (no merges or mutations) after {took:.0f} s")
    return took


def parts(wh: Warehouse) -> dict[str, tuple[int, int]]:
    """Active parts and rows per table of the warehouse's database."""
    return {t: (int(p), int(r)) for t, p, r in wh.query_rows(
        "SELECT table, count(), sum(rows) FROM system.parts WHERE active "
        "AND database = currentDatabase() GROUP BY table")}
