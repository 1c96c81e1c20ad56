"""Inventory in the stream at scale: 50,000 random updates and sales through discrepancies,
next state, stock-out risk and restock, checked key by key against plain Python."""

from __future__ import annotations

import hashlib
import json
import math
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from retail.streaming.inventory import (
    decide_restock,
    inventory_discrepancies,
    next_state,
    stockout_risk,
)
from retail.streaming.state import STATE_SCHEMA
from tests.pkg.streaming.inventory_rows import (
    T0,
    INVENTORY_SCHEMA,
    SALES_SCHEMA,
    LEAD_SCHEMA,
)

HALF_LIFE, REVIEW, OPEN_AT, RESOLVE_BELOW = 36.0, 7.0, 0.8, 0.5


def at(rng: random.Random, lo: float, hi: float) -> datetime:
    return T0 + timedelta(milliseconds=rng.randrange(int(lo * 3.6e6), int(hi * 3.6e6)))


def random_batch(seed: int, events: int = 50_000) -> dict[str, list[dict]]:
    """State for most keys (velocity clocks at or after their last event), a consistent
    chain of updates per key with a few wrong levels, sales and returns, lead times for
    most products."""
    rng = random.Random(seed)
    keys = [(f"S{s:05d}", f"P{p:06d}") for s in range(40) for p in range(60)]
    state = [{"store_id": s, "product_id": p,
              "quantity_on_hand": None if rng.random() < 0.05 else rng.randrange(0, 60),
              "last_event_time": (t := at(rng, -48, 24)),
              "velocity_per_day": rng.choice([0.0, rng.uniform(0, 30)]),
              "velocity_at": t + timedelta(milliseconds=rng.choice([0, rng.randrange(10**8)])),
              "restock_alert_id": rng.choice(["", None, f"open-{p}"])}
             for s, p in keys if rng.random() < 0.7]
    level = {(r["store_id"], r["product_id"]): r["quantity_on_hand"] for r in state}
    updates, sales = [], []
    for i in range(events):
        s, p = rng.choice(keys)
        t = at(rng, 0, 24)
        if rng.random() < 0.5:
            change = rng.randrange(-5, 30)
            new = (level.get((s, p)) or 0) + change + (
                rng.choice([-2, 1, 3, -9, 10, -12]) if rng.random() < 0.05 else 0)
            level[(s, p)] = new
            updates.append({"store_id": s, "product_id": p, "partition": 0, "offset": i,
                            "inventory_id": f"I-{i}", "quantity_change": change,
                            "new_quantity": new, "reason": "count", "event_time": t})
        else:
            kind = "return" if rng.random() < 0.1 else "sale"
            q = rng.randrange(1, 6) * (-1 if kind == "return" else 1)
            sales.append({"store_id": s, "product_id": p, "transaction_id": f"T-{i}",
                          "transaction_type": kind, "quantity": q,
                          "revenue": Decimal(q) * Decimal("2.50"), "event_time": t})
    rng.shuffle(updates)  # offsets, not positions, order a key's updates
    leads = [{"product_id": f"P{p:06d}", "lead_time_days": float(rng.randrange(1, 10))}
             for p in range(60) if p % 7]
    return {"state": state, "updates": updates, "sales": sales, "leads": leads}


def restock_id(store: str, product: str, when: datetime) -> str:
    """The md5 of the parts, the time as Spark writes it (``2024-03-01 10:00:00.25``)."""
    text = f"{when:%Y-%m-%d %H:%M:%S}" + f".{when.microsecond:06d}".rstrip("0").rstrip(".")
    x = hashlib.md5(f"restock|{store}|{product}|{text}".encode()).hexdigest()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def expected_row(key: tuple[str, str], data: dict[str, list[dict]]) -> dict | None:
    """One key through the four steps, row by row, as the Spark module documents it."""
    st = next((r for r in data["state"] if (r["store_id"], r["product_id"]) == key), None)
    ups = sorted((u for u in data["updates"] if (u["store_id"], u["product_id"]) == key),
                 key=lambda u: u["offset"])
    sold = [s for s in data["sales"]
            if (s["store_id"], s["product_id"]) == key and s["transaction_type"] == "sale"]
    if st is None and not ups and not sold:
        return None
    now = max(([st["last_event_time"]] if st else []) + [u["event_time"] for u in ups]
              + [s["event_time"] for s in sold])
    level = ups[-1]["new_quantity"] if ups else st and st["quantity_on_hand"]
    since = st["velocity_at"] if st else now
    rate = (st["velocity_per_day"] if st else 0.0) \
        * 0.5 ** (max((now - since).total_seconds() / 3600, 0.0) / HALF_LIFE) \
        + sum(s["quantity"] for s in sold) * math.log(2) / (HALF_LIFE / 24)
    lead = next((r["lead_time_days"] for r in data["leads"] if r["product_id"] == key[1]),
                None)
    cover = max(level, 0) / rate if rate > 0 and level is not None else None
    risk = 0.0 if level is None else 1.0 if level <= 0 else 0.0 if rate <= 0 else \
        1.0 if lead is None else min(1.0, lead / cover)
    open_id = st["restock_alert_id"] if st else None
    opening = not open_id and level is not None and risk >= OPEN_AT
    closing = bool(open_id) and risk < RESOLVE_BELOW
    new_id = restock_id(*key, now)
    return {
        "store_id": key[0], "product_id": key[1], "quantity_on_hand": level,
        "last_event_time": now, "velocity_per_day": rate,
        "velocity_at": max(since, now), "lead_time_days": lead, "days_of_cover": cover,
        "stock_out_risk": risk,
        "reorder_point": None if lead is None else math.ceil(rate * lead),
        "recommended_order_qty": 0 if lead is None else
        max(math.ceil(rate * (lead + REVIEW)) - (level or 0), 0),
        "restock_status": "open" if opening else "resolved" if closing else None,
        "alert_id": new_id if opening else open_id if closing else None,
        "severity": "critical" if level is not None and level <= 0 else "high"
        if risk >= 1.0 else "medium" if risk >= 0.9 else "low",
        "restock_alert_id": new_id if opening else "" if closing else open_id or ""}


def expected_discrepancies(key: tuple[str, str], data: dict[str, list[dict]]) -> set:
    st = next((r for r in data["state"] if (r["store_id"], r["product_id"]) == key), None)
    previous, found = st and st["quantity_on_hand"], set()
    for u in sorted((u for u in data["updates"] if (u["store_id"], u["product_id"]) == key),
                    key=lambda u: u["offset"]):
        off = u["new_quantity"] - (previous or 0) - u["quantity_change"]
        if previous is not None and off != 0:
            found.add((u["inventory_id"], float(off),
                       "high" if abs(off) >= 10 else "medium" if abs(off) >= 3 else "low"))
        previous = u["new_quantity"]
    return found


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_fifty_thousand_random_events_agree_with_plain_python_key_by_key():
    data = random_batch(seed=22)
    state = pa.Table.from_pylist(data["state"], STATE_SCHEMA)
    updates = pa.Table.from_pylist(data["updates"], INVENTORY_SCHEMA)
    sales = pa.Table.from_pylist(data["sales"], SALES_SCHEMA)
    leads = pa.Table.from_pylist(data["leads"], LEAD_SCHEMA)

    after = next_state(state, updates, sales, half_life_hours=HALF_LIFE)
    decided = decide_restock(stockout_risk(after, leads, review_period_days=REVIEW),
                             open_at=OPEN_AT, resolve_below=RESOLVE_BELOW)
    alerts = inventory_discrepancies(updates, state)

    rows = {(r["store_id"], r["product_id"]): r for r in decided.to_pylist()}
    batch_keys = {(r["store_id"], r["product_id"]) for r in data["updates"]} | {
        (r["store_id"], r["product_id"]) for r in data["sales"]
        if r["transaction_type"] == "sale"}
    assert decided.num_rows == len(rows)  # one row per key
    assert set(rows) == batch_keys | {(r["store_id"], r["product_id"]) for r in data["state"]}
    status = decided["restock_status"]
    assert pc.is_valid(status).equals(pc.is_valid(decided["alert_id"]))
    assert pc.is_valid(status).equals(pc.is_valid(decided["details"]))
    assert 0 < pc.sum(pc.is_valid(status)).as_py() < decided.num_rows
    assert pc.min(decided["stock_out_risk"]).as_py() >= 0.0
    assert pc.max(decided["stock_out_risk"]).as_py() <= 1.0
    assert 0 < alerts.num_rows < updates.num_rows // 10

    rng = random.Random(7)
    sample = rng.sample(sorted(rows), 40) + [  # and a key of each kind, at the least
        k for k in sorted(rows) if rows[k]["restock_status"] == "resolved"][:3] + [
        k for k in sorted(rows) if rows[k]["quantity_on_hand"] is None][:3]
    alerted = {}
    for a in alerts.to_pylist():
        alerted.setdefault((a["store_id"], a["product_id"]), set()).add(
            (json.loads(a["details"])["inventory_id"], a["metric_value"], a["severity"]))
    for key in sample:
        want, got = expected_row(key, data), rows[key]
        wrong = {k: (got[k], v) for k, v in want.items() if not _close(got[k], v)}
        assert not wrong, (key, wrong)
        assert alerted.get(key, set()) == expected_discrepancies(key, data), key
        if got["restock_status"]:
            assert json.loads(got["details"])["recommended_order_qty"] == \
                want["recommended_order_qty"]
