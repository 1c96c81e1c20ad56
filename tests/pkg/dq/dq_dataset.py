"""A small, clean warehouse for the data-quality checks: every check passes on it as of
``now``, and a test plants one defect (rows as plain dicts, changed before loading).

Three stores in three time zones (New York 07-22, Chicago 07-22, Los Angeles 06-24 local),
four products, three local days up to ``now``: every open hour has 20 sales lines, each
with its sale movement; the hourly aggregate holds the same 20 lines on the 4 same weekdays
before; every topic and fact table has a recent row; the stream finished a batch a minute
after the newest sale.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.warehouse import Warehouse

# Near the real clock: raw_events, stream_batches and the hourly aggregate have TTLs
# (7, 30 and 42 days) that drop older rows as they are inserted.
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
NOW = _TODAY - timedelta(hours=5, minutes=30)  # yesterday 18:30: every store is open
NIGHT = _TODAY + timedelta(hours=11)  # every store closed (Los Angeles since 08:00 UTC)
LINES = 20
STORES = [  # store_id, time zone, standard offset (h), opens, closes
    ("S00001", "America/New_York", -5, "07:00", "22:00"),
    ("S00002", "America/Chicago", -6, "07:00", "22:00"),
    ("S00003", "America/Los_Angeles", -8, "06:00", "00:00"),
]
PRODUCTS = [("P00001", Decimal("2.50")), ("P00002", Decimal("4.00")),
            ("P00003", Decimal("9.99")), ("P00004", Decimal("1.25"))]
TOPICS = {  # topic -> event type, age of its newest event relative to the newest sale
    "retail-sales-transactions": ("sales_transaction", timedelta(0)),
    "retail-inventory-updates": ("inventory_update", timedelta(0)),
    "retail-customer-events": ("customer_traffic", timedelta(minutes=30)),
    "retail-price-changes": ("price_change", timedelta(days=3)),
    "retail-supplier-shipments": ("supplier_shipment", timedelta(hours=5)),
}
_MS = pa.timestamp("ms", "UTC")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, "/".join(map(str, parts))))


def _key(d: date) -> int:
    return int(f"{d:%Y%m%d}")


def open_hours(now: datetime) -> list[tuple[str, int, datetime, int]]:
    """(store, offset, UTC hour start, local date_key) of every open hour begun before
    ``now`` on the local days ``now`` - 2 .. ``now``."""
    out = []
    for store, _tz, offset, opens, closes in STORES:
        first, last = int(opens[:2]), int(closes[:2]) or 24
        for back in range(3):
            day = (now + timedelta(hours=offset)).date() - timedelta(days=back)
            for h in range(first, last):
                start = datetime(day.year, day.month, day.day, h, tzinfo=UTC) \
                    - timedelta(hours=offset)
                if start < now:
                    out.append((store, offset, start, _key(day)))
    return sorted(out, key=lambda r: r[2])


def dataset(now: datetime = NOW) -> dict[str, list[dict]]:
    """The clean rows per table."""
    t: dict[str, list[dict]] = {name: [] for name in (
        "dim_store", "dim_product", "fact_sales", "fact_inventory", "fact_lost_sales",
        "fact_price_changes", "fact_supplier_shipments", "raw_events", "quarantine_events",
        "stream_batches", "inventory_levels_current")}
    for store, tz, _off, opens, closes in STORES:
        t["dim_store"].append({"store_id": store, "name": store, "city": "", "state": "",
                               "region": "", "country": "US", "timezone": tz,
                               "store_type": "supermarket", "square_footage": 1000,
                               "opens_at": opens, "closes_at": closes})
    for product, price in PRODUCTS:
        t["dim_product"].append({"product_id": product, "sku": product, "name": product,
                                 "category": "c", "sub_category": "s", "brand": "b",
                                 "supplier_id": "U00001", "unit_cost": price / 2,
                                 "list_price": price, "shelf_life_days": 30, "pack_size": 1})
    stock = Counter()
    for store, _off, hour, date_key in open_hours(now):
        for i in range(LINES):
            at = hour + timedelta(seconds=180 * i)
            if at > now - timedelta(minutes=1):
                break
            product, price = PRODUCTS[i % len(PRODUCTS)]
            quantity, discount = 1 + i % 3, Decimal("0.50") if i % 5 == 0 else Decimal(0)
            sale = f"T-{store}-{at:%Y%m%d%H%M}"
            t["fact_sales"].append({
                "event_id": _id("sale", sale), "transaction_id": sale, "line_number": 1,
                "transaction_type": "sale", "date_key": date_key, "store_id": store,
                "product_id": product, "quantity": quantity, "unit_price": price,
                "discount": discount, "revenue": quantity * price - discount,
                "unit_cost": price / 2, "payment_method": "cash", "event_time": at})
            stock[store, product] += quantity
            t["fact_inventory"].append(movement(store, product, at, date_key, -quantity,
                                                10_000 - stock[store, product], sale))
    newest = max(r["event_time"] for r in t["fact_sales"])
    for store, product in sorted(stock):
        t["inventory_levels_current"].append({
            "store_id": store, "product_id": product,
            "quantity_on_hand": 10_000 - stock[store, product], "last_event_time": newest})
    # The lost sale at 02:00 UTC is on the previous local day in New York (a key a writer
    # that left date_key to its default would get wrong: the duplicates test uses it).
    for at in (newest - timedelta(hours=2), datetime.combine(
            newest.date(), datetime.min.time(), UTC) + timedelta(hours=2)):
        t["fact_lost_sales"].append({
            "event_id": _id("lost", at), "lost_sale_id": f"L-{at:%H%M}",
            "transaction_id": f"T-lost-{at:%H%M}", "date_key": _key((at - timedelta(hours=5))
                                                                     .date()),
            "store_id": "S00001", "product_id": "P00001", "requested_quantity": 3,
            "fulfilled_quantity": 1, "lost_quantity": 2, "unit_price": Decimal("2.50"),
            "event_time": at})
    price_at = newest - TOPICS["retail-price-changes"][1]
    t["fact_price_changes"].append({
        "event_id": _id("price", price_at), "price_change_id": "PC-1",
        "date_key": _key(price_at.date()), "store_id": "S00002", "product_id": "P00002",
        "old_price": Decimal("4.00"), "new_price": Decimal("3.50"),
        "change_type": "promotion_start", "event_time": price_at})
    ship_at = newest - TOPICS["retail-supplier-shipments"][1]
    t["fact_supplier_shipments"].append({
        "event_id": _id("ship", ship_at), "shipment_id": "SH-1", "status": "delivered",
        "date_key": _key(ship_at.date()), "supplier_id": "U00001", "store_id": "S00003",
        "product_id": "P00003", "quantity": 24, "unit_cost": Decimal("5.00"),
        "ordered_at": ship_at - timedelta(days=3), "expected_arrival": ship_at,
        "event_time": ship_at})
    for topic, (event_type, age) in TOPICS.items():
        for i in range(100):  # one every 10 minutes back from the topic's newest
            at = newest - age - timedelta(minutes=10 * i)
            t["raw_events"].append({
                "event_id": _id(topic, i), "event_type": event_type, "schema_version": 1,
                "topic": topic, "partition": 0, "offset": i, "key": "S00001", "payload": "{}",
                "event_time": at, "ingested_at": at + timedelta(seconds=1)})
    t["quarantine_events"].append(quarantined("retail-sales-transactions", "late",
                                              newest - timedelta(minutes=5)))
    for batch in (1, 2):
        finished = newest + timedelta(seconds=30 + batch)
        t["stream_batches"].append({
            "stream_id": "stream-1", "batch_id": batch, "max_event_time": newest,
            "watermark": newest - timedelta(minutes=10), "input_rows": 100, "good_rows": 99,
            "rejected_rows": 1, "late_rows": 1, "alerts": 0, "started_at": finished -
            timedelta(seconds=2), "finished_at": finished, "lag_ms": 1_500})
    return t


def movement(store: str, product: str, at: datetime, date_key: int, change: int,
             on_hand: int, reference: str, reason: str = "sale") -> dict:
    return {"event_id": _id("move", store, product, at, reason), "record_type": "movement",
            "inventory_id": f"I-{store}-{product}-{at:%Y%m%d%H%M%S}-{reason}",
            "date_key": date_key, "store_id": store, "product_id": product,
            "quantity_change": change, "quantity_on_hand": on_hand, "reason": reason,
            "reference_id": reference, "event_time": at}


def quarantined(topic: str, reason: str, at: datetime) -> dict:
    return {"quarantined_at": at, "source": "stream", "topic": topic, "payload": "{}",
            "reason": reason, "error": f"planted {reason}", "event_time": at}


def _arrow(rows: list[dict]) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, pc.cast(table[f.name], _MS))
    return table


def load(wh: Warehouse, tables: dict[str, list[dict]],
         history_from: dict[str, list[dict]] | None = None) -> None:
    """Insert ``tables``, then the hourly aggregate's 4 weeks before: the same hours with
    the lines of ``history_from`` (the clean dataset; by default ``tables``)."""
    for name, rows in tables.items():
        if rows:
            wh.insert_arrow(name, _arrow(rows))
    keys = dict(wh.query_rows("SELECT store_id, store_key FROM dim_store FINAL"))
    lines = Counter((r["store_id"], r["event_time"].replace(minute=0, second=0))
                    for r in (history_from or tables)["fact_sales"])
    wh.insert_arrow("agg_sales_hourly", _arrow([
        {"hour": hour - timedelta(days=7 * week), "store_key": keys[store], "lines": n,
         "units": n, "revenue": Decimal(n)}
        for (store, hour), n in sorted(lines.items()) for week in (1, 2, 3, 4)]))
