"""The feature store's features computed by hand: plain Python over the events the
simulator makes, the yardstick the integration tests hold ``build_features`` to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import mean, median, stdev

import numpy as np

from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.reference import reference_tables


@dataclass(frozen=True)
class Chain:
    """A small simulated chain: the simulator's options."""

    stores: int
    products: int
    rate: float
    seed: int
    days: int

    def flags(self) -> list[str]:
        """The chain as ``retail simulate`` options."""
        return ["--stores", str(self.stores), "--products", str(self.products), "--rate",
                f"{self.rate:g}", "--seed", str(self.seed)]


def by_hand(chain: Chain, start: date, day: date) -> dict[tuple[str, str], dict]:
    """Every feature of ``day`` per store x product with stock on record, computed in plain
    Python from the events the simulator made (the same chain, options and days)."""
    catalog = generate_catalog(chain.stores, chain.products, chain.seed)
    sim = Simulator(catalog, SimConfig(seed=chain.seed, rate=chain.rate, start=start,
                                       days=chain.days))
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
    ref = reference_tables(catalog, start, chain.days)
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
