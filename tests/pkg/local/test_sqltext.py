"""What the local server reads from statement text: kinds, formats, one statement, bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail.local.errors import ClickHouseError
from retail.local.sqltext import (
    check_one_statement,
    decode_query,
    leaves_connection_state,
    output_format,
    returns_result,
    show_create_system_table,
    split_body,
    without_format,
)


@pytest.mark.parametrize("sql", ["SELECT 1", "  WITH x AS (SELECT 1) SELECT * FROM x",
                                 "SHOW TABLES", "DESCRIBE t", "EXPLAIN SELECT 1",
                                 "EXISTS TABLE t", "/* c */ SELECT 1", "KILL QUERY WHERE 1"])
def test_statements_with_a_result(sql):
    assert returns_result(sql)


@pytest.mark.parametrize("sql", ["INSERT INTO t VALUES (1)", "CREATE TABLE t (a UInt8)",
                                 "drop table t", "ALTER TABLE t DELETE WHERE 1", "SET a = 1",
                                 "USE db", "TRUNCATE TABLE t", "-- c\nOPTIMIZE TABLE t"])
def test_statements_without_a_result(sql):
    assert not returns_result(sql)


@pytest.mark.parametrize("sql,expected", [
    ("USE db", True), ("SET max_threads = 1", True), ("CREATE TEMPORARY TABLE t (a UInt8)", True),
    ("DROP TEMPORARY TABLE t", True), ("CREATE OR REPLACE TEMPORARY TABLE t (a UInt8)", True),
    ("CREATE TABLE t (a UInt8) ENGINE = Memory", False), ("SELECT 1", False),
    ("SELECT 'USE db'", False)])
def test_statements_that_leave_state_on_their_connection(sql, expected):
    assert leaves_connection_state(sql) is expected


def test_the_output_format_is_the_last_format_clause_outside_literals():
    assert output_format("SELECT 'FORMAT CSV' FORMAT JSON SETTINGS a = 1", "TSV") == "JSON"
    assert output_format("SELECT `FORMAT X` -- FORMAT CSV\n", "TSV") == "TSV"
    assert output_format("INSERT INTO t FORMAT CSV", "TSV") == "TSV"


def test_without_format_keeps_literals_and_settings():
    sql = "SELECT 'FORMAT CSV' AS f FORMAT Native SETTINGS max_threads = 1"
    assert without_format(sql) == "SELECT 'FORMAT CSV' AS f  SETTINGS max_threads = 1"
    assert without_format("SELECT 1;") == "SELECT 1;"


@pytest.mark.parametrize("sql,table", [
    ("SHOW CREATE TABLE system.tables", "tables"),
    ("show create system.numbers FORMAT TSVRaw", "numbers"),
    ("SHOW CREATE TABLE `system`.`columns`;", "columns"),
    ("SHOW CREATE TABLE db.tables", None), ("SHOW TABLES FROM system", None)])
def test_show_create_of_a_system_table(sql, table):
    assert show_create_system_table(sql) == table


def test_one_statement_per_request():
    check_one_statement("SELECT 1;", None)
    check_one_statement("INSERT INTO t FORMAT CSV", b"1,'a;b'\n\nDROP TABLE t;")  # data
    with pytest.raises(ClickHouseError, match="Multi-statements") as err:
        check_one_statement("SELECT 1; SELECT 2", None)
    assert err.value.code == 62


def test_utf8_query_text_is_unchanged():
    assert decode_query("SELECT 'é', `ü`".encode()) == "SELECT 'é', `ü`"


@given(st.binary(min_size=1, max_size=40))
def test_bytes_inside_a_literal_become_escapes_of_the_same_bytes(payload):
    raw = b"SELECT '" + payload.replace(b"\\", b"").replace(b"'", b"") + b"'"
    text = decode_query(raw)
    # every byte that was not UTF-8 is now \xHH, everything else is as it was
    restored = text.encode()
    for byte in range(0x80, 0x100):
        restored = restored.replace(f"\\x{byte:02X}".encode(), bytes([byte]))
    assert restored == raw


def test_a_byte_that_is_not_utf8_outside_literals_is_a_syntax_error():
    with pytest.raises(ClickHouseError, match="0xFF at position 9") as err:
        decode_query(b"SELECT 1 \xff")
    assert err.value.code == 62
    assert decode_query(b"SELECT 1 -- \xff comment") == "SELECT 1 -- \ufffd comment"


def test_split_body_separates_an_insert_from_its_binary_data():
    sql, data = split_body(b"/* c */ INSERT INTO t FORMAT RowBinary\n\x00\xff\x01")
    assert sql.endswith("FORMAT RowBinary\n") and data == b"\x00\xff\x01"
    assert split_body(b"SELECT 'a\xff'") == ("SELECT 'a\\xFF'", None)
