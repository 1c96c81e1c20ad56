"""Weather and local events in the simulated sales: the sensitive categories move with the
weather and the others do not; a store's event lifts its traffic on the day (and the day
before) as ``store_events`` says, and nobody else's.

Forced weather: the same chain, seed and days simulated under two weathers that differ in
one respect, so everything else is equal. Demand = sold units + lost units (a stock-out
must not hide the lift). Expected ratios are given beside each threshold.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.sim import SimConfig, Simulator, generate_catalog, weather
from retail.sim.local_events import LocalEvents
from retail.sim.profiles import CATEGORIES
from retail.sim.reference import reference_tables
from retail.sim.weather import SENSITIVITY, DayWeather

SEED, STORES, PRODUCTS, RATE = 1, 10, 300, 10.0
START = date(2026, 6, 8)  # Monday to Wednesday, no holidays
CAT = [c.name for c in CATEGORIES]


def tables(sim: Simulator) -> dict[str, pa.Table]:
    batches = list(sim.run())
    return {k: pa.concat_tables([b.tables[k] for b in batches]) for k in batches[0].tables}


def demand_by_category(catalog, t: dict[str, pa.Table]) -> np.ndarray:
    sales = t["sales_transaction"]
    sold = sales.filter(pc.equal(sales["transaction_type"], "sale"))
    out = np.zeros(len(CATEGORIES))
    for table, qty in ((sold, "quantity"), (t["lost_sale"], "lost_quantity")):
        product = pc.cast(pc.utf8_slice_codeunits(table["product_id"], 1), pa.int64()).to_numpy()
        np.add.at(out, catalog.product_category[product - 1], table[qty].to_numpy())
    return out


def run_under(monkeypatch, anomaly_c: float, precip_mm: float, days: int = 3) -> np.ndarray:
    def region_day(seed, region, day):
        return DayWeather(temp_c=20.0 + anomaly_c, temp_min_c=15.0 + anomaly_c,
                          temp_max_c=25.0 + anomaly_c, temp_normal_c=20.0,
                          precip_mm=precip_mm)

    monkeypatch.setattr(weather, "region_day", region_day)
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=START, days=days))
    return demand_by_category(catalog, tables(sim))


def test_hot_days_sell_more_drinks_and_ice_cream_and_move_no_insensitive_category(monkeypatch):
    hot = run_under(monkeypatch, +8.0, 0.0)
    cool = run_under(monkeypatch, -8.0, 0.0)
    ratio = dict(zip(CAT, hot / cool))
    assert ratio["Frozen"] > 1.7  # exp(0.045 * 16) = 2.05
    assert ratio["Beverages"] > 1.5  # exp(0.035 * 16) = 1.75
    assert ratio["Meat & Seafood"] > 1.1  # 1.27
    assert ratio["Bakery"] < 0.9  # 0.79: baking weather is cool weather
    for name in ("Dairy", "Household", "Personal Care"):  # insensitive, model ratio 1
        assert 0.94 < ratio[name] < 1.06, (name, ratio[name])


def test_a_wet_day_keeps_gardeners_home_and_sells_more_snacks(monkeypatch):
    # ten days: loyal customers' favourites cluster a small category's units in few
    # baskets (retail.sim.shoppers), three days of Garden (about 200 units) are too noisy
    wet = run_under(monkeypatch, 0.0, 30.0, days=10)
    dry = run_under(monkeypatch, 0.0, 0.0, days=10)
    ratio = dict(zip(CAT, wet / dry))
    assert ratio["Garden"] < 0.8  # exp(-0.35 * 0.9975) = 0.71 (0.75 with the stores' mix)
    assert ratio["Snacks"] > 1.05  # 1.105
    for name in ("Dairy", "Household", "Personal Care"):
        assert 0.94 < ratio[name] < 1.06, (name, ratio[name])


def test_in_the_simulated_weather_warm_days_sell_a_larger_share_of_frozen_food():
    """No forcing: six summer weeks of the chain's own weather. Per region and day, frozen
    units against dairy units (insensitive; the ratio removes the calendar and the store's
    traffic) on days warmer than normal by 2 C or more against days as much cooler."""
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    days = 42
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=4.0, start=START, days=days))
    t = tables(sim)
    sales = t["sales_transaction"]
    sold = sales.filter(pc.equal(sales["transaction_type"], "sale"))
    store = pc.cast(pc.utf8_slice_codeunits(sold["store_id"], 1), pa.int64()).to_numpy() - 1
    product = pc.cast(pc.utf8_slice_codeunits(sold["product_id"], 1), pa.int64()).to_numpy() - 1
    local_ms = (pc.cast(sold["event_time"], pa.int64()).to_numpy()
                + catalog.store_offset[store].astype(np.int64) * 3_600_000)
    day = local_ms // 86_400_000 - (START - date(1970, 1, 1)).days
    region = catalog.store_region[store]
    cat = catalog.product_category[product]
    qty = sold["quantity"].to_numpy()
    frozen, dairy = np.zeros((5, days)), np.zeros((5, days))
    np.add.at(frozen, (region, day), np.where(cat == CAT.index("Frozen"), qty, 0))
    np.add.at(dairy, (region, day), np.where(cat == CAT.index("Dairy"), qty, 0))
    w = reference_tables(catalog, START, days)["weather_daily"].to_pandas()
    anomaly = np.full((5, days), np.nan)
    names = [r for r in ("Northeast", "Southeast", "Midwest", "Southwest", "West")]
    for r in w.itertuples():
        anomaly[names.index(r.region), (r.date - START).days] = r.temp_c - r.temp_normal_c
    has = dairy > 0
    warm, cool = has & (anomaly >= 2), has & (anomaly <= -2)
    assert warm.sum() >= 10 and cool.sum() >= 10
    ratio = (frozen[warm].sum() / dairy[warm].sum()) / (frozen[cool].sum() / dairy[cool].sum())
    mean_gap = anomaly[warm].mean() - anomaly[cool].mean()
    # model: exp(0.045 * gap), gap about 6-8 C: 1.3-1.4
    assert ratio > np.exp(SENSITIVITY["Frozen"][0] * mean_gap) ** 0.5


def test_a_local_event_lifts_its_stores_traffic_as_store_events_says_and_no_other_store(
        monkeypatch):
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    events = reference_tables(catalog, date(2026, 1, 1), 365)["store_events"].to_pylist()
    event = next(e for e in events if e["lift_day_before"] > 1 and e["date"].weekday() < 5
                 and e["date"] > date(2026, 1, 2))
    store = int(event["store_id"][1:]) - 1
    first = event["date"] - timedelta(days=1)

    def traffic(lifted: bool) -> np.ndarray:
        """Transactions per store and day; one store per group, so each draws alone."""
        if not lifted:
            monkeypatch.setattr(LocalEvents, "traffic_lift",
                                lambda self, day: np.ones(self.n_stores))
        sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=first, days=2,
                                           batch_events=1))
        t = tables(sim)
        monkeypatch.undo()
        h = t["customer_traffic"]
        s = pc.cast(pc.utf8_slice_codeunits(h["store_id"], 1), pa.int64()).to_numpy() - 1
        d = np.array([int(i[8:16]) for i in h["traffic_id"].to_pylist()])  # H-SSSSS-YYYYMMDD-HH
        out = np.zeros((STORES, 2))
        np.add.at(out, (s, (d != int(f"{first:%Y%m%d}")).astype(int)), h["transactions"])
        return out, t

    (with_events, t_on), (without, t_off) = traffic(True), traffic(False)
    other = np.arange(STORES) != store
    lifted_others = [e for e in events if e["date"] in (first, event["date"],
                                                         event["date"] + timedelta(days=1))
                     and e["store_id"] != event["store_id"]]
    quiet = np.array([i for i in np.flatnonzero(other)
                      if f"S{i + 1:05d}" not in {e["store_id"] for e in lifted_others}])
    assert len(quiet) >= 5
    assert np.array_equal(with_events[quiet], without[quiet])
    ratio = with_events[store] / without[store]
    assert ratio[0] == pytest.approx(event["lift_day_before"], abs=0.06)
    assert ratio[1] == pytest.approx(event["lift"], abs=0.08)
