"""The end-of-day inventory snapshot of a closed day: per store x product, on hand, on
order and days of cover, as ``fact_inventory`` rows of record type ``snapshot``; a re-run writes only what changed.

Computed in the warehouse, where the history is: on hand is the level after the last
movement on or before the day, on order the units of shipments ordered by then and not
delivered by then, days of cover on hand over the mean units sold per day in the 28 days
ending that day. Only query parameters reach the SQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.warehouse import Warehouse
from retail.streaming.reference import Reference
from retail.warehouse.keys import date_key

COVER_DAYS = 28

_SNAPSHOT = """
SELECT
    toString(reinterpretAsUUID(MD5(concat('snapshot|', toString({d:UInt32}), '|',
        h.store_id, '|', h.product_id)))) AS event_id,
    'snapshot' AS record_type, concat('snapshot-', toString({d:UInt32})) AS inventory_id,
    toUInt32({d:UInt32}) AS date_key, h.store_id AS store_id, h.product_id AS product_id,
    toInt32(0) AS quantity_change, h.on_hand AS quantity_on_hand,
    toInt32(ifNull(o.on_order, 0)) AS on_order,
    if(ifNull(s.units, 0) > 0, toFloat32(h.on_hand / (s.units / {cover:UInt32})), NULL)
        AS days_of_cover,
    'snapshot' AS reason, h.reorder_point AS reorder_point, h.safety_stock AS safety_stock,
    h.unit_cost AS unit_cost,
    transform(h.store_id, {stores:Array(String)}, {ends:Array(DateTime64(3, 'UTC'))},
              toDateTime64(0, 3, 'UTC')) AS event_time
FROM (
    SELECT store_id, product_id,
        argMax(quantity_on_hand, (event_time, inventory_id)) AS on_hand,
        argMax(reorder_point, (event_time, inventory_id)) AS reorder_point,
        argMax(safety_stock, (event_time, inventory_id)) AS safety_stock,
        argMax(unit_cost, (event_time, inventory_id)) AS unit_cost
    FROM fact_inventory
    WHERE record_type = 'movement' AND date_key <= {d:UInt32}
      -- the last movement is on the pair's last day with movements: read only that day
      -- through the primary key, not the pair's whole history
      AND (store_key, product_key, date_key) IN (
          SELECT store_key, product_key, max(date_key) FROM fact_inventory
          WHERE record_type = 'movement' AND date_key <= {d:UInt32}
          GROUP BY store_key, product_key)
    GROUP BY store_id, product_id
) AS h
LEFT JOIN (
    SELECT store_id, product_id, sum(quantity) AS on_order
    FROM fact_supplier_shipments FINAL
    WHERE status = 'ordered' AND date_key <= {d:UInt32}
      AND shipment_id NOT IN (SELECT shipment_id FROM fact_supplier_shipments
                              WHERE status = 'delivered' AND date_key <= {d:UInt32})
    GROUP BY store_id, product_id
) AS o ON o.store_id = h.store_id AND o.product_id = h.product_id
LEFT JOIN (
    SELECT store_id, product_id, sum(quantity) AS units
    FROM fact_sales FINAL
    WHERE transaction_type = 'sale' AND date_key BETWEEN {first:UInt32} AND {d:UInt32}
    GROUP BY store_id, product_id
) AS s ON s.store_id = h.store_id AND s.product_id = h.product_id
SETTINGS join_use_nulls = 1
"""


_COMPARED = ("store_id", "product_id", "quantity_on_hand", "on_order", "days_of_cover",
             "reorder_point", "safety_stock", "unit_cost", "event_time")


def _fingerprints(table: pa.Table) -> pa.Array:
    parts = [pc.cast(table[c], pa.string()) for c in _COMPARED]
    return pc.binary_join_element_wise(*[pc.fill_null(p, "-") for p in parts], "|")


def snapshot_day(wh: Warehouse, ref: Reference, day: date) -> int:
    """Write the snapshot of ``day``: only rows that are new or changed since the last run
    (a second run writes nothing). Returns the day's snapshot rows."""
    stores = ref.stores["store_id"].to_pylist()
    midnight = datetime.combine(day + timedelta(days=1), time(), UTC)
    ends = [midnight - timedelta(hours=int(h), milliseconds=1) for h in ref.store_offset]
    rows = wh.query_arrow(_SNAPSHOT, {
        "d": date_key(day), "first": date_key(day - timedelta(days=COVER_DAYS - 1)),
        "cover": COVER_DAYS, "stores": stores, "ends": ends})
    held = wh.query_arrow(
        f"SELECT {', '.join(_COMPARED)} FROM fact_inventory FINAL "
        "WHERE date_key = {d:UInt32} AND record_type = 'snapshot'", {"d": date_key(day)})
    changed = rows.filter(pc.invert(pc.is_in(_fingerprints(rows),
                                             value_set=_fingerprints(held))))
    if changed.num_rows:
        wh.insert_arrow("fact_inventory", changed)
    return rows.num_rows
