"""The parse guard (issue 15): no record, whatever its bytes, reaches a parser that would
crash on it; invalid UTF-8 is refused by both paths alike and its bytes are kept exactly.

Arrow's crashes are shown in subprocesses, so this process never meets one."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import time

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.testing import assertDataFrameEqual

from retail.transforms import validate
from retail.transforms.record_bytes import (READER_MAX_BRACKETS, as_text, is_utf8, json_depth,
                                            originals, reader_can_take)
from retail.transforms.validate import (MAX_DEPTH, _parse_batches, _row_path, _verdict,
                                        parse_events)

from .crashing_shapes import crashing_shapes, matches, nested, padded
from .test_parse_fast import DATA, SALES, by_offset, record_batch, simulated
from .test_validate import kafka, sales_transaction

MAX_BYTES = 65_536  # the stream's limit: the deep shapes are about 40 KB
SHAPES = crashing_shapes(sales_transaction())
GOOD = orjson.dumps(sales_transaction())
ORDINARY = simulated(60)


def before_the_guard(values: pa.Array, max_bytes: int) -> list[bool]:
    """What ``split_fast`` gave the reader before the guard: any record that was not empty,
    not too big and held no line break."""
    size = pc.binary_length(values)
    ok = pc.and_(pc.greater(size, 0), pc.less_equal(size, max_bytes))
    for ch in ("\n", "\r"):
        ok = pc.and_(ok, pc.invert(pc.match_substring(values, ch)))
    return pc.fill_null(ok, False).to_pylist()


def both_paths(records: list[tuple[bytes | None, str]], **kw) -> tuple[dict, dict]:
    batch = record_batch(records)
    return (by_offset(_parse_batches(iter([batch]), MAX_BYTES, **kw)),
            by_offset([_row_path(batch, MAX_BYTES, DATA)]))


# --- the screen ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHAPES)
def test_the_reader_is_not_given_a_shape_that_crashed_it_or_got_past_it(name):
    values = pa.array([SHAPES[name].value, GOOD], pa.binary())

    assert reader_can_take(values, MAX_BYTES).tolist() == [False, True]
    assert before_the_guard(values, MAX_BYTES) == [True, True], "it used to reach the reader"


def test_a_padded_event_is_left_to_the_row_path_which_takes_it():
    values = pa.array([padded(sales_transaction()), None, b"", b"{}\n"], pa.binary())

    assert reader_can_take(values, MAX_BYTES).tolist() == [False] * 4
    assert _verdict(values[0].as_py(), SALES, MAX_BYTES)[1] is None


def test_brackets_inside_strings_count_towards_the_bound():
    within = orjson.dumps(sales_transaction(product_id="P[" * (READER_MAX_BRACKETS - 1)))
    beyond = orjson.dumps(sales_transaction(product_id="P[" * READER_MAX_BRACKETS))

    assert reader_can_take(pa.array([within, beyond]), MAX_BYTES).tolist() == [True, False]
    got, want = both_paths([(within, SALES), (beyond, SALES)])
    assert got == want


def test_the_screen_costs_one_pass_and_is_fine_with_large_binary_columns():
    values = pa.array([v for v, _ in ORDINARY] + [SHAPES["null"].value], pa.large_binary())
    assert reader_can_take(values, MAX_BYTES).tolist() == [True] * len(ORDINARY) + [False]


# --- what the reader does without it (in a subprocess) ----------------------------------------

_READ = """
import base64, sys
import numpy as np, pyarrow as pa
from retail.transforms.parse_fast import _parse_topic, _topic_contracts, split_fast
from retail.transforms.validate import _ARROW_TYPES, field_types, timestamp_fields
values = pa.array([base64.b64decode(v) for v in sys.stdin.read().split()], pa.binary())
types = {n: _ARROW_TYPES[k] for n, k in field_types().items()}
topic = "retail-sales-transactions"
if sys.argv[1] == "unguarded":
    rows = np.arange(len(values))
    _parse_topic(values, rows, _topic_contracts(topic), types, timestamp_fields())
else:
    n = len(values)
    batch = pa.RecordBatch.from_pydict({"value": values, "topic": [topic] * n})
    fast, slow = split_fast(batch, 65536, types, timestamp_fields())
    print(sum(len(rows) for rows, _ in fast), len(slow))
"""


def read_in_subprocess(values: list[bytes], mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _READ, mode], capture_output=True, text=True,
                          input=" ".join(base64.b64encode(v).decode() for v in values),
                          timeout=120)


@pytest.mark.parametrize("name", ["null", "nested 20,000 deep"])
def test_arrows_reader_kills_the_process_on_these_and_split_fast_does_not(name):
    records = [SHAPES[name].value, GOOD, GOOD]

    crashed = read_in_subprocess(records, "unguarded")
    assert crashed.returncode == -signal.SIGSEGV, (
        f"Arrow no longer crashes on {name!r} (exit {crashed.returncode}): the notes in "
        "retail/transforms/record_bytes.py are out of date")
    guarded = read_in_subprocess(records, "guarded")
    assert (guarded.returncode, guarded.stdout.split()) == (0, ["2", "1"]), guarded.stderr


# --- the row path ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHAPES)
def test_the_row_path_names_what_is_wrong_with_each_shape_at_once(name):
    shape = SHAPES[name]
    started = time.perf_counter()
    _, bad = _verdict(shape.value, SALES, MAX_BYTES)
    assert time.perf_counter() - started < 0.05
    assert matches(shape, *bad[:2]), bad


def test_the_row_path_takes_nesting_up_to_its_bound_and_refuses_deeper():
    at_bound = nested(sales_transaction(), MAX_DEPTH - 1)  # the object itself is a level
    assert _verdict(at_bound, SALES, MAX_BYTES)[1] == (
        "contract_violation", "sales_transaction v1: event must not contain {'extra'} "
        "properties", "extra")
    assert _verdict(nested(sales_transaction(), MAX_DEPTH), SALES, MAX_BYTES)[1] == (
        "serialization_error", f"nested deeper than {MAX_DEPTH} levels", None)


@pytest.mark.parametrize("field", ["event_type", "schema_version"])
def test_a_deep_value_where_the_message_would_quote_it_is_refused_before(field):
    """Quoting a value 1,000 lists deep in a message raised RecursionError: the batch
    failed on every retry."""
    deep = b"[" * 1000 + b"]" * 1000
    value = GOOD.replace(f'"{field}":'.encode(), f'"{field}":'.encode() + deep + b',"x":', 1)
    assert _verdict(value, SALES, MAX_BYTES)[1] == (
        "serialization_error", f"nested deeper than {MAX_DEPTH} levels", None)


def test_json_depth_counts_levels_without_recursion_and_stops_past_the_limit():
    assert [json_depth(v, 5) for v in (1, "x", {}, [], {"a": [[1], {}]}, [{"a": {"b": 1}}])] \
        == [0, 0, 1, 1, 3, 3]
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep, 32) == 33


# --- both paths, a batch at a time -------------------------------------------------------------

@pytest.mark.parametrize("name", SHAPES)
def test_a_shape_first_in_a_batch_and_in_its_middle_gets_the_row_paths_verdict(name):
    shape = SHAPES[name]
    records = [(shape.value, SALES), *ORDINARY[:30], (shape.value, SALES), *ORDINARY[30:]]
    started = time.perf_counter()
    got, want = both_paths(records)

    assert time.perf_counter() - started < 5  # 10,000 levels cost Arrow 11 s
    assert got == want
    for offset in (0, 31):
        assert matches(shape, got[offset]["reject_reason"], got[offset]["reject_error"])
    assert [r["reject_reason"] for o, r in got.items() if o not in (0, 31)] == \
        [None] * len(ORDINARY)


def test_without_the_fast_path_only_the_row_path_judges(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("split_fast was called")

    records = [*[(s.value, SALES) for s in SHAPES.values()], *ORDINARY]
    want = by_offset([_row_path(record_batch(records), MAX_BYTES, DATA)])
    monkeypatch.setattr(validate, "split_fast", refuse)
    assert by_offset(_parse_batches(iter([record_batch(records)]), MAX_BYTES,
                                    fast_path=False)) == want


def test_parse_events_gives_the_same_rows_with_and_without_the_fast_path(spark):
    records = [*[(s.value, SALES) for s in SHAPES.values()], *ORDINARY[:20],
               (padded(sales_transaction()), SALES)]
    fast, rows_only = (parse_events(kafka(spark, *records), max_bytes=MAX_BYTES,
                                    max_future_minutes=5.0, fast_path=f) for f in (True, False))
    assertDataFrameEqual(fast, rows_only)
    assert fast.where("reject_reason IS NULL").count() == 21


# --- invalid UTF-8: the same verdict in both paths, the bytes kept --------------------------

def test_text_shows_bad_bytes_as_replacement_and_originals_keeps_them_exactly():
    values = pa.array([b'{"a":"\xff\xc3"}', '{"a":"é"}'.encode(), None, b""], pa.binary())

    assert as_text(values).to_pylist() == ['{"a":"\ufffd\ufffd"}', '{"a":"é"}', None, ""]
    kept = originals(values).to_pylist()
    assert base64.b64decode(kept[0]) == values[0].as_py()
    assert kept[1:] == [None] * 3  # their text is exact


_SETTINGS = settings(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
_NEIGHBOURS = ORDINARY[:6]


@_SETTINGS
@given(st.binary(max_size=80) | st.binary(max_size=80).map(lambda b: b"{" + b + b"}"))
def test_both_paths_give_random_bytes_the_same_verdict(junk):
    got, want = both_paths([(junk, SALES), *_NEIGHBOURS, (junk, SALES)])

    assert got == want
    if not is_utf8(junk):
        assert got[0]["reject_error"].startswith("not valid UTF-8 at byte ")
        assert base64.b64decode(got[0]["payload_base64"]) == junk


@_SETTINGS
@given(st.data())
def test_both_paths_agree_on_events_with_bytes_spliced_into_a_string(data):
    value, topic = data.draw(st.sampled_from(ORDINARY))
    starts = [m.end() for m in re.finditer(rb'":"', value)]
    at = data.draw(st.sampled_from(starts))
    junk = data.draw(st.binary(min_size=1, max_size=6))
    spliced = value[:at] + junk + value[at:]
    got, want = both_paths([(spliced, topic), *_NEIGHBOURS])

    assert got == want  # the fast path accepts only what the row path accepts, alike
    if not is_utf8(spliced):
        with pytest.raises(UnicodeDecodeError) as exc:
            spliced.decode("utf-8")
        assert (got[0]["reject_reason"], got[0]["reject_error"]) == (
            "serialization_error", f"not valid UTF-8 at byte {exc.value.start}")
        assert base64.b64decode(got[0]["payload_base64"]) == spliced
