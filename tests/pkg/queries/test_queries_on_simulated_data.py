"""slow_movers and supplier_lead_time on five simulated weeks of a 500-SKU chain.

The run is loaded into a warehouse database of this module's own, as the warehouse sink
does; each query's answer is checked against the same definition worked out from the
events with numpy, and against the realism targets of docs/simulator.md (some products
are slow; suppliers deliver after the lead times the catalog gives).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.io.warehouse import connect
from retail.queries import latest_sale_date, run_query
from retail.sim import Catalog, SimConfig, Simulator, generate_catalog
from retail.warehouse.load import load_dimensions, load_facts
from retail.warehouse.migrate import Migrator

pytestmark = pytest.mark.clickhouse_server

START, DAYS = date(2026, 9, 7), 35
MS_PER_HOUR, MS_PER_DAY = 3_600_000, 86_400_000


@dataclass
class Loaded:
    wh: object
    catalog: Catalog
    tables: dict[str, pa.Table]
    as_of: date


@pytest.fixture(scope="module")
def loaded(warehouse_settings) -> Iterator[Loaded]:
    catalog = generate_catalog(3, 500, 42)
    sim = Simulator(catalog, SimConfig(seed=42, rate=2.0, start=START, days=DAYS))
    parts: dict[str, list[pa.Table]] = {}
    for batch in sim.run():
        for k, t in batch.tables.items():
            parts.setdefault(k, []).append(t)
    tables = {k: pa.concat_tables(ts) for k, ts in parts.items()}
    settings = warehouse_settings.model_copy(update={"database": f"t_{uuid.uuid4().hex[:10]}"})
    admin = connect(settings, database="")
    Migrator(admin, settings.database, lambda name: connect(settings, name)).migrate()
    try:
        with connect(settings) as wh:
            load_dimensions(wh, catalog, START, DAYS)
            load_facts(wh, tables, catalog, "simulated-weeks")
            yield Loaded(wh, catalog, tables, latest_sale_date(wh))
    finally:
        admin.command(f"DROP DATABASE IF EXISTS `{settings.database}` SYNC")
        admin.close()


def index(col) -> np.ndarray:
    """S00001 / P000001 / V0001 -> 0."""
    return pc.cast(pc.utf8_slice_codeunits(col, 1), pa.int64()).to_numpy() - 1


def ms(col) -> np.ndarray:
    return pc.cast(col, pa.int64()).to_numpy()


def local_day(catalog: Catalog, table: pa.Table) -> np.ndarray:
    """The store-local date of each event, as days since 1970."""
    offset = catalog.store_offset[index(table["store_id"])].astype(np.int64) * MS_PER_HOUR
    return (ms(table["event_time"]) + offset) // MS_PER_DAY


def test_the_run_ends_on_the_day_the_queries_default_to(loaded):
    assert loaded.as_of == START + timedelta(days=DAYS - 1)


def test_some_products_are_slow_movers_exactly_as_the_definition_says(loaded):
    c, t = loaded.catalog, loaded.tables
    got = run_query(loaded.wh, "slow_movers").to_pylist()

    # stocking stores and stock: every pair with a movement on record, its last level
    inv = t["inventory_update"]
    pair = index(inv["store_id"]) * c.n_products + index(inv["product_id"])
    order = np.lexsort((np.asarray(inv["inventory_id"].to_pylist()), ms(inv["event_time"]),
                        pair))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = pair[order][1:] != pair[order][:-1]
    last_rows = order[last]
    product = pair[last_rows] % c.n_products
    stores = np.bincount(product, minlength=c.n_products)
    on_hand = np.bincount(product, weights=np.maximum(
        inv["new_quantity"].to_numpy()[last_rows], 0), minlength=c.n_products)

    # net units over the 28 days up to as_of (local days)
    sales = t["sales_transaction"]
    as_of = (loaded.as_of - date(1970, 1, 1)).days
    recent = local_day(c, sales) > as_of - 28
    sign = np.where(pc.equal(sales["transaction_type"], "return").to_numpy(
        zero_copy_only=False), -1, 1)
    units = np.bincount(index(sales["product_id"])[recent],
                        weights=(sales["quantity"].to_numpy() * sign)[recent],
                        minlength=c.n_products)

    stocked = np.flatnonzero(stores)
    rate = units[stocked] / stores[stocked] / 4
    slow = stocked[(on_hand[stocked] > 0) & (rate * 4 < np.median(rate))]
    want = {f"P{p + 1:06d}": (int(stores[p]), int(on_hand[p]), int(units[p])) for p in slow}
    assert {r["product_id"]: (r["stores"], r["on_hand"], r["units_sold_28d"]) for r in got} \
        == want
    assert len(got) >= 10, "a long tail of 500 SKUs has slow sellers"
    assert all(r["pct_of_median"] < 25 for r in got)
    values = [r["stock_value"] for r in got]
    assert values == sorted(values, reverse=True)


def test_supplier_lead_times_are_measured_as_delivered_and_match_the_catalog(loaded):
    c, ship = loaded.catalog, loaded.tables["supplier_shipment"]
    got = {r["supplier_id"]: r for r in run_query(loaded.wh, "supplier_lead_time").to_pylist()}
    d = ship.filter(pc.equal(ship["status"], "delivered"))
    sup = index(d["supplier_id"])
    lead = (ms(d["event_time"]) - ms(d["ordered_at"])) / MS_PER_DAY
    late = ms(d["event_time"]) > ms(d["expected_arrival"])
    assert set(got) == {f"V{k + 1:04d}" for k in np.unique(sup)}
    for k in np.unique(sup):
        mine = sup == k
        row, n = got[f"V{k + 1:04d}"], int(mine.sum())
        assert row["delivered_shipments"] == n
        assert row["mean_lead_time_days"] == pytest.approx(lead[mine].mean(), abs=0.006)
        assert row["mean_promised_lead_time_days"] == pytest.approx(c.supplier_lead_mean[k])
        assert row["on_time_rate_pct"] == pytest.approx(100 * (1 - late[mine].mean()),
                                                        abs=0.006)
        if n > 1:
            assert row["sd_lead_time_days"] == pytest.approx(lead[mine].std(ddof=1), abs=0.006)
        else:
            assert row["sd_lead_time_days"] is None
        if n >= 100:  # enough deliveries to compare with the catalog (4 standard errors)
            sd = c.supplier_lead_sd[k]
            assert abs(row["mean_lead_time_days"] - c.supplier_lead_mean[k]) <= \
                4 * sd / np.sqrt(n) + 0.01
            assert abs(row["sd_lead_time_days"] / sd - 1) <= 4.5 / np.sqrt(n) + 0.01
            assert 30 <= row["on_time_rate_pct"] <= 75
    assert sum(r["delivered_shipments"] >= 100 for r in got.values()) >= 4
