"""Local events per store: how many, which days, the traffic lift, and the table of them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.sim.local_events import (
    EVENT_KINDS,
    EVENTS_PER_STORE_YEAR,
    LIFT,
    LocalEvents,
)

STORE_IDS = pa.array([f"S{i + 1:05d}" for i in range(300)])


def test_stores_have_a_few_events_a_year_on_distinct_days_in_every_kind():
    ev = LocalEvents(seed=3, n_stores=300)
    per_store = []
    kinds = []
    for year in (2026, 2027):
        y = ev.year(year)
        assert ((y.day >= (date(year, 1, 1) - date(1970, 1, 1)).days)
                & (y.day < (date(year + 1, 1, 1) - date(1970, 1, 1)).days)).all()
        counts = np.bincount(y.store, minlength=300)
        per_store.append(counts)
        kinds.append(y.kind)
        for s in range(300):  # at most one event a store and day
            days = y.day[y.store == s]
            assert len(np.unique(days)) == len(days)
    counts = np.concatenate(per_store)
    # Poisson with mean EVENTS_PER_STORE_YEAR: mean and variance both about 4
    assert abs(counts.mean() - EVENTS_PER_STORE_YEAR) < 0.3
    assert 3.0 < counts.var() < 5.0
    share = np.bincount(np.concatenate(kinds), minlength=len(EVENT_KINDS)) / counts.sum()
    assert np.allclose(share, [k.share for k in EVENT_KINDS], atol=0.05)


def test_a_stores_events_depend_on_the_seed_and_the_store_not_on_the_chain_size():
    small, large = LocalEvents(5, 3), LocalEvents(5, 50)
    for s in range(3):
        a, b = small.year(2026), large.year(2026)
        assert np.array_equal(a.day[a.store == s], b.day[b.store == s])
        assert np.array_equal(a.kind[a.store == s], b.kind[b.store == s])
    other = LocalEvents(6, 3).year(2026)
    assert not np.array_equal(other.day, small.year(2026).day)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), start=st.dates(date(2025, 11, 1), date(2027, 2, 1)),
       days=st.integers(1, 90))
def test_the_traffic_lift_of_each_day_is_what_the_table_says(seed, start, days):
    n = 12
    ev = LocalEvents(seed, n)
    table = ev.table(STORE_IDS[:n], start, days + 1).to_pylist()
    for r in table:
        assert start <= r["date"] < start + timedelta(days=days + 1)
        assert r["lift"] == LIFT[[k.name for k in EVENT_KINDS].index(r["kind"])]
    # the day itself and the day before an event: a fresh instance computes each day alone
    for d in range(days):
        day = start + timedelta(days=d)
        want = np.ones(n)
        for r in table:
            s = int(r["store_id"][1:]) - 1
            if r["date"] == day:
                want[s] *= r["lift"]
            if r["date"] == day + timedelta(days=1):
                want[s] *= r["lift_day_before"]
        assert np.array_equal(LocalEvents(seed, n).traffic_lift(day), want), day


def test_the_table_is_sorted_by_store_then_day_and_spans_years():
    t = LocalEvents(9, 40).table(STORE_IDS[:40], date(2026, 12, 1), 62).to_pylist()
    assert len(t) > 5
    keys = [(r["store_id"], r["date"]) for r in t]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {r["date"].year for r in t} == {2026, 2027}
    assert {r["kind"] for r in t} <= {k.name for k in EVENT_KINDS}
    assert LocalEvents(9, 40).table(STORE_IDS[:40], date(2026, 12, 1), 0).num_rows == 0
