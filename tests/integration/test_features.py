"""``retail features build`` on a small chain against the local warehouse server and a lake
directory: simulate 32 days into the warehouse (and the lake), close day D with the daily
ETL, build D. Every feature of every store x product of D equals a hand computation from
the simulator's own events; a second run after every fact dated after D changed writes
nothing; changed facts of D's past (a lost sale, a price set before the price window)
replace exactly the rows they touch."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from statistics import mean, median, stdev
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from retail.features.definitions import COLUMNS, FEATURE_NAMES
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.reference import reference_tables
from tests.conftest import retail_cli as retail

pytestmark = pytest.mark.integration

STORES, PRODUCTS, RATE, SEED, DAYS = 2, 20, 8.0, 42, 32
# D - 28 is a day on record; on D store S00001 has a festival, a product of the chain is
# on promotion and a sale is lost (the chain and the dates are fixed, so is what D shows).
START, DAY = date(2026, 7, 5), date(2026, 8, 4)
CHAIN = ["--stores", str(STORES), "--products", str(PRODUCTS), "--rate", "8", "--seed",
         str(SEED)]



@pytest.fixture
def env(migrated, cli_env) -> SimpleNamespace:
    return SimpleNamespace(wh=migrated, lake=cli_env, start=START, day=DAY)


def stored(wh, day: date) -> dict[tuple[str, str], dict]:
    names = [c.name for c in COLUMNS]
    rows = wh.query_rows(f"SELECT {', '.join(names)} FROM feature_store_daily FINAL "
                         "WHERE date_key = {d:UInt32}", {"d": int(day.strftime("%Y%m%d"))})
    return {(r[4], r[5]): dict(zip(names, r)) for r in rows}


def written_rows(wh) -> int:
    return wh.query_rows("SELECT count() FROM feature_store_daily")[0][0]


def test_a_closed_days_features_are_what_the_simulator_did_and_only_that(env):
    retail("simulate", "--sink", "warehouse", *CHAIN, "--days", str(DAYS), "--start",
           str(env.start))
    retail("features", "build", "--date", str(env.day), code=1)  # not closed yet
    retail("batch", "daily-etl", "--date", str(env.day))
    out = retail("features", "build", "--date", str(env.day))
    assert "built 1 day(s)" in out

    features = stored(env.wh, env.day)
    expected = by_hand(env.start, env.day)
    assert set(features) == set(expected)
    for pair, want in expected.items():
        got = features[pair]
        for name in FEATURE_NAMES:
            assert got[name] == (pytest.approx(want[name], rel=1e-9, abs=1e-12)
                                 if isinstance(want[name], float) else want[name]), (pair, name)
    assert any(f["lost_units"] for f in features.values())  # the test sees lost sales
    assert any(f["on_promotion"] for f in features.values())  # and promotions
    assert any(f["has_local_event"] for f in features.values())  # and a local event
    lake = pq.read_table(env.lake / "retail-features" / "features" / f"date={env.day}"
                         / "part-0.parquet")
    assert lake.num_rows == len(features) and lake.column_names == [c.name for c in COLUMNS]

    rows = written_rows(env.wh)
    change_everything_after(env.wh, env.day)
    retail("features", "build", "--date", str(env.day))  # again, every later day changed
    assert written_rows(env.wh) == rows and stored(env.wh, env.day) == features

    pair = lose_a_sale(env.wh, env.day - timedelta(days=1))
    repriced = reprice_before_the_window(env.wh, env.day)
    retail("features", "build", "--date", str(env.day))
    after = stored(env.wh, env.day)
    changed = {p for p in after if after[p] != features[p]}
    assert pair in changed and after[pair]["demand_lag_1"] == features[pair]["demand_lag_1"] + 7
    assert repriced in changed and (after[repriced]["shelf_price"],
                                    after[repriced]["price_ratio_28"]) == (4.56, 1.0)
    assert written_rows(env.wh) == rows + len(changed) and len(after) == len(features)


def change_everything_after(wh, day: date) -> None:
    """Every fact, aggregate and observation dated after ``day`` changes."""
    after = {"d": int(day.strftime("%Y%m%d")),
             "next": int((day + timedelta(days=1)).strftime("%Y%m%d"))}
    sales = ("transaction_type, store_id, product_id, quantity, unit_price, discount, "
             "revenue, unit_cost, promotion_id, payment_method, customer_id, event_time, "
             "date_key")
    wh.command(f"INSERT INTO fact_sales (event_id, transaction_id, line_number, {sales}) "
               f"SELECT generateUUIDv4(), concat(transaction_id, '-x'), line_number, {sales} "
               "FROM fact_sales WHERE date_key > {d:UInt32}", after)
    wh.command("INSERT INTO fact_lost_sales (event_id, lost_sale_id, transaction_id, store_id, "
               "product_id, requested_quantity, fulfilled_quantity, lost_quantity, unit_price, "
               "event_time, date_key) SELECT generateUUIDv4(), concat(lost_sale_id, '-x'), "
               "transaction_id, store_id, product_id, 9, 0, 9, unit_price, event_time, "
               "date_key FROM fact_lost_sales WHERE date_key > {d:UInt32}", after)
    pairs = ("SELECT DISTINCT store_id, product_id FROM fact_inventory "
             "WHERE date_key = {d:UInt32}")
    wh.command("INSERT INTO fact_price_changes (event_id, price_change_id, store_id, "
               "product_id, old_price, new_price, change_type, event_time, date_key) "
               "SELECT generateUUIDv4(), concat('PC-x-', product_id), store_id, product_id, "
               "9.99, 0.99, 'promotion_start', now64(3), {next:UInt32} "
               f"FROM ({pairs})", after)
    wh.command("INSERT INTO fact_inventory (event_id, record_type, inventory_id, store_id, "
               "product_id, quantity_change, quantity_on_hand, reason, event_time, date_key) "
               "SELECT generateUUIDv4(), 'movement', concat('I-x-', product_id), store_id, "
               "product_id, 0, 0, 'adjustment', now64(3), {next:UInt32} "
               f"FROM ({pairs})", after)
    wh.command("INSERT INTO weather_daily (region, date, temp_c, temp_min_c, temp_max_c, "
               "temp_normal_c, precip_mm, condition) SELECT region, date + 1, 45, 40, 50, 10, "
               "80, 'rain' FROM weather_daily FINAL WHERE date_key = {d:UInt32}", after)


def lose_a_sale(wh, day: date) -> tuple[str, str]:
    """Seven more units lost on ``day`` by its first pair with a sale."""
    store, product = wh.query_rows(
        "SELECT store_id, product_id FROM fact_sales WHERE date_key = {d:UInt32} "
        "ORDER BY store_id, product_id LIMIT 1", {"d": int(day.strftime("%Y%m%d"))})[0]
    wh.command("INSERT INTO fact_lost_sales (event_id, lost_sale_id, transaction_id, store_id, "
               "product_id, requested_quantity, fulfilled_quantity, lost_quantity, unit_price, "
               "event_time, date_key) SELECT generateUUIDv4(), 'L-extra', 'T-extra', "
               "{s:String}, {p:String}, 7, 0, 7, 1, now64(3), {d:UInt32}",
               {"s": store, "p": product, "d": int(day.strftime("%Y%m%d"))})
    return store, product


def reprice_before_the_window(wh, day: date) -> tuple[str, str]:
    """A regular price change 29 days before ``day`` (before the 28-day price window) for a
    pair with no change since: its price all through the window."""
    before = day - timedelta(days=29)
    store, product = wh.query_rows(
        "SELECT store_id, product_id FROM fact_inventory FINAL WHERE record_type = 'snapshot' "
        "AND date_key = {d:UInt32} AND (store_id, product_id) NOT IN (SELECT store_id, "
        "product_id FROM fact_price_changes WHERE date_key BETWEEN {k:UInt32} AND {d:UInt32}) "
        "ORDER BY store_id, product_id LIMIT 1",
        {"d": int(day.strftime("%Y%m%d")), "k": int(before.strftime("%Y%m%d"))})[0]
    wh.command("INSERT INTO fact_price_changes (event_id, price_change_id, store_id, "
               "product_id, old_price, new_price, change_type, event_time, date_key) "
               "SELECT generateUUIDv4(), 'PC-before', {s:String}, {p:String}, 1, "
               "toDecimal64('4.56', 2), "
               "'regular', {t:DateTime64(3, 'UTC')}, {k:UInt32}",
               {"s": store, "p": product, "t": datetime(before.year, before.month,
                                                       before.day, 12, tzinfo=UTC),
                "k": int(before.strftime("%Y%m%d"))})
    return store, product


# --- the hand computation, from the simulator's own events --------------------------------
def by_hand(start: date, day: date) -> dict[tuple[str, str], dict]:
    """Every feature of ``day`` per store x product with stock on record, computed in plain
    Python from the events the simulator made (the same chain, options and days)."""
    catalog = generate_catalog(STORES, PRODUCTS, SEED)
    sim = Simulator(catalog, SimConfig(seed=SEED, rate=RATE, start=start, days=DAYS))
    sold, lost = defaultdict(int), defaultdict(int)
    moves, prices = defaultdict(list), defaultdict(list)
    ordered, delivered = {}, set()
    first_sale: dict[str, date] = {}
    for batch in sim.run():
        t, d = batch.tables, batch.day
        for r in t["sales_transaction"].to_pylist():
            first_sale[r["store_id"]] = min(first_sale.get(r["store_id"], d), d)
            if r["transaction_type"] == "sale":
                sold[r["store_id"], r["product_id"], d] += r["quantity"]
        for r in t["lost_sale"].to_pylist():
            lost[r["store_id"], r["product_id"], d] += r["lost_quantity"]
        for r in t["inventory_update"].to_pylist():
            moves[r["store_id"], r["product_id"]].append(
                (r["event_time"], r["inventory_id"], d, r["new_quantity"]))
        for r in t["price_change"].to_pylist():
            prices[r["store_id"], r["product_id"]].append(
                (r["event_time"], r["price_change_id"], d, round(r["old_price"], 2),
                 round(r["new_price"], 2), r["change_type"]))
        if d <= day:
            for r in t["supplier_shipment"].to_pylist():
                if r["status"] == "ordered":
                    ordered[r["shipment_id"]] = (r["store_id"], r["product_id"], r["quantity"])
                else:
                    delivered.add(r["shipment_id"])
    ref = reference_tables(catalog, start, DAYS)
    cal = next(r for r in ref["calendar"].to_pylist() if r["date"] == day)
    events = {(r["store_id"], r["date"]): r["kind"] for r in ref["store_events"].to_pylist()}
    weather = defaultdict(dict)
    for r in ref["weather_daily"].to_pylist():
        weather[r["region"]][r["date"]] = (r["temp_c"], r["precip_mm"])
    stores = {r["store_id"]: r for r in catalog.stores.to_pylist()}
    products = {r["product_id"]: r for r in catalog.products.to_pylist()}
    lead = {r["supplier_id"]: round(r["lead_time_mean_days"], 2)
            for r in catalog.suppliers.to_pylist()}

    def demand(s: str, p: str, d: date) -> int:
        return sold[s, p, d] + lost[s, p, d]

    def days_back(n: int, since: date) -> list[date]:
        return [day - timedelta(days=i) for i in range(n) if day - timedelta(days=i) >= since]

    def trend(series, since: date) -> float | None:
        week, month = days_back(7, since), days_back(28, since)
        total = sum(series(d) for d in month)
        return (sum(series(d) for d in week) / len(week)) / (total / len(month)) if total \
            else None

    chain_start = min(first_sale.values())
    out = {}
    for (s, p), history in moves.items():
        history = sorted(h for h in history if h[2] <= day)
        if not history:
            continue
        since, store, product = first_sale[s], stores[s], products[p]
        f = {"units_sold": sold[s, p, day], "lost_units": lost[s, p, day],
             "demand": demand(s, p, day)}
        for k in (1, 7, 14, 28):
            back = day - timedelta(days=k)
            f[f"demand_lag_{k}"] = demand(s, p, back) if back >= since else None
        for w in (7, 14, 30, 90):
            series = [demand(s, p, d) for d in days_back(w, since)]
            f[f"demand_mean_{w}"] = float(mean(series))
            f[f"demand_std_{w}"] = float(stdev(series)) if len(series) > 1 else None
        window = days_back(90, since)
        sale_days = [d for d in window if sold[s, p, d] > 0]
        f["days_since_last_sale"] = (day - max(sale_days)).days if sale_days else None
        f["zero_sales_share"] = 1 - len(sale_days) / len(window)
        f["history_days"] = len(window)
        f |= {"day_of_week": cal["day_of_week"], "week_of_year": cal["week"],
              "month": cal["month"], "season": cal["season"], "is_weekend": cal["is_weekend"],
              "is_holiday": cal["is_holiday"], "is_special_day": cal["special_day"] is not None,
              "days_to_next_holiday": cal["days_to_next_holiday"],
              "is_payday": cal["is_payday"], "has_local_event": (s, day) in events,
              "local_event_kind": events.get((s, day))}
        changes = sorted(prices[s, p])
        listed = round(product["price"], 2)

        def price_on(d: date) -> float:
            done = [c for c in changes if c[2] <= d]
            return done[-1][4] if done else listed

        last = [c for c in changes if c[2] <= day]
        promo = bool(last) and last[-1][5] == "promotion_start"
        shelf = price_on(day)
        regular = last[-1][3] if promo else shelf
        f |= {"shelf_price": shelf, "regular_price": regular,
              "discount_depth": 1 - shelf / regular, "on_promotion": promo,
              "price_ratio_28": shelf / median(price_on(day - timedelta(days=i))
                                               for i in range(28))}

        def closing(d: date) -> int | None:
            done = [h for h in history if h[2] <= d]
            return done[-1][3] if done else None

        units_28 = sum(sold[s, p, day - timedelta(days=i)] for i in range(28))
        out_days = [i for i in range(28) if closing(day - timedelta(days=i)) == 0
                    or lost[s, p, day - timedelta(days=i)] > 0]
        on_order = sum(q for i, (t, r, q) in ordered.items()
                       if (t, r) == (s, p) and i not in delivered)
        f |= {"on_hand": closing(day), "on_order": on_order,
              "days_of_cover": float(np.float32(closing(day) / (units_28 / 28)))
              if units_28 else None,
              "stockout_days_7": sum(i < 7 for i in out_days), "stockout_days_28": len(out_days)}
        region = weather[store["region"]]
        week = [region[d] for d in days_back(7, start)]
        f |= {"temp_c": region[day][0], "precip_mm": region[day][1],
              "temp_c_mean_7": mean(w[0] for w in week),
              "precip_mm_mean_7": mean(w[1] for w in week)}
        f["store_trend_7_28"] = trend(lambda d: sum(
            n for (t, _, e), n in (*sold.items(), *lost.items()) if (t, e) == (s, d)), since)
        category = product["category"]
        f["category_trend_7_28"] = trend(lambda d: sum(
            n for (_, q, e), n in (*sold.items(), *lost.items())
            if e == d and products[q]["category"] == category), chain_start)
        f |= {"store_type": store["store_type"], "square_footage": store["square_footage"],
              "region": store["region"], "category": product["category"],
              "sub_category": product["sub_category"], "brand": product["brand"],
              "shelf_life_days": product["shelf_life_days"],
              "lead_time_days": lead[product["supplier_id"]]}
        out[s, p] = f
    return out
