"""Master data the stream checks events against: stores, products and lead times.

Read from the warehouse dimensions (``retail warehouse load-dims`` or the batch ETL loads
them) and refreshed every ``reference_refresh_minutes``. The object also satisfies what the
fact mappers in :mod:`retail.warehouse.load` need from a catalog (``stores``, ``products``,
``store_offset``), so the stream writes facts exactly like a batch load does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from retail.io.warehouse import Warehouse, WarehouseError


class ReferenceDataMissing(WarehouseError):
    """The dimensions are empty: nothing could be validated against them."""


def standard_offset_hours(tz: str) -> int:
    """The zone's standard-time UTC offset (date keys ignore daylight saving, like the
    simulator and the batch loads)."""
    zone = ZoneInfo(tz)
    probe = datetime(2025, 1, 15, tzinfo=zone)
    return int((probe.utcoffset() - probe.dst()).total_seconds() // 3600)


@dataclass
class Reference:
    stores: pa.Table  # store_id, timezone
    products: pa.Table  # product_id, unit_cost, lead_time_days
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def store_offset(self) -> np.ndarray:
        return np.array([standard_offset_hours(tz) for tz in self.stores["timezone"].to_pylist()])

    @classmethod
    def load(cls, wh: Warehouse) -> Reference:
        stores = wh.query_arrow("SELECT store_id, timezone FROM dim_store FINAL ORDER BY store_id")
        products = wh.query_arrow(
            "SELECT p.product_id AS product_id, toDecimal64(p.unit_cost, 2) AS unit_cost, "
            "toFloat64(s.lead_time_mean_days) AS lead_time_days "
            "FROM dim_product AS p FINAL LEFT JOIN dim_supplier AS s FINAL "
            "ON p.supplier_id = s.supplier_id ORDER BY product_id")
        if stores.num_rows == 0 or products.num_rows == 0:
            raise ReferenceDataMissing(
                f"the warehouse has {stores.num_rows} stores and {products.num_rows} products "
                f"in {wh.database}.dim_store/dim_product: load them first "
                "(`retail warehouse load-dims`)")
        return cls(stores=stores, products=products)

    def stale(self, max_age_s: float) -> bool:
        return time.monotonic() - self.loaded_at > max_age_s
