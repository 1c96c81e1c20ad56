"""Bulk loads into the warehouse: dimensions from the catalog, facts from event tables.

Everything stays columnar (Arrow compute, no per-row Python). Each load carries an
``insert_deduplication_token`` derived from its content or its batch identity, so running
the same load twice leaves the tables unchanged.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.warehouse import Warehouse
from retail.sim.calendar import calendar_table
from retail.sim.catalog import Catalog
from retail.sim.pricing import PROMO_SHARE, promotion_calendar
from retail.sim.reference import reference_tables

_DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"]
DIMENSIONS = ("dim_date", "dim_store", "dim_supplier", "dim_product")
# What drove the simulated demand besides the calendar (migration 0011), loaded with the
# dimensions.
REFERENCE = ("weather_daily", "store_events")
# The chain's promotion plan (migration 0016), published with the dimensions for the loaded
# days and AHEAD_DAYS after them: a forecast made at the end of the last loaded day reads
# the promotions of its next 7 days.
PROMOTIONS = "promotion_calendar"
AHEAD_DAYS = 7


def content_token(table: pa.Table, salt: str = "") -> str:
    """A deduplication token that changes whenever the table's content does."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return salt + hashlib.sha256(sink.getvalue()).hexdigest()[:32]


def date_dimension(start: date, days: int, country: str = "US") -> pa.Table:
    cal = calendar_table(start, days, country)
    d = cal["date"]
    return pa.table({
        "date_key": pc.cast(pc.strftime(pc.cast(d, pa.timestamp("s")), "%Y%m%d"), pa.uint32()),
        "date": d,
        "day_of_week": pc.cast(cal["day_of_week"], pa.uint8()),
        "day_name": pc.take(pa.array(_DAY_NAMES), pc.subtract(cal["day_of_week"], 1)),
        "week": pc.cast(cal["week"], pa.uint8()),
        "month": pc.cast(cal["month"], pa.uint8()),
        "month_name": pc.take(pa.array(_MONTH_NAMES), pc.subtract(cal["month"], 1)),
        "quarter": pc.cast(cal["quarter"], pa.uint8()),
        "year": pc.cast(cal["year"], pa.uint16()),
        "is_weekend": cal["is_weekend"], "is_holiday": cal["is_holiday"],
        "holiday_name": cal["holiday_name"], "special_day": cal["special_day"],
        "days_to_next_holiday": pc.cast(cal["days_to_next_holiday"], pa.uint16()),
        "is_payday": cal["is_payday"], "season": cal["season"],
    })


def dimension_tables(catalog: Catalog, start: date, days: int) -> dict[str, pa.Table]:
    """The four dimensions as Arrow tables, columns named like the warehouse's."""
    st, pr, su = catalog.stores, catalog.products, catalog.suppliers
    return {
        "dim_date": date_dimension(start, days, catalog.country),
        "dim_store": st.select(["store_id", "name", "city", "state", "region", "country",
                                "timezone", "store_type", "square_footage", "opens_at",
                                "closes_at"]),
        "dim_supplier": su.select(["supplier_id", "name", "category", "lead_time_mean_days",
                                   "lead_time_sd_days"]),
        "dim_product": _with_money(
            pr.select(["product_id", "sku", "name", "category", "sub_category", "brand",
                       "supplier_id", "unit_cost", "shelf_life_days", "pack_size"]
                      ).append_column("list_price", pr["price"]), ("unit_cost", "list_price")),
    }


def load_dimensions(wh: Warehouse, catalog: Catalog, start: date, days: int, *,
                    seed: int | None = None, promo_share: float = PROMO_SHARE
                    ) -> dict[str, tuple[int, int]]:
    """Insert the dimensions, then the reference tables (:func:`load_reference`) and the
    promotion calendar (:func:`load_promotions`, through ``AHEAD_DAYS`` after the days);
    identical re-runs are deduplicated and replaced rows merged.

    ``seed`` and ``promo_share`` are the simulator's (``SimConfig``), so the calendar is the
    promotions the simulator runs; ``seed`` defaults to the catalog's (the CLI draws both
    from one seed).

    Returns ``{dimension: (rows sent, rows in the table after the load)}``.
    """
    out = {name: _replace(wh, name, table)
           for name, table in dimension_tables(catalog, start, days).items()}
    load_reference(wh, catalog, start, days)
    load_promotions(wh, catalog, start, days + AHEAD_DAYS,
                    seed=catalog.seed if seed is None else seed, promo_share=promo_share)
    return out


def load_reference(wh: Warehouse, catalog: Catalog, start: date, days: int
                   ) -> dict[str, tuple[int, int]]:
    """Insert ``weather_daily`` and ``store_events`` of the days: the weather and local
    events the simulator's demand followed (:func:`retail.sim.reference.reference_tables`).

    Returns ``{table: (rows sent, rows in the table after the load)}``.
    """
    tables = reference_tables(catalog, start, days)
    return {name: _replace(wh, name, tables[name]) for name in REFERENCE}


def load_promotions(wh: Warehouse, catalog: Catalog, start: date, days: int, *, seed: int,
                    promo_share: float) -> tuple[int, int]:
    """Publish the promotions planned for the weeks that overlap ``days`` days from
    ``start`` (:func:`retail.sim.pricing.promotion_calendar`: drawn from ``seed`` and each
    week's Monday, as the simulator draws them) into ``promotion_calendar``; a week
    published again replaces its rows.

    Returns (rows sent, rows in the table after the load).
    """
    plan = promotion_calendar(seed, catalog.products["product_id"], promo_share, start, days)
    return _replace(wh, PROMOTIONS, plan)


def _replace(wh: Warehouse, name: str, table: pa.Table) -> tuple[int, int]:
    wh.insert_arrow(name, table, dedup_token=content_token(table, f"{name}:"))
    # Small tables: merge now so plain reads (not only FINAL) see one row each.
    wh.command(f"OPTIMIZE TABLE {name} FINAL")
    return table.num_rows, int(wh.query_rows(f"SELECT count() FROM {name}")[0][0])


def _signed(values: pa.ChunkedArray | pa.Array, is_return: pa.ChunkedArray) -> pa.Array:
    return pc.if_else(is_return, pc.negate(values), values)


def _money(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Amounts as exact cents. ClickHouse converts Float64 to Decimal by truncation (0.29 is
    stored as 0.28, 8.7 as 8.69); Arrow's cast rounds to the nearest cent instead."""
    return pc.cast(values, pa.decimal128(18, 2))


def _with_money(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    for name in columns:
        table = table.set_column(table.schema.get_field_index(name), name, _money(table[name]))
    return table


def sales_facts(events: pa.Table, catalog: Catalog) -> pa.Table:
    """``sales_transaction`` events -> ``fact_sales`` rows (returns get negative signs)."""
    is_return = pc.equal(events["transaction_type"], "return")
    pid = catalog.products["product_id"]
    idx = pc.index_in(events["product_id"], value_set=pid)
    if idx.null_count:
        raise ValueError("sales events name products that are not in the catalog")
    unit_cost = pc.take(catalog.products["unit_cost"], idx)
    return pa.table({
        "event_id": events["event_id"], "transaction_id": events["transaction_id"],
        "line_number": pc.cast(events["line_number"], pa.uint16()),
        "transaction_type": events["transaction_type"],
        "store_id": events["store_id"], "product_id": events["product_id"],
        "quantity": pc.cast(_signed(events["quantity"], is_return), pa.int32()),
        "unit_price": _money(events["unit_price"]),
        "discount": _money(_signed(events["discount_amount"], is_return)),
        "revenue": _money(_signed(events["line_total"], is_return)),
        "unit_cost": _money(unit_cost),
        "promotion_id": events["promotion_id"], "payment_method": events["payment_method"],
        "customer_id": events["customer_id"], "currency": events["currency"],
        "event_time": events["event_time"],
    })


def inventory_facts(events: pa.Table, catalog: Catalog) -> pa.Table:
    n = events.num_rows
    return pa.table({
        "event_id": events["event_id"], "record_type": pa.array(["movement"] * n),
        "inventory_id": events["inventory_id"], "store_id": events["store_id"],
        "product_id": events["product_id"],
        "quantity_change": pc.cast(events["quantity_change"], pa.int32()),
        "quantity_on_hand": pc.cast(events["new_quantity"], pa.int32()),
        "reason": events["reason"], "reference_id": events["reference_id"],
        "event_time": events["event_time"],
    })


def price_change_facts(events: pa.Table, catalog: Catalog) -> pa.Table:
    return _with_money(events.select(
        ["event_id", "price_change_id", "store_id", "product_id", "old_price", "new_price",
         "change_type", "promotion_id", "event_time"]), ("old_price", "new_price"))


def lost_sales_facts(events: pa.Table, catalog: Catalog) -> pa.Table:
    return _with_money(events.select(
        ["event_id", "lost_sale_id", "transaction_id", "store_id", "product_id",
         "requested_quantity", "fulfilled_quantity", "lost_quantity", "unit_price",
         "event_time"]), ("unit_price",))


def shipment_facts(events: pa.Table, catalog: Catalog) -> pa.Table:
    return _with_money(events.select(
        ["event_id", "shipment_id", "status", "supplier_id", "store_id", "product_id",
         "quantity", "unit_cost", "ordered_at", "expected_arrival", "event_time"]),
        ("unit_cost",))


FACTS = {
    "sales_transaction": ("fact_sales", sales_facts),
    "inventory_update": ("fact_inventory", inventory_facts),
    "price_change": ("fact_price_changes", price_change_facts),
    "lost_sale": ("fact_lost_sales", lost_sales_facts),
    "supplier_shipment": ("fact_supplier_shipments", shipment_facts),
}


def local_date_keys(events: pa.Table, catalog: Catalog) -> pa.Array:
    """``YYYYMMDD`` of each event's time in its store's time zone: a store's day is its
    local day (a 22:00 sale in Los Angeles belongs to that evening, not the next UTC day).
    The tables' own default (the UTC date) applies only where a writer sends no date_key."""
    idx = pc.index_in(events["store_id"], value_set=catalog.stores["store_id"])
    if idx.null_count:
        raise ValueError("events name stores that are not in the catalog")
    offset_ms = pc.take(pa.array(catalog.store_offset.astype("int64") * 3_600_000), idx)
    utc_ms = pc.cast(pc.cast(events["event_time"], pa.timestamp("ms")), pa.int64())
    local = pc.cast(pc.add(utc_ms, offset_ms), pa.timestamp("ms"))
    return pc.cast(pc.strftime(local, "%Y%m%d"), pa.uint32())


def fact_tables(tables: dict[str, pa.Table], catalog: Catalog) -> dict[str, pa.Table]:
    """Map a batch of event tables (by event type) to fact tables (by table name)."""
    out = {}
    for event_type, events in tables.items():
        if event_type not in FACTS or events.num_rows == 0:
            continue
        name, fn = FACTS[event_type]
        out[name] = fn(events, catalog).append_column("date_key",
                                                      local_date_keys(events, catalog))
    return out


def load_facts(wh: Warehouse, tables: dict[str, pa.Table], catalog: Catalog, batch_id: str
               ) -> dict[str, int]:
    """Insert one batch of events as facts; ``batch_id`` makes a replay a no-op."""
    return {name: (wh.insert_arrow(name, facts, dedup_token=f"{batch_id}:{name}"),
                   facts.num_rows)[1]
            for name, facts in fact_tables(tables, catalog).items()}
