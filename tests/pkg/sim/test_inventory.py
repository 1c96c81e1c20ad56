"""``apply_movements`` against a plain Python loop that applies one movement at a time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.sim.inventory import apply_movements


def reference(opening, pair, order_key, delta):
    """Movements one by one: per pair in (order_key, input position) order, never below 0."""
    level = [int(x) for x in opening]
    n = len(pair)
    new_level = [0] * n
    applied = [0] * n
    for i in sorted(range(n), key=lambda i: (pair[i], order_key[i], i)):
        before = level[pair[i]]
        after = max(0, before + delta[i])
        level[pair[i]] = after
        new_level[i] = after
        applied[i] = after - before
    return new_level, applied, level


@st.composite
def movements(draw, max_level=60, max_delta=40):
    n_pairs = draw(st.integers(1, 8))
    opening = draw(st.lists(st.integers(0, max_level), min_size=n_pairs, max_size=n_pairs))
    n = draw(st.integers(0, 60))
    pair = draw(st.lists(st.integers(0, n_pairs - 1), min_size=n, max_size=n))
    # few distinct keys, so ties (which must keep input order) are common
    order_key = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    delta = draw(st.lists(st.integers(-max_delta, max_delta), min_size=n, max_size=n))
    return opening, pair, order_key, delta


def as_arrays(opening, pair, order_key, delta):
    return (np.array(opening, dtype=np.int64), np.array(pair, dtype=np.int64),
            np.array(order_key, dtype=np.int64), np.array(delta, dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(movements())
def test_levels_applied_changes_and_closing_stock_match_a_one_at_a_time_loop(case):
    opening, pair, order_key, delta = case
    mv = apply_movements(*as_arrays(opening, pair, order_key, delta))
    new_level, applied, closing = reference(opening, pair, order_key, delta)
    assert mv.new_level.tolist() == new_level
    assert mv.applied.tolist() == applied
    assert mv.closing.tolist() == closing


@settings(max_examples=150, deadline=None)
@given(movements(max_level=10**9, max_delta=10**9))
def test_large_quantities_give_the_same_result_as_the_loop(case):
    opening, pair, order_key, delta = case
    mv = apply_movements(*as_arrays(opening, pair, order_key, delta))
    new_level, applied, closing = reference(opening, pair, order_key, delta)
    assert mv.new_level.tolist() == new_level
    assert mv.applied.tolist() == applied
    assert mv.closing.tolist() == closing


@settings(max_examples=200, deadline=None)
@given(movements())
def test_stock_is_never_negative_and_withdrawals_never_take_more_than_asked(case):
    opening, pair, order_key, delta = case
    mv = apply_movements(*as_arrays(opening, pair, order_key, delta))
    d = np.array(delta, dtype=np.int64)
    assert (mv.new_level >= 0).all()
    assert (mv.closing >= 0).all()
    # additions are applied in full; a withdrawal is applied in full or partly, never more
    assert (mv.applied[d >= 0] == d[d >= 0]).all()
    assert ((mv.applied[d < 0] >= d[d < 0]) & (mv.applied[d < 0] <= 0)).all()
    # a withdrawal that is cut short leaves the shelf empty
    cut = (d < 0) & (mv.applied > d)
    assert (mv.new_level[cut] == 0).all()


@settings(max_examples=200, deadline=None)
@given(movements())
def test_closing_stock_is_opening_plus_the_applied_changes(case):
    opening, pair, order_key, delta = case
    o, p, k, d = as_arrays(opening, pair, order_key, delta)
    mv = apply_movements(o, p, k, d)
    expected = o + np.bincount(p, weights=mv.applied, minlength=len(o)).astype(np.int64)
    assert mv.closing.tolist() == expected.tolist()


@settings(max_examples=100, deadline=None)
@given(movements())
def test_inputs_are_not_modified(case):
    arrays = as_arrays(*case)
    copies = [a.copy() for a in arrays]
    apply_movements(*arrays)
    for a, b in zip(arrays, copies):
        assert np.array_equal(a, b)


def test_a_withdrawal_larger_than_the_stock_empties_the_shelf_and_no_more():
    mv = apply_movements(np.array([5]), np.array([0, 0, 0]), np.array([1, 2, 3]),
                         np.array([-3, -4, 10]))
    assert mv.new_level.tolist() == [2, 0, 10]
    assert mv.applied.tolist() == [-3, -2, 10]
    assert mv.closing.tolist() == [10]


def test_movements_apply_in_order_key_order_not_input_order():
    # a delivery keyed before a sale serves it even though it is listed after it
    mv = apply_movements(np.array([0]), np.array([0, 0]), np.array([5, 1]), np.array([-4, 6]))
    assert mv.applied.tolist() == [-4, 6]
    assert mv.new_level.tolist() == [2, 6]
    assert mv.closing.tolist() == [2]


def test_ties_in_order_key_keep_input_order():
    mv = apply_movements(np.array([1]), np.array([0, 0, 0]), np.array([7, 7, 7]),
                         np.array([-2, 3, -2]))
    assert mv.applied.tolist() == [-1, 3, -2]
    assert mv.new_level.tolist() == [0, 3, 1]


def test_pairs_do_not_influence_each_other():
    # pair 0 runs deep into shortage; pair 1 must still see its own opening stock
    mv = apply_movements(np.array([0, 3]), np.array([0, 0, 1]), np.array([0, 1, 2]),
                         np.array([-100, -100, -1]))
    assert mv.applied.tolist() == [0, 0, -1]
    assert mv.closing.tolist() == [0, 2]


def test_no_movements_leave_the_opening_stock_unchanged():
    opening = np.array([4, 0, 9])
    empty = np.zeros(0, dtype=np.int64)
    mv = apply_movements(opening, empty, empty, empty)
    assert mv.new_level.size == 0 and mv.applied.size == 0
    assert mv.closing.tolist() == [4, 0, 9]
    assert mv.closing is not opening


def test_no_movements_and_no_pairs_give_empty_results():
    empty = np.zeros(0, dtype=np.int64)
    mv = apply_movements(empty, empty, empty, empty)
    assert mv.new_level.size == mv.applied.size == mv.closing.size == 0


def test_negative_opening_stock_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        apply_movements(np.array([1, -1]), np.array([0]), np.array([0]), np.array([1]))
