"""What drove a simulated chain's demand, as reference data for the platform: the calendar,
the weather of each region with stores, and each store's local events, over a range of
days. The warehouse loads them beside the dimensions (``dim_date``, ``weather_daily``,
``store_events``); the lake keeps them in ``reference/``."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from retail.sim.calendar import calendar_table
from retail.sim.catalog import Catalog
from retail.sim.local_events import LocalEvents
from retail.sim.profiles import REGIONS
from retail.sim.weather import weather_table


def reference_tables(catalog: Catalog, start: date, days: int) -> dict[str, pa.Table]:
    """``calendar``, ``weather_daily`` and ``store_events`` for ``days`` days from ``start``,
    exactly as the simulator uses them (same country, same seed)."""
    regions = [REGIONS[r].name for r in np.unique(catalog.store_region)]
    return {
        "calendar": calendar_table(start, days, catalog.country),
        "weather_daily": weather_table(catalog.seed, regions, start, days),
        "store_events": LocalEvents(catalog.seed, catalog.n_stores).table(
            catalog.stores["store_id"], start, days),
    }
