"""The platform arm's orders: the recommendations of the day before, read from
fact_replenishment in the real warehouse."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from retail.business.platform import PlatformOrders, RecommendationsMissing
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.engine import DayContext

pytestmark = pytest.mark.integration
D = date(2026, 4, 6)


def recommendation(store: str, product: str, qty: int, created: datetime,
                   run_date: date = D) -> dict:
    return {"date_key": int(f"{run_date:%Y%m%d}"), "run_date": run_date, "order_by_date": run_date,
            "store_id": store, "product_id": product, "on_hand": 3, "on_order": 0,
            "forecast_lead_review": 10.0, "safety_stock": 2.0, "reorder_point": 6.0,
            "order_up_to": 12.0, "order_qty": qty, "pack_size": 6,
            "reasons": ["below_reorder_point"],
            "stock_out_risk": 0.1, "lead_time_days": 2.0, "lead_time_sd_days": 0.5,
            "service_level": 0.95, "abc_class": "A", "model_version": "1",
            "created_at": created}


def ctx_of(day: date) -> DayContext:
    return DayContext(run=0, day_index=0, day=day, stores=(0, 1), price_changes=None,
                      day_mult=np.ones(1), weather=np.ones((1, 1)),
                      rng=np.random.default_rng(0))


def test_the_stores_order_the_newest_recommendation_of_the_day_before(migrated):
    catalog = generate_catalog(2, 30, 4)
    pairs = [(catalog.stores["store_id"][int(s)].as_py(),
              catalog.products["product_id"][int(p)].as_py())
             for s, p in zip(catalog.pair_store[:3], catalog.pair_product[:3])]
    early, late = datetime(2026, 4, 7, 9), datetime(2026, 4, 7, 10)
    rows = [recommendation(*pairs[0], 12, early), recommendation(*pairs[0], 18, late),
            recommendation(*pairs[1], 0, early), recommendation(*pairs[2], 6, early),
            recommendation(*pairs[2], 24, early, run_date=D - timedelta(days=1))]
    migrated.insert_arrow("fact_replenishment", pa.Table.from_pylist(rows))
    orders = PlatformOrders(catalog)
    assert orders.load(migrated, D) == 18 + 6
    sim = Simulator(catalog, SimConfig(seed=4, rate=5, days=1), order_policy=orders)
    got = orders(sim, ctx_of(D + timedelta(days=1)), 0, catalog.n_pairs)
    assert got[:3].tolist() == [18, 0, 6] and got[3:].sum() == 0
    with pytest.raises(RecommendationsMissing, match=f"recommendations of {D + timedelta(1)}"):
        orders(sim, ctx_of(D + timedelta(days=2)), 0, catalog.n_pairs)


def test_a_recommendation_for_a_pair_the_chain_does_not_stock_is_refused(migrated):
    catalog = generate_catalog(2, 30, 4)
    migrated.insert_arrow("fact_replenishment", pa.Table.from_pylist(
        [recommendation("S00002", "P000999", 6, datetime(2026, 4, 7, 9))]))
    with pytest.raises(ValueError, match="1 store x SKU pairs the chain does not stock"):
        PlatformOrders(catalog).load(migrated, D)
