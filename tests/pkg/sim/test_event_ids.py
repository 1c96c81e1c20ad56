"""Event ids: derived from what decides the event, never shared by different events.

Small chains at low rates (a day is a few thousand events), so each example takes
milliseconds and the property tests stay within seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.sim import SimConfig, Simulator, generate_catalog
from retail.sim.ids import DAY_BITS, POSITION_BITS, STORE_BITS, event_uuids
from retail.sim.tables import EVENT_TYPES

MS_PER_HOUR, MS_PER_DAY = 3_600_000, 86_400_000


@dataclass(frozen=True)
class Options:
    """Everything a user can choose that decides a run's events."""

    catalog_seed: int = 5
    stores: int = 2
    products: int = 30
    seed: int = 5
    rate: float = 4.0
    start: date = date(2026, 3, 2)
    batch_events: int = 250_000
    promo_share: float = 0.03
    review_days: int = 7
    safety_sd: float = 1.0
    country: str = "US"  # the holidays of the chain's calendar

    def simulator(self, days: int = 1) -> Simulator:
        catalog = generate_catalog(self.stores, self.products, self.catalog_seed, self.country)
        return Simulator(catalog, SimConfig(
            seed=self.seed, rate=self.rate, start=self.start, days=days,
            batch_events=self.batch_events, promo_share=self.promo_share,
            review_days=self.review_days, safety_sd=self.safety_sd))


def options() -> st.SearchStrategy[Options]:
    return st.builds(
        Options,
        catalog_seed=st.integers(0, 3), stores=st.integers(1, 3),
        products=st.sampled_from([20, 30]), seed=st.integers(0, 3),
        rate=st.sampled_from([2.0, 3.0]),
        start=st.dates(date(2026, 1, 1), date(2026, 1, 6)),
        batch_events=st.sampled_from([1, 250_000]), promo_share=st.sampled_from([0.03, 0.1]),
        review_days=st.sampled_from([7, 10]), safety_sd=st.sampled_from([1.0, 1.5]),
    )


def day_tables(sim: Simulator) -> dict[date, dict[str, pa.Table]]:
    """Every day's tables by event type (store groups concatenated)."""
    out: dict[date, dict[str, list[pa.Table]]] = {}
    for batch in sim.run():
        for k, t in batch.tables.items():
            out.setdefault(batch.day, {}).setdefault(k, []).append(t)
    return {d: {k: pa.concat_tables(ts) for k, ts in by.items()} for d, by in out.items()}


def ids_of(tables: dict[str, pa.Table]) -> list[str]:
    return [i for k in EVENT_TYPES for i in tables[k]["event_id"].to_pylist()]


def run_ids(sim: Simulator) -> list[str]:
    return [i for tables in day_tables(sim).values() for i in ids_of(tables)]


@settings(max_examples=25, deadline=None)
@given(options(), options())
def test_runs_share_ids_only_when_they_produce_the_same_events(a, b):
    # three days from starts at most five days apart: the runs often share dates, on
    # which they simulate different events unless every option is the same
    sim_a, sim_b = a.simulator(days=3), b.simulator(days=3)
    ids_a, ids_b = run_ids(sim_a), run_ids(sim_b)
    assert ids_a, "a day of a small chain has events"
    if sim_a.identity() == sim_b.identity():
        assert ids_a == ids_b
        return
    assert set(ids_a).isdisjoint(ids_b), (a, b)


# A change to each option that keeps it valid.
CHANGES = {"seed": 1, "catalog_seed": 1, "stores": 1, "products": 1, "rate": 0.5,
           "start": timedelta(days=1), "promo_share": 0.01, "review_days": 1, "safety_sd": 0.5}


@pytest.mark.parametrize("name", sorted(CHANGES))
@settings(max_examples=4, deadline=None)
@given(base=options())
def test_changing_any_option_but_days_changes_every_id(base, name):
    other = replace(base, **{name: getattr(base, name) + CHANGES[name]})
    # two days each, so a run starting a day later shares a date with the first
    assert set(run_ids(base.simulator(days=2))).isdisjoint(run_ids(other.simulator(days=2)))


@settings(max_examples=4, deadline=None)
@given(base=options(), country=st.sampled_from(["CA", "DE", "GB"]))
def test_changing_the_country_changes_every_id(base, country):
    other = replace(base, country=country)
    assert base.simulator().identity()["catalog"]["country"] == "US"
    assert set(run_ids(base.simulator(days=2))).isdisjoint(run_ids(other.simulator(days=2)))


def test_a_batch_size_that_changes_the_store_groups_changes_the_ids():
    one_group = Options(stores=3, batch_events=250_000).simulator()
    three_groups = Options(stores=3, batch_events=1).simulator()
    assert one_group.store_groups() != three_groups.store_groups()
    assert set(run_ids(one_group)).isdisjoint(run_ids(three_groups))
    # ... and one that does not (a single store is one group either way) keeps them
    assert run_ids(Options(stores=1, batch_events=1).simulator()) == \
        run_ids(Options(stores=1, batch_events=250_000).simulator())


@settings(max_examples=10, deadline=None)
@given(options())
def test_the_same_options_and_date_give_the_same_ids(opts):
    assert run_ids(opts.simulator()) == run_ids(opts.simulator())


@settings(max_examples=8, deadline=None)
@given(options(), st.integers(2, 4))
def test_a_short_run_has_the_ids_of_the_first_days_of_a_longer_one(opts, days):
    short = day_tables(opts.simulator(days=1))
    long = day_tables(opts.simulator(days=days))
    assert list(long) == [opts.start + timedelta(days=d) for d in range(days)]
    assert ids_of(short[opts.start]) == ids_of(long[opts.start])
    later = {i for d in list(long)[1:] for i in ids_of(long[d])}
    assert later.isdisjoint(ids_of(short[opts.start]))


@settings(max_examples=8, deadline=None)
@given(options())
def test_ids_are_version_8_uuids_that_decode_to_day_store_and_position(opts):
    sim = opts.simulator(days=2)
    epoch = date(1970, 1, 1)
    seen: list[str] = []
    for day, tables in day_tables(sim).items():
        for k in EVENT_TYPES:
            table = tables[k]
            ids = [uuid.UUID(i) for i in table["event_id"].to_pylist()]
            assert all(u.version == 8 and u.variant == uuid.RFC_4122 for u in ids), k
            seen += [str(u) for u in ids]
            low = np.array([u.int & ((1 << 62) - 1) for u in ids], dtype=np.int64)
            position = low & ((1 << POSITION_BITS) - 1)
            store = (low >> POSITION_BITS) & ((1 << STORE_BITS) - 1)
            assert ((low >> (POSITION_BITS + STORE_BITS)) == (day - epoch).days).all(), k
            store_ids = pc.cast(pc.utf8_slice_codeunits(table["store_id"], 1), pa.int64())
            assert (store == store_ids.to_numpy() - 1).all(), k
            # positions count each store's events of the day from 0, in event time order
            t = pc.cast(table["event_time"], pa.int64()).to_numpy()
            for s in np.unique(store):
                mine = store == s
                assert sorted(position[mine]) == list(range(mine.sum())), k
                assert (np.diff(t[mine][np.argsort(position[mine])]) >= 0).all(), k
            # one run, one event type: the same first 64 bits on every id
            assert len({u.int >> 64 for u in ids}) <= 1, k
    assert len(seen) == len(set(seen)) > 0


@pytest.mark.parametrize("part,kwargs", [
    ("event type code", {"type_code": 8}),
    ("day", {"day": 1 << DAY_BITS}),
    ("day", {"day": -1}),
    ("store index", {"store": np.array([1 << STORE_BITS])}),
    ("position within the store's day", {"position": np.array([1 << POSITION_BITS])}),
])
def test_an_id_part_that_overflows_its_bits_is_refused(part, kwargs):
    args = {"run": 1, "type_code": 0, "day": 20_000, "store": np.array([0]),
            "position": np.array([0])} | kwargs
    with pytest.raises(ValueError, match=f"event id: {part}.* must be in 0 \\.\\. "):
        event_uuids(**args)


def test_a_run_beyond_the_year_2687_is_refused_rather_than_given_ambiguous_ids():
    sim = Options(start=date(2700, 1, 1)).simulator()
    with pytest.raises(ValueError, match=r"day \(days since 1970-01-01\) must be in"):
        next(sim.run())
