"""The Kafka streaming source's offset planning (pure; the source itself is tested in
tests/integration/test_spark_kafka_source.py against the real broker and Spark)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail.io.spark_kafka import KafkaStreamReader, slice_ranges, split_cap


def test_without_a_cap_everything_available_is_read():
    assert split_cap({"t:0": 5, "t:1": 0}, {"t:0": 10, "t:1": 7}, None) == {"t:0": 10, "t:1": 7}


def test_a_cap_larger_than_the_backlog_reads_everything():
    assert split_cap({"t:0": 0}, {"t:0": 10}, 50) == {"t:0": 10}


def test_a_cap_is_shared_in_proportion_to_each_partitions_backlog():
    # backlogs 900 and 100, cap 100: 90 and 10, not 50 and 50
    assert split_cap({"t:0": 0, "t:1": 0}, {"t:0": 900, "t:1": 100}, 100) == \
        {"t:0": 90, "t:1": 10}


def test_the_remainder_goes_to_the_largest_fractional_shares():
    # backlogs 2, 1, 1 with cap 3: shares 1.5, 0.75, 0.75 -> 1 + 0 + 0, remainder 2 to the
    # two 0.75 shares
    assert split_cap({"a:0": 0, "a:1": 0, "a:2": 0}, {"a:0": 2, "a:1": 1, "a:2": 1}, 3) == \
        {"a:0": 1, "a:1": 1, "a:2": 1}


@given(st.dictionaries(st.sampled_from([f"t:{i}" for i in range(6)]),
                       st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)),
                       min_size=1),
       st.integers(1, 20_000))
def test_a_capped_plan_reads_exactly_the_cap_and_never_past_the_end(parts, cap):
    start = {k: min(a, b) for k, (a, b) in parts.items()}
    end = {k: max(a, b) for k, (a, b) in parts.items()}
    plan = split_cap(start, end, cap)
    backlog = sum(end[k] - start[k] for k in end)
    assert sum(plan[k] - start[k] for k in end) == min(cap, backlog)
    assert all(start[k] <= plan[k] <= end[k] for k in end)


@pytest.mark.parametrize("options,field", [
    ({"subscribe": "t"}, "kafka.bootstrap.servers"),
    ({"kafka.bootstrap.servers": "h:1"}, "subscribe"),
    ({"kafka.bootstrap.servers": "h:1", "subscribe": "t", "startingOffsets": "x"},
     "startingOffsets"),
    ({"kafka.bootstrap.servers": "h:1", "subscribe": "t", "maxOffsetsPerTrigger": "0"},
     "maxOffsetsPerTrigger"),
])
def test_a_bad_option_fails_naming_it(options, field):
    with pytest.raises(ValueError, match=field):
        KafkaStreamReader(options)


def test_ranges_are_dealt_into_slices_of_about_equal_records():
    ranges = [("a", 0, 0, 900), ("a", 1, 0, 100), ("b", 0, 50, 450), ("b", 1, 0, 500)]
    slices = slice_ranges(ranges, 2)
    assert sorted(r for s in slices for r in s.ranges) == sorted(ranges)
    loads = sorted(sum(e - s for _, _, s, e in sl.ranges) for sl in slices)
    assert loads == [900, 1000]  # 900 alone; 500 + 400 + 100 together


def test_fewer_ranges_than_slices_make_one_slice_each():
    assert [s.ranges for s in slice_ranges([("a", 0, 0, 5)], 4)] == [(("a", 0, 0, 5),)]
    assert slice_ranges([], 2) == []


def test_slices_must_be_positive():
    with pytest.raises(ValueError, match="slices"):
        KafkaStreamReader({"kafka.bootstrap.servers": "x:1", "subscribe": "t", "slices": "0"})
