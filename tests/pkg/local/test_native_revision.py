"""NativeRevision on real chDB output: chDB's revision-0 Native stream rewritten as ClickHouse
writes it at a client's protocol revision, read back with clickhouse-connect's own Native reader.

chDB opens one engine per process: the module shares one in-memory connection and closes it,
so a test module that opens a data directory can run after this one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import chdb
import pytest
from clickhouse_connect.driver import ctypes
from clickhouse_connect.driver.query import QueryContext
from clickhouse_connect.driver.transform import NativeTransform
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail.local.chdb_engine import ClickHouseError
from retail.local.native_revision import NativeRevision, first_block_types, needs_true_types

BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"  # is_overflows=0, bucket_number=-1, end
# Every supported type, 10 rows in blocks of 3 (4 blocks); nulls, empty arrays, LowCardinality
# dictionaries of each block, an Enum whose names hold a comma and a bracket.
ALL_TYPES = """
SELECT
  toUInt8(number) AS u8, toInt16(-number) AS i16, toUInt32(number) AS u32, toInt64(number) AS i64,
  toUInt128(number) AS u128, toInt128(-number) AS i128, toUInt256(number) AS u256,
  toInt256(-number) AS i256, toFloat32(number / 2) AS f32, toFloat64(number / 3) AS f64,
  toBFloat16(number) AS bf16, toBool(number % 2) AS flag,
  toDate('2024-01-01') + number AS d, toDate32('1900-01-01') + number AS d32,
  toDateTime(1700000000 + number, 'UTC') AS dt_utc,
  toDateTime(1700000000 + number, 'Europe/Berlin') AS dt_berlin,
  toDateTime64(1700000000 + number / 1000, 3, 'UTC') AS dt64,
  toDecimal32(number / 4, 2) AS dec32, toDecimal64(number / 4, 4) AS dec64,
  toDecimal128(number / 4, 6) AS dec128, toDecimal256(number / 4, 8) AS dec256,
  CAST(number / 4 AS Decimal(12, 3)) AS dec_p12,
  generateUUIDv4(number) AS id, toIPv4(number) AS ip4, toIPv6('::1') AS ip6,
  CAST(number % 2 + 1 AS Enum8('a' = 1, 'b, c' = 2)) AS e8,
  CAST(number % 2 + 1 AS Enum16('x(' = 1, 'y' = 2)) AS e16,
  toFixedString(toString(number), 3) AS fs, repeat('s', number) AS s,
  if(number % 3 = 0, NULL, number) AS n_u64, if(number % 2 = 0, NULL, toString(number)) AS n_s,
  range(number % 4) AS arr, arrayMap(x -> toString(x), range(number % 3)) AS arr_s,
  [[number], []] AS arr2, (number, toString(number)) AS tup,
  CAST((number, 'x') AS Tuple(a UInt64, `b c` String)) AS named_tup,
  map(toString(number), number, 'k', 1) AS m,
  CAST([(number, toString(number))] AS Nested(a UInt64, b String)) AS nested,
  toLowCardinality(toString(number % 3)) AS lc,
  CAST(if(number % 2 = 0, NULL, toString(number)) AS LowCardinality(Nullable(String))) AS lc_null,
  CAST(arrayMap(x -> toString(x), range(number % 3)) AS Array(LowCardinality(String))) AS arr_lc,
  CAST(map(toString(number % 2), number) AS Map(LowCardinality(String), UInt64)) AS map_lc,
  NULL AS nothing, [] AS arr_nothing,
  CAST(number AS SimpleAggregateFunction(sum, UInt64)) AS saf, toIntervalDay(number) AS iv
FROM numbers(10)
"""
BLOCKS, COLUMNS = 4, 46


@pytest.fixture(scope="module")
def conn() -> Iterator[object]:
    connection = chdb.connect(":memory:")
    yield connection
    connection.close()


def native(conn, sql: str) -> bytes:
    """chDB's revision-0 Native output of `sql`."""
    return conn.query(sql, "Native").bytes()


def true_types(conn, sql: str) -> list[str]:
    """The column types as DESCRIBE has them (JSON: TSV would escape the quotes of a zone)."""
    described = json.loads(conn.query(f"DESCRIBE ({sql})", "JSONCompact").bytes())
    return [row[1] for row in described["data"]]


def convert(data: bytes, revision: int, types: list[str] | None = None) -> bytes:
    rewriter = NativeRevision(revision, types)
    return rewriter.feed(data) + rewriter.finish()


def read(data: bytes, *, block_info: bool):
    """Decode a Native stream the way clickhouse-connect decodes an HTTP response."""
    context = QueryContext()
    context.block_info = block_info

    class Source:
        gen = iter([data])

        def close(self, ex: Exception | None = None) -> None:
            pass

    return NativeTransform.parse_response(ctypes.RespBuffCls(Source()), context)


@pytest.fixture(scope="module")
def all_types(conn) -> bytes:
    return native(conn, ALL_TYPES + " SETTINGS max_block_size = 3")


@pytest.fixture(scope="module")
def all_true_types(conn) -> list[str]:
    return true_types(conn, ALL_TYPES)


class TestBlockBoundaries:
    def test_every_block_gains_block_info_and_every_column_its_custom_serialization_byte(
            self, all_types):
        converted = convert(all_types, 54454)
        assert len(converted) == len(all_types) + BLOCKS * (len(BLOCK_INFO) + COLUMNS)
        assert converted.startswith(BLOCK_INFO)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cuts=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=40))
    def test_any_chunking_gives_the_bytes_of_one_whole_feed(self, all_types, all_true_types,
                                                            cuts):
        whole = convert(all_types, 54480, all_true_types)
        rewriter, out, at, i = NativeRevision(54480, all_true_types), bytearray(), 0, 0
        while at < len(all_types):
            size = cuts[i % len(cuts)]
            out += rewriter.feed(all_types[at:at + size])
            at, i = at + size, i + 1
        out += rewriter.finish()
        assert bytes(out) == whole

    def test_a_block_is_returned_as_soon_as_its_last_byte_arrives(self, conn):
        data = native(conn, "SELECT number, toString(number) AS s FROM numbers(4) "
                            "SETTINGS max_block_size = 2")
        first = len(data) // 2  # two blocks of the same length: 0, 1 and 2, 3
        rewriter = NativeRevision(54405)
        assert rewriter.feed(data[:first - 1]) == b""
        assert rewriter.feed(data[first - 1:first]) == BLOCK_INFO + data[:first]
        assert rewriter.feed(data[first:]) == BLOCK_INFO + data[first:]


class TestWhatClickHouseConnectReads:
    def test_every_value_reads_back_as_from_the_revision_0_stream(self, all_types,
                                                                  all_true_types):
        plain = read(all_types, block_info=False)
        rewritten = read(convert(all_types, 54405, all_true_types), block_info=True)
        assert rewritten.column_names == plain.column_names
        berlin = plain.column_names.index("dt_berlin")
        assert len(rewritten.result_rows) == 10
        for old, new in zip(plain.result_rows, rewritten.result_rows, strict=True):
            assert new[:berlin] + new[berlin + 1:] == old[:berlin] + old[berlin + 1:]
            # chDB's plain DateTime read as UTC; the rewritten one is the same instant in Berlin
            assert new[berlin].astimezone(UTC).replace(tzinfo=None) == old[berlin]

    def test_a_datetime_comes_back_aware_in_its_time_zone(self, conn):
        sql = "SELECT toDateTime('2024-07-01 12:00:00', 'Europe/Berlin') AS t"
        value = read(convert(native(conn, sql), 54405, true_types(conn, sql)),
                     block_info=True).result_rows[0][0]
        assert value == datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
        assert value.tzinfo.key == "Europe/Berlin"

    def test_its_protocol_probe_sees_block_info(self, conn):
        data = native(conn, "SELECT 1 AS check")
        assert convert(data, 54405)[8:16] == b"\x01\x01\x05check"  # as clickhouse-connect checks
        assert data[8:16] != b"\x01\x01\x05check"


class TestHeaderBytes:
    @pytest.mark.parametrize(("revision", "block_info", "custom"), [
        (54405, BLOCK_INFO, b""),
        (54454, BLOCK_INFO, b"\x00"),  # has_custom_serialization = 0
        (54480, b"\x01\x00\x02\xff\xff\xff\xff\x03\x00\x00", b"\x00"),  # out_of_order_buckets
    ])
    def test_select_1_is_the_bytes_clickhouse_writes(self, conn, revision, block_info, custom):
        expected = block_info + b"\x01\x01\x05check\x05UInt8" + custom + b"\x01"
        assert convert(native(conn, "SELECT 1 AS check"), revision) == expected

    def test_revision_0_passes_the_chunks_through(self, all_types):
        rewriter = NativeRevision(0, ["String"] * COLUMNS)
        chunk = all_types[:101]
        assert rewriter.feed(chunk) is chunk
        assert rewriter.finish() == b""

    def test_true_types_replace_only_a_lost_time_zone(self, conn):
        sql = ("SELECT toDateTime(0, 'UTC') AS a,"
               " CAST((0, 'x') AS Tuple(a DateTime, b String)) AS b, 'x' AS c,"
               " toLowCardinality('y') AS d, toDateTime(0, 'UTC') AS e, toDateTime(0, 'UTC') AS f")
        types = ["DateTime('UTC')", "Tuple(\n    a DateTime('Asia/Tokyo'),\n    b String)",
                 "LowCardinality(String)", "String", "DateTime64(3, 'UTC')",
                 "Nullable(DateTime('UTC'))"]
        got = read(convert(native(conn, sql), 54405, types), block_info=True)
        assert [t.name for t in got.column_types] == [
            "DateTime('UTC')", "Tuple(`a` DateTime('Asia/Tokyo'), `b` String)", "String",
            "LowCardinality(String)", "DateTime", "DateTime"]

    def test_below_54337_a_datetime_keeps_no_time_zone(self, conn):
        data = native(conn, "SELECT toDateTime(0, 'UTC') AS a")
        assert b"UTC" not in convert(data, 54336, ["DateTime('UTC')"])
        assert b"DateTime('UTC')" in convert(data, 54337, ["DateTime('UTC')"])


class TestTypesAtTheStart:
    def test_first_block_types_are_chdbs_type_names(self, all_types):
        types = first_block_types(all_types)
        assert len(types) == COLUMNS
        assert types[:2] == ["UInt8", "Int16"]
        assert types[14:17] == ["DateTime", "DateTime", "DateTime64(3, 'UTC')"]
        assert "Map(LowCardinality(String), UInt64)" in types

    def test_first_block_types_wait_for_the_last_type_name(self, conn):
        data = native(conn, "SELECT 'abc' AS s, 1 AS n")
        end = data.index(b"UInt8") + len(b"UInt8")
        assert first_block_types(b"") is None
        assert first_block_types(data[:end - 1]) is None
        assert first_block_types(data[:end]) == ["String", "UInt8"]

    @pytest.mark.parametrize(("types", "revision", "expected"), [
        (["DateTime"], 54405, True),
        (["UInt8", "Array(Nullable(DateTime))"], 54405, True),
        (["DateTime"], 54336, False),
        (["DateTime('UTC')", "DateTime64(3)", "String"], 54405, False),
        ([], 54405, False),
    ])
    def test_needs_true_types_when_a_datetime_has_no_zone(self, types, revision, expected):
        assert needs_true_types(types, revision) is expected


class TestRefusals:
    @pytest.mark.parametrize(("sql", "column", "type_name"), [
        ("SELECT '{\"a\": 1}'::JSON AS j", "j", "JSON"),
        ("SELECT 1::Dynamic AS d", "d", "Dynamic"),
        ("SELECT sumState(number) AS agg FROM numbers(3)", "agg", "AggregateFunction(sum, UInt64)"),
        ("SELECT 1 AS n, [1::Variant(UInt8, String)] AS v", "v", "Array(Variant(String, UInt8))"),
    ])
    def test_a_type_whose_data_cannot_be_skipped_is_refused_by_name(self, conn, sql, column,
                                                                     type_name):
        with pytest.raises(ClickHouseError) as caught:
            convert(native(conn, sql), 54405)
        assert (caught.value.code, caught.value.name) == (48, "NOT_IMPLEMENTED")
        assert f"Column `{column}` has type {type_name}" in caught.value.message

    def test_low_cardinality_below_54405_is_refused(self, conn):
        data = native(conn, "SELECT toLowCardinality('a') AS lc")
        with pytest.raises(ClickHouseError) as caught:
            convert(data, 54000)
        assert caught.value.code == 48
        assert "`lc` has type LowCardinality(String)" in caught.value.message
        assert convert(data, 54405).startswith(BLOCK_INFO)

    @pytest.mark.parametrize("cut", [1, 30, -700, -1])
    def test_a_stream_ending_inside_a_block_fails_at_finish(self, all_types, cut):
        rewriter = NativeRevision(54405)
        rewriter.feed(all_types[:cut])
        with pytest.raises(ClickHouseError) as caught:
            rewriter.finish()
        assert (caught.value.code, caught.value.name) == (33, "CANNOT_READ_ALL_DATA")
