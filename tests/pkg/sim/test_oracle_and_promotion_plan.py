"""The forecast's oracle (the expected demand each pair's draw had) and the promotion
calendar published ahead (a week's plan drawn from the seed and its Monday alone)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.pricing import promotion_calendar

CATALOG = generate_catalog(2, 30, 7)
START = date(2026, 3, 4)  # a Wednesday: the first week starts mid-week


def _run(days: int, start: date = START, **kw) -> tuple[Simulator, list]:
    sim = Simulator(CATALOG, SimConfig(seed=7, rate=20, start=start, days=days), **kw)
    return sim, list(sim.run())


def _demand(batches) -> dict[tuple, int]:
    """Sold + lost units per (date, store_id, product_id), as the feature store counts."""
    out: dict[tuple, int] = {}
    for b in batches:
        sales = b.tables["sales_transaction"]
        sales = sales.filter(pc.equal(sales["transaction_type"], "sale"))
        lost = b.tables["lost_sale"]
        for t, q in ((sales, "quantity"), (lost, "lost_quantity")):
            for s, p, n in zip(t["store_id"].to_pylist(), t["product_id"].to_pylist(),
                               t[q].to_pylist()):
                out[(b.day, s, p)] = out.get((b.day, s, p), 0) + n
    return out


def test_the_expected_demand_is_what_the_draws_average_to():
    sim, batches = _run(21, record_expected=True)
    expected = sim.expected_demand()
    assert expected.column_names == ["date", "store_id", "product_id", "expected_demand"]
    assert expected.num_rows == 21 * CATALOG.n_pairs
    actual = _demand(batches)
    keys = list(zip(*(expected[c].to_pylist() for c in ("date", "store_id", "product_id"))))
    mean = np.array(expected["expected_demand"].to_pylist())
    drawn = np.array([actual.get(k, 0) for k in keys])
    assert drawn.sum() == pytest.approx(mean.sum(), rel=0.01)
    # per store x product over the three weeks: Poisson-like noise only
    per_pair = {}
    for k, m, d in zip(keys, mean, drawn):
        a, b = per_pair.get(k[1:], (0.0, 0))
        per_pair[k[1:]] = (a + m, b + d)
    m, d = np.array(list(per_pair.values())).T
    assert np.all(np.abs(d - m) < 5 * np.sqrt(m) * 3 + 5)  # units per line add variance
    assert np.corrcoef(m, d)[0, 1] > 0.99


def test_recording_the_expected_demand_changes_no_event():
    _, plain = _run(3)
    _, recorded = _run(3, record_expected=True)
    for a, b in zip(plain, recorded):
        assert all(a.tables[k].equals(b.tables[k]) for k in a.tables)


def test_the_expected_demand_is_refused_when_not_recorded():
    sim, _ = _run(1)
    with pytest.raises(ValueError, match="record_expected=True"):
        sim.expected_demand()


def _promotions(batches) -> set[tuple]:
    """(product_id, day it started, promotion_id) of every promotion_start event."""
    out = set()
    for b in batches:
        t = b.tables["price_change"]
        t = t.filter(pc.equal(t["change_type"], "promotion_start"))
        out |= {(p, b.day, i) for p, i in zip(t["product_id"].to_pylist(),
                                              t["promotion_id"].to_pylist())}
    return out


def test_the_promotion_calendar_is_known_before_the_run_and_is_what_runs():
    calendar = promotion_calendar(7, CATALOG.products["product_id"], 0.03, START, 19)
    # Wednesday 4 March to Sunday 22 March: three weeks
    assert sorted(set(calendar["start_date"].to_pylist())) == [
        date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert all(e - s == timedelta(days=6) for s, e in
               zip(calendar["start_date"].to_pylist(), calendar["end_date"].to_pylist()))
    _, batches = _run(19)
    # the events name the stores that stock the product: a product no store stocks has none
    stocked = set(CATALOG.products["product_id"].take(
        pa.array(np.unique(CATALOG.pair_product))).to_pylist())
    planned = {(p, max(s, START), i) for p, s, i in zip(
        calendar["product_id"].to_pylist(), calendar["start_date"].to_pylist(),
        calendar["promotion_id"].to_pylist()) if p in stocked}
    assert _promotions(batches) == planned
    discounts = pc.unique(calendar["discount"]).to_pylist()
    assert all(0.1 <= x <= 0.4 for x in discounts)


def test_a_weeks_promotions_do_not_depend_on_when_the_run_started():
    _, early = _run(19)
    _, late = _run(14, start=date(2026, 3, 9))  # a Monday: shares the last two weeks
    shared = date(2026, 3, 9)
    pick = lambda ps: {(p, i) for p, d, i in ps if d >= shared}  # noqa: E731
    assert pick(_promotions(early)) == pick(_promotions(late)) != set()


def test_an_empty_calendar_range_has_the_table_shape():
    calendar = promotion_calendar(7, pa.array(["P1", "P2"]), 0.5, START, 1)
    assert calendar.num_rows == 1 and calendar.schema.names == [
        "product_id", "promotion_id", "start_date", "end_date", "discount"]
