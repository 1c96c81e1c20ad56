"""The alternative the daily ETL did not take: replace a closed day instead of completing it.

What a replacing job has to do in this warehouse (facts partitioned by month, daily
aggregates fed by materialized views that add whatever is inserted), after reading and
checking the day as the ETL does:

1. delete day D from every fact table (``ALTER TABLE ... DELETE``, ``mutations_sync = 2``;
   ``fact_inventory`` with the day's snapshot, which its views aggregate too);
2. delete D from every aggregate the views feed: by ``date_key`` where the table has one
   (``agg_sales_daily``, ``agg_store_daily``, ``agg_product_daily``, ``agg_inventory_daily``,
   ``agg_supplier_daily``), by each store's local hours of D in ``agg_sales_hourly`` (keyed
   by UTC hour); ``agg_inventory_latest`` has no day at all (one row per pair, merged over
   all time), so it is emptied and rebuilt from the whole of ``fact_inventory``;
3. insert the day's facts again, from the processed zone the ETL wrote, through the
   warehouse client as the job would: the views refill the aggregates. A fresh
   deduplication token each time: the ETL's own token is still in the tables' deduplication
   window and would silently drop the re-insert;
4. write the day's end-of-day snapshot again.

:func:`day_totals` reads every table's totals for D (aggregates merged, not raw rows), so the
benchmark can check that the replaced day equals the completed one.
"""

from __future__ import annotations

import time
import uuid
from datetime import date

import pyarrow.parquet as pq

from retail.batch.daily_etl import processed_root
from retail.batch.snapshot import snapshot_day
from retail.io.warehouse import Warehouse
from retail.settings import LakeSettings
from retail.streaming.reference import Reference, standard_offset_hours
from retail.warehouse.load import FACTS, fact_tables

SYNC = {"mutations_sync": 2}
BY_DAY = ["agg_sales_daily", "agg_store_daily", "agg_product_daily", "agg_inventory_daily",
          "agg_supplier_daily"]
_LOCAL_DAY = ("toYYYYMMDD(hour + toIntervalHour(transform(store_key, {keys:Array(Int64)}, "
              "{offsets:Array(Int64)}, toInt64(0)))) = {d:UInt32}")
_LATEST = ("INSERT INTO agg_inventory_latest SELECT store_key, product_key, "
           "argMaxState(quantity_on_hand, (event_time, inventory_id)) AS on_hand, "
           "max(date_key) AS last_date_key, "
           "toUInt32(maxIf(date_key, reason = 'restock')) AS last_restock_key "
           "FROM fact_inventory GROUP BY store_key, product_key")
_TOTALS = {
    **{fact: f"SELECT count() FROM {fact} WHERE date_key = {{d:UInt32}}"
       for fact, _ in FACTS.values()},
    "fact_sales revenue": "SELECT sum(revenue) FROM fact_sales WHERE date_key = {d:UInt32}",
    "agg_sales_daily": (
        "SELECT uniqExact(store_key, product_key), sum(units), sum(revenue), sum(cost), "
        "sum(promo_units), sum(return_units), sum(sale_lines) FROM agg_sales_daily "
        "WHERE date_key = {d:UInt32}"),
    "agg_store_daily": (
        "SELECT count(), sum(u), sum(r), sum(p), sum(t) FROM (SELECT sum(units) u, "
        "sum(revenue) r, sum(profit) p, uniqExactMerge(transactions) t FROM agg_store_daily "
        "WHERE date_key = {d:UInt32} GROUP BY store_key)"),
    "agg_product_daily": (
        "SELECT count(), sum(u), sum(r), sum(s) FROM (SELECT sum(units) u, sum(revenue) r, "
        "uniqExactMerge(stores) s FROM agg_product_daily WHERE date_key = {d:UInt32} "
        "GROUP BY product_key)"),
    "agg_inventory_daily": (
        "SELECT count(), sum(c), sum(i), sum(o), sum(m), max(r) FROM (SELECT "
        "argMaxMerge(closing_on_hand) c, sum(units_in) i, sum(units_out) o, "
        "sum(movements) m, max(last_restock_key) r FROM agg_inventory_daily "
        "WHERE date_key = {d:UInt32} GROUP BY store_key, product_key)"),
    "agg_inventory_latest": (
        "SELECT count(), sum(h), max(l), sum(r) FROM (SELECT argMaxMerge(on_hand) h, "
        "max(last_date_key) l, max(last_restock_key) r FROM agg_inventory_latest "
        "GROUP BY store_key, product_key)"),
    "agg_supplier_daily": (
        "SELECT sum(deliveries), sum(units), sum(lead_s), sum(on_time) FROM agg_supplier_daily "
        "WHERE date_key = {d:UInt32}"),
    "agg_sales_hourly": ("SELECT count(DISTINCT store_key, hour), sum(lines), sum(units), "
                         f"sum(revenue) FROM agg_sales_hourly WHERE {_LOCAL_DAY}"),
}


def _params(wh: Warehouse, day: date) -> dict:
    stores = wh.query_rows("SELECT store_key, timezone FROM dim_store FINAL")
    return {"d": int(day.strftime("%Y%m%d")), "keys": [k for k, _ in stores],
            "offsets": [standard_offset_hours(tz) for _, tz in stores]}


def day_totals(wh: Warehouse, day: date) -> dict[str, tuple]:
    """Every fact's rows of D and every aggregate's merged totals for D."""
    params = _params(wh, day)
    return {name: tuple(str(v) for v in wh.query_rows(sql, params)[0])
            for name, sql in _TOTALS.items()}


def month_rows(wh: Warehouse, day: date) -> dict[str, int]:
    """Rows in D's monthly partition of each fact table: what a delete's mutation rewrites."""
    return {t: int(r) for t, r in wh.query_rows(
        "SELECT table, sum(rows) FROM system.parts WHERE active AND database = "
        "currentDatabase() AND partition = {p:String} AND table IN {t:Array(String)} "
        "GROUP BY table", {"p": day.strftime("%Y%m"), "t": [f for f, _ in FACTS.values()]})}


def replace_day(wh: Warehouse, lake: LakeSettings, day: date) -> dict[str, float]:
    """Replace D as described in the module docstring; returns seconds per step."""
    params = _params(wh, day)
    steps: dict[str, float] = {}

    def step(name: str, fn) -> None:
        t = time.perf_counter()
        fn()
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t

    fs, root = processed_root(lake)
    for fact, _ in FACTS.values():
        step(f"delete D from {fact}", lambda f=fact: wh.command(
            f"ALTER TABLE {f} DELETE WHERE date_key = {{d:UInt32}}", params, settings=SYNC))
    for agg in BY_DAY:
        step(f"delete D from {agg}", lambda a=agg: wh.command(
            f"ALTER TABLE {a} DELETE WHERE date_key = {{d:UInt32}}", params, settings=SYNC))
    step("delete D's local hours from agg_sales_hourly", lambda: wh.command(
        f"ALTER TABLE agg_sales_hourly DELETE WHERE {_LOCAL_DAY}", params, settings=SYNC))
    step("rebuild agg_inventory_latest from all of fact_inventory", lambda: (
        wh.command("TRUNCATE TABLE agg_inventory_latest"), wh.command(_LATEST)))
    tables: dict = {}
    step("read the processed zone (Parquet)", lambda: tables.update({
        event_type: pq.read_table(f"{root}/{event_type}/date={day}/part-0.parquet",
                                  filesystem=fs)
        for event_type in FACTS if fs.get_file_info(
            f"{root}/{event_type}/date={day}/part-0.parquet").size}))
    ref = Reference.load(wh)
    facts: dict = {}
    step("fact rows (Arrow)", lambda: facts.update(fact_tables(tables, ref)))
    run = uuid.uuid4().hex[:12]
    for fact, rows in facts.items():
        step("insert the day's facts (warehouse, materialized views)", lambda f=fact, r=rows:
             wh.insert_arrow(f, r, dedup_token=f"replace:{params['d']}:{f}:{run}"))
    step("end-of-day snapshot (warehouse)", lambda: snapshot_day(wh, ref, day))
    return steps
