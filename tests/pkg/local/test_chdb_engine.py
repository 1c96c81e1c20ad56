"""ChdbEngine and its pure helpers, on a real chDB session in this process.

chDB opens one session directory per process, so the whole file shares one module-scoped
engine; every test works in a database of its own.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator

import pytest

from retail.local.chdb_engine import ChdbEngine
from retail.local.errors import ClickHouseError
from retail.local.sqltext import is_access_control, is_read_only, strip_sql


# --- pure helpers ---------------------------------------------------------------------------
class TestStripSql:
    def test_leading_whitespace_and_line_comments_are_removed(self):
        assert strip_sql("  \n-- a comment\n  -- another\nSELECT 1") == "SELECT 1"

    def test_leading_block_comments_are_removed(self):
        assert strip_sql("/* dbeaver */ /* multi\nline */\tINSERT INTO t") == "INSERT INTO t"

    def test_comments_after_the_statement_start_are_kept(self):
        assert strip_sql("SELECT 1 -- trailing") == "SELECT 1 -- trailing"

    def test_a_comment_only_text_strips_to_empty(self):
        assert strip_sql("-- nothing here") == ""


class TestIsAccessControl:
    @pytest.mark.parametrize("sql", [
        "CREATE USER alice IDENTIFIED BY 'x'",
        "create role IF NOT EXISTS analyst",
        "CREATE OR REPLACE ROLE analyst",
        "ALTER USER alice DEFAULT ROLE analyst",
        "DROP USER IF EXISTS alice",
        "CREATE ROW POLICY p ON db.t USING store_id = 1 TO analyst",
        "CREATE QUOTA q FOR INTERVAL 1 hour MAX queries = 10 TO analyst",
        "CREATE SETTINGS PROFILE sp SETTINGS max_threads = 2",
        "GRANT SELECT ON db.* TO analyst",
        "REVOKE SELECT ON db.* FROM analyst",
        "SET DEFAULT ROLE analyst TO alice",
        "SET ROLE analyst",
        "-- leading comment\n  GRANT SELECT ON *.* TO r",
    ])
    def test_access_control_statements_are_recognised(self, sql):
        assert is_access_control(sql)

    @pytest.mark.parametrize("sql", [
        "CREATE TABLE users (id UInt32) ENGINE = Memory",
        "SELECT * FROM system.grants",
        "SHOW GRANTS",
        "CREATE ROLEX",
        "SET role_prefix = 'x'",
        "INSERT INTO grants VALUES (1)",
    ])
    def test_other_statements_are_not_access_control(self, sql):
        assert not is_access_control(sql)


class TestIsReadOnly:
    @pytest.mark.parametrize("sql", [
        "SELECT 1", "select 1", "WITH x AS (SELECT 1) SELECT * FROM x", "SHOW TABLES",
        "DESCRIBE TABLE t", "DESC t", "EXISTS TABLE t", "EXPLAIN SELECT 1", "(SELECT 1)",
        "/* grafana */ SELECT 1", "-- c\nSELECT 1",
    ])
    def test_reading_statements_are_read_only(self, sql):
        assert is_read_only(sql)

    @pytest.mark.parametrize("sql", [
        "INSERT INTO t VALUES (1)", "CREATE TABLE t (a UInt8) ENGINE = Memory", "DROP TABLE t",
        "ALTER TABLE t DELETE WHERE 1", "TRUNCATE TABLE t", "SET max_threads = 1",
        "OPTIMIZE TABLE t", "-- SELECT\nDROP TABLE t",
    ])
    def test_writing_statements_are_not_read_only(self, sql):
        assert not is_read_only(sql)


class TestClickHouseError:
    def test_an_engine_message_is_parsed_into_code_name_and_message(self):
        exc = RuntimeError("Code: 62. DB::Exception: Syntax error: failed at position 1 "
                           "(SELEC): SELEC 1. (SYNTAX_ERROR) (version 26.9.2.1)\n")
        err = ClickHouseError.from_engine(exc)
        assert (err.code, err.name) == (62, "SYNTAX_ERROR")
        assert err.message == "Syntax error: failed at position 1 (SELEC): SELEC 1."

    def test_an_engine_message_without_a_version_still_parses(self):
        err = ClickHouseError.from_engine(
            RuntimeError("Code: 60. DB::Exception: Unknown table 'x'. (UNKNOWN_TABLE)"))
        assert (err.code, err.name, err.message) == (60, "UNKNOWN_TABLE", "Unknown table 'x'.")

    def test_an_unparseable_message_becomes_a_std_exception(self):
        err = ClickHouseError.from_engine(ValueError("something broke"))
        assert (err.code, err.name, err.message) == (1001, "STD_EXCEPTION", "something broke")

    def test_an_empty_message_is_named_after_the_exception_type(self):
        err = ClickHouseError.from_engine(KeyError())
        assert (err.code, err.name, err.message) == (1001, "STD_EXCEPTION", "KeyError")

    def test_render_is_clickhouses_error_line(self):
        err = ClickHouseError(164, "Cannot execute query in readonly mode", "READONLY")
        assert err.render("1.2.3") == ("Code: 164. DB::Exception: Cannot execute query in "
                                       "readonly mode (READONLY) (version 1.2.3)\n")

    def test_render_without_a_name_has_no_empty_parentheses(self):
        assert ClickHouseError(1, "oops").render("1.2.3") == \
            "Code: 1. DB::Exception: oops (version 1.2.3)\n"

    def test_render_and_parse_round_trip(self):
        err = ClickHouseError(81, "Database nodb does not exist.", "UNKNOWN_DATABASE")
        back = ClickHouseError.from_engine(RuntimeError(err.render("26.9.2.1")))
        assert (back.code, back.name, back.message) == (err.code, err.name, err.message)


# --- the engine on a real chDB session -----------------------------------------------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Iterator[ChdbEngine]:
    eng = ChdbEngine(tmp_path_factory.mktemp("chdb") / "data")
    yield eng
    eng.close()


@pytest.fixture
def db(engine) -> Iterator[str]:
    name = f"e_{uuid.uuid4().hex[:10]}"
    engine.execute(f"CREATE DATABASE {name}")
    yield name
    engine.execute(f"DROP DATABASE IF EXISTS {name} SYNC")


def text(engine: ChdbEngine, sql: str, **kwargs) -> str:
    return engine.execute(sql, **kwargs).body.decode()


def test_the_engine_reports_its_version_and_timezone(engine):
    assert engine.version.split(".")[0].isdigit()
    assert engine.timezone


def test_a_query_answers_in_tab_separated_by_default(engine):
    res = engine.execute("SELECT 1 + 1")
    assert (res.body, res.fmt) == (b"2\n", "TabSeparated")


def test_read_rows_counts_rows_scanned_not_rows_returned(engine):
    res = engine.execute("SELECT sum(number) FROM numbers(1000)")
    assert res.body == b"499500\n"
    assert (res.summary.read_rows, res.summary.read_bytes) == (1000, 8000)
    assert (res.summary.written_rows, res.summary.written_bytes) == (0, 0)


def test_a_format_clause_chooses_the_output_format(engine):
    res = engine.execute("SELECT 1 AS x FORMAT JSONEachRow")
    assert (res.body, res.fmt) == (b'{"x":1}\n', "JSONEachRow")


def test_default_format_applies_when_the_query_names_none(engine):
    res = engine.execute("SELECT 1 AS x", default_format="CSVWithNames")
    assert (res.body, res.fmt) == (b'"x"\n1\n', "CSVWithNames")


class TestSettings:
    def test_a_setting_applies_to_its_query_only(self, engine):
        default = int(text(engine, "SELECT getSetting('max_threads')"))
        wanted = default + 3
        assert int(text(engine, "SELECT getSetting('max_threads')",
                        settings={"max_threads": str(wanted)})) == wanted
        assert int(text(engine, "SELECT getSetting('max_threads')")) == default

    def test_settings_are_reset_after_a_failing_query(self, engine):
        before = text(engine, "SELECT getSetting('max_block_size')")
        with pytest.raises(ClickHouseError):
            engine.execute("SELECT * FROM no_such_table_anywhere",
                           settings={"max_block_size": "777"})
        assert text(engine, "SELECT getSetting('max_block_size')") == before

    def test_an_unknown_setting_is_refused_by_name(self, engine):
        with pytest.raises(ClickHouseError) as info:
            engine.execute("SELECT 1", settings={"no_such_setting_xyz": "1"})
        assert (info.value.code, info.value.name) == (115, "UNKNOWN_SETTING")

    def test_a_setting_name_that_is_not_an_identifier_is_refused(self, engine):
        with pytest.raises(ClickHouseError) as info:
            engine.execute("SELECT 1", settings={"max_threads = 1; DROP": "1"})
        assert info.value.name == "UNKNOWN_SETTING"


class TestDatabase:
    def test_the_query_runs_in_the_requested_database(self, engine, db):
        assert text(engine, "SELECT currentDatabase()", database=db) == f"{db}\n"
        assert text(engine, "SELECT currentDatabase()") == "default\n"

    def test_unqualified_tables_resolve_in_the_requested_database(self, engine, db):
        engine.execute("CREATE TABLE t (a UInt8) ENGINE = Memory", database=db)
        engine.execute("INSERT INTO t VALUES (7)", database=db)
        assert text(engine, f"SELECT a FROM {db}.t") == "7\n"
        assert text(engine, "SELECT a FROM t", database=db) == "7\n"

    def test_a_use_statement_does_not_leak_into_the_next_query(self, engine, db):
        engine.execute(f"USE {db}")
        assert text(engine, "SELECT currentDatabase()") == "default\n"

    def test_an_unknown_database_is_an_error(self, engine):
        with pytest.raises(ClickHouseError) as info:
            engine.execute("SELECT 1", database="no_such_db_xyz")
        assert (info.value.code, info.value.name) == (81, "UNKNOWN_DATABASE")


def test_query_parameters_are_bound_server_side(engine):
    assert text(engine, "SELECT {x:UInt32} * 2, {s:String}",
                params={"x": "21", "s": "it's"}) == "42\tit\\'s\n"


def test_a_parameter_of_the_wrong_type_is_an_error(engine):
    with pytest.raises(ClickHouseError):
        engine.execute("SELECT {x:UInt32}", params={"x": "not a number"})


class TestReadonly:
    def test_a_write_is_refused_in_readonly_mode(self, engine, db):
        with pytest.raises(ClickHouseError) as info:
            engine.execute(f"CREATE TABLE {db}.t (a UInt8) ENGINE = Memory", readonly=True)
        assert (info.value.code, info.value.name) == (164, "READONLY")
        assert text(engine, f"EXISTS TABLE {db}.t") == "0\n"

    def test_a_read_is_allowed_in_readonly_mode(self, engine):
        assert text(engine, "SELECT 3", readonly=True) == "3\n"


def test_access_control_statements_are_skipped_with_an_empty_answer(engine, caplog):
    engine._warned_access = False  # as if fresh: earlier tests may have had the warning
    with caplog.at_level("WARNING", logger="retail.local.chdb_engine"):
        res = engine.execute("CREATE ROLE IF NOT EXISTS analyst")
        assert res.body == b""
        assert engine.execute("GRANT SELECT ON *.* TO analyst").body == b""
    # The warning is given once per engine, not once per statement.
    assert len([r for r in caplog.records if "no access control" in r.getMessage()]) == 1
    # Skipped, not run: chDB itself refuses access-control statements.
    assert engine.execute("REVOKE ALL ON no_such_db.* FROM no_such_role").body == b""


def test_an_empty_query_is_a_syntax_error(engine):
    with pytest.raises(ClickHouseError) as info:
        engine.execute("  -- only a comment\n")
    assert (info.value.code, info.value.name) == (62, "SYNTAX_ERROR")


class TestInsert:
    @pytest.fixture
    def table(self, engine, db) -> str:
        engine.execute(f"CREATE TABLE {db}.t (a UInt32, b String DEFAULT 'dflt', "
                       "c Float64 DEFAULT 1.5) ENGINE = MergeTree ORDER BY a")
        return f"{db}.t"

    def rows(self, engine, table) -> str:
        return text(engine, f"SELECT a, b, c FROM {table} ORDER BY a")

    def test_csv_data_is_inserted_from_the_body(self, engine, table):
        res = engine.execute(f"INSERT INTO {table} FORMAT CSV", b"1,x,2.5\n2,y,3.5\n")
        assert res.summary.written_rows == 2
        assert self.rows(engine, table) == "1\tx\t2.5\n2\ty\t3.5\n"

    def test_csv_data_inline_after_the_format_clause_is_inserted(self, engine, table):
        engine.execute(f"INSERT INTO {table} FORMAT CSV\n3,z,4.5\n")
        assert self.rows(engine, table) == "3\tz\t4.5\n"

    def test_inline_data_and_body_data_are_both_inserted(self, engine, table):
        engine.execute(f"INSERT INTO {table} FORMAT CSV\n1,a,1", b"2,b,2\n")
        assert self.rows(engine, table) == "1\ta\t1\n2\tb\t2\n"

    def test_a_native_body_is_inserted(self, engine, table):
        native = engine.execute("SELECT toUInt32(number + 10) AS a, toString(number) AS b, "
                                "0.25 AS c FROM numbers(3) FORMAT Native").body
        res = engine.execute(f"INSERT INTO {table} FORMAT Native", native)
        assert res.summary.written_rows == 3
        assert self.rows(engine, table) == "10\t0\t0.25\n11\t1\t0.25\n12\t2\t0.25\n"

    def test_a_native_body_is_matched_to_columns_by_name(self, engine, table):
        native = engine.execute("SELECT 'n' AS b, toUInt32(5) AS a FORMAT Native").body
        engine.execute(f"INSERT INTO {table} FORMAT Native", native)
        assert self.rows(engine, table) == "5\tn\t1.5\n"

    def test_row_binary_with_a_column_subset_fills_defaults(self, engine, table):
        body = struct.pack("<I", 100) + struct.pack("<I", 101)
        res = engine.execute(f"INSERT INTO {table} (a) FORMAT RowBinary", body)
        assert res.summary.written_rows == 2
        assert self.rows(engine, table) == "100\tdflt\t1.5\n101\tdflt\t1.5\n"

    def test_row_binary_with_all_columns_needs_no_column_list(self, engine, table):
        s = b"rb"
        body = struct.pack("<I", 7) + bytes([len(s)]) + s + struct.pack("<d", 0.5)
        engine.execute(f"INSERT INTO {table} FORMAT RowBinary", body)
        assert self.rows(engine, table) == "7\trb\t0.5\n"

    def test_row_binary_naming_an_unknown_column_is_refused(self, engine, table):
        with pytest.raises(ClickHouseError) as info:
            engine.execute(f"INSERT INTO {table} (nope) FORMAT RowBinary", b"\0\0\0\0")
        assert (info.value.code, info.value.name) == (16, "NO_SUCH_COLUMN_IN_TABLE")

    def test_a_leading_comment_does_not_hide_a_binary_insert(self, engine, table):
        parquet = engine.execute("SELECT toUInt32(9) AS a, 'c' AS b, 2.0 AS c "
                                 "FORMAT Parquet").body
        with pytest.raises(UnicodeDecodeError):
            parquet.decode()  # so it cannot pass as query text
        engine.execute(f"/* dbeaver */ INSERT INTO {table} FORMAT Parquet", parquet)
        assert self.rows(engine, table) == "9\tc\t2\n"

    def test_an_empty_body_inserts_nothing(self, engine, table):
        res = engine.execute(f"INSERT INTO {table} FORMAT CSV", b"")
        assert res.summary.written_rows == 0
        assert self.rows(engine, table) == ""

    def test_malformed_csv_is_a_parse_error_and_inserts_nothing(self, engine, table):
        with pytest.raises(ClickHouseError) as info:
            engine.execute(f"INSERT INTO {table} FORMAT CSV", b"not-a-number,x,1\n")
        assert info.value.code != 1001 and info.value.name
        assert self.rows(engine, table) == ""


class TestErrors:
    @pytest.mark.parametrize(("sql", "code", "name"), [
        ("SELEC 1", 62, "SYNTAX_ERROR"),
        ("SELECT * FROM no_such_table_anywhere", 60, "UNKNOWN_TABLE"),
        ("SELECT no_such_function(1)", 46, "UNKNOWN_FUNCTION"),
        ("SELECT no_such_column", 47, "UNKNOWN_IDENTIFIER"),
    ])
    def test_engine_errors_carry_clickhouses_code_and_name(self, engine, sql, code, name):
        with pytest.raises(ClickHouseError) as info:
            engine.execute(sql)
        assert (info.value.code, info.value.name) == (code, name)
        assert "DB::Exception" not in info.value.message

    def test_the_engine_keeps_working_after_an_error(self, engine):
        with pytest.raises(ClickHouseError):
            engine.execute("SELECT FROM WHERE")
        assert text(engine, "SELECT 'still here'") == "still here\n"
