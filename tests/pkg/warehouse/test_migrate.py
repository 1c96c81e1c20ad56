"""Schema migrations: statement splitting, file discovery, and applying them to a real server."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.io.warehouse import connect
from retail.warehouse.migrate import (
    LEDGER, Migration, MigrationError, Migrator, default_dir, discover, split_statements)

# The warehouse suite: runs against the local server, or against a real ClickHouse server
# when RETAIL_CLICKHOUSE_URL is set (`pytest -m clickhouse_server`).
pytestmark = pytest.mark.clickhouse_server

runner = CliRunner()
REAL = discover()  # the package's own migrations


# --- split_statements ---------------------------------------------------------------------
def test_split_statements_splits_on_semicolons_and_strips_whitespace():
    assert split_statements("SELECT 1;\n  SELECT 2 ;SELECT 3") == \
        ["SELECT 1", "SELECT 2", "SELECT 3"]


def test_split_statements_keeps_semicolons_inside_single_quoted_strings():
    sql = "SELECT 'a;b' AS x; SELECT 'it\\'s; fine'; SELECT 'doubled '' quote; ok'"
    assert split_statements(sql) == [
        "SELECT 'a;b' AS x", "SELECT 'it\\'s; fine'", "SELECT 'doubled '' quote; ok'"]


def test_split_statements_keeps_semicolons_inside_backticks_and_double_quotes():
    sql = 'SELECT 1 AS `a;b`; SELECT 2 AS "c;d"; SELECT 3'
    assert split_statements(sql) == ['SELECT 1 AS `a;b`', 'SELECT 2 AS "c;d"', "SELECT 3"]


def test_split_statements_drops_line_comments_even_when_they_contain_semicolons():
    sql = "-- header; not a statement\nSELECT 1; -- trailing; comment\nSELECT 2 -- x;\n;"
    assert split_statements(sql) == ["SELECT 1", "SELECT 2"]


def test_split_statements_drops_block_comments_even_when_they_contain_semicolons():
    sql = "/* a; b;\n c */ SELECT 1 /* ; */ + 1; /* only a comment; */"
    assert [" ".join(s.split()) for s in split_statements(sql)] == ["SELECT 1 + 1"]


def test_split_statements_keeps_comment_markers_inside_strings():
    sql = "SELECT '-- not a comment; x', '/* nor; this */'; SELECT 2"
    assert split_statements(sql) == ["SELECT '-- not a comment; x', '/* nor; this */'",
                                      "SELECT 2"]


def test_split_statements_keeps_tokens_apart_where_a_comment_separated_them():
    line = split_statements("SELECT 1 AS x--note\nFROM system.one")
    block = split_statements("SELECT 1 AS x/*note*/FROM system.one")
    assert [" ".join(s.split()) for s in line + block] == ["SELECT 1 AS x FROM system.one"] * 2


def test_split_statements_drops_empty_statements():
    assert split_statements(" ;;\n ;-- nothing\n; /* nothing */ ;") == []
    assert split_statements("SELECT 1;;;SELECT 2;") == ["SELECT 1", "SELECT 2"]


# --- discover -----------------------------------------------------------------------------
def write(directory: Path, name: str, sql: str = "SELECT 1;") -> Path:
    path = directory / name
    path.write_text(sql)
    return path


def test_discover_returns_migrations_in_version_order_and_ignores_other_files(tmp_path):
    write(tmp_path, "0010_later.sql", "SELECT 10;")
    write(tmp_path, "0002_second.sql", "SELECT 2;")
    write(tmp_path, "0001_first.sql", "SELECT 1;")
    write(tmp_path, "README.md", "not a migration")
    found = discover(tmp_path)
    assert [(m.version, m.name, m.sql) for m in found] == [
        (1, "first", "SELECT 1;"), (2, "second", "SELECT 2;"), (10, "later", "SELECT 10;")]
    assert [m.filename for m in found] == ["0001_first.sql", "0002_second.sql",
                                           "0010_later.sql"]


@pytest.mark.parametrize("bad", ["1_init.sql", "0001-init.sql", "0001_Init.sql", "init.sql",
                                 "00001_init.sql"])
def test_discover_refuses_a_badly_named_sql_file_and_names_it(tmp_path, bad):
    write(tmp_path, "0001_ok.sql")
    write(tmp_path, bad)
    with pytest.raises(MigrationError, match=f"^{bad}: migration files are named"):
        discover(tmp_path)


def test_discover_refuses_a_version_used_twice(tmp_path):
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "0001_b.sql")
    with pytest.raises(MigrationError, match=r"0001_b\.sql: version 1 is used twice"):
        discover(tmp_path)


def test_discover_defaults_to_the_packaged_migrations_numbered_from_one_without_gaps():
    assert default_dir().is_dir()
    assert [m.version for m in REAL] == list(range(1, len(REAL) + 1))
    assert [m.filename for m in REAL] == sorted(p.name for p in default_dir().glob("*.sql"))


def test_migration_checksum_is_the_sha256_of_the_file_content():
    m = Migration(3, "x", "SELECT 1;")
    assert m.checksum == hashlib.sha256(b"SELECT 1;").hexdigest()
    assert Migration(3, "x", "SELECT 1; ").checksum != m.checksum
    assert m.statements() == ["SELECT 1"]


# --- against the server -------------------------------------------------------------------
def migrator(settings, directory: Path | None = None) -> Migrator:
    return Migrator(connect(settings, database=""), settings.database,
                    lambda db: connect(settings, db), directory)


def ledger(settings, final: bool = True) -> list[tuple]:
    with connect(settings) as wh:
        return wh.query_rows(
            f"SELECT version, name, checksum, statements, toString(applied_at) "
            f"FROM {LEDGER} {'FINAL' if final else ''} ORDER BY version, applied_at")


def tables(settings) -> set[str]:
    with connect(settings, database="") as admin:
        return {r[0] for r in admin.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String}",
            parameters={"db": settings.database})}


def database_exists(settings) -> bool:
    with connect(settings, database="") as admin:
        return bool(admin.query_rows("SELECT 1 FROM system.databases WHERE name = {db:String}",
                                     parameters={"db": settings.database}))


@pytest.fixture
def migrations_dir(tmp_path) -> Path:
    """An empty directory to copy the package's migrations into, some at a time."""
    d = tmp_path / "migrations"
    d.mkdir()
    return d


def copy(migrations: list[Migration], directory: Path) -> None:
    for m in migrations:
        shutil.copy(default_dir() / m.filename, directory / m.filename)


def test_migrate_applies_every_file_and_records_each_with_its_checksum(fresh_database):
    calls: list[tuple[str, int, int]] = []
    done = migrator(fresh_database).migrate(lambda m, i, n: calls.append((m.filename, i, n)))
    assert [m.filename for m in done] == [m.filename for m in REAL]
    rows = ledger(fresh_database)
    assert [r[:4] for r in rows] == [
        (m.version, m.name, m.checksum, len(m.statements())) for m in REAL]
    assert all(r[4] for r in rows)
    # progress saw every statement of every file, numbered 1..n
    assert calls == [(m.filename, i, len(m.statements()))
                     for m in REAL for i in range(1, len(m.statements()) + 1)]
    assert {"dim_store", "fact_sales", "agg_sales_daily", "bi_fact_sales",
            "rls_assignments", LEDGER} <= tables(fresh_database)


def test_migrate_again_applies_nothing_and_leaves_the_ledger_unchanged(fresh_database):
    migrator(fresh_database).migrate()
    before = ledger(fresh_database, final=False)
    assert migrator(fresh_database).migrate() == []
    assert ledger(fresh_database, final=False) == before
    assert len(before) == len(REAL)


def test_status_shows_applied_files_and_files_added_later_as_pending(fresh_database,
                                                                      migrations_dir):
    first, rest = REAL[:2], REAL[2:]
    copy(first, migrations_dir)
    assert [m.filename for m in migrator(fresh_database, migrations_dir).migrate()] == \
        [m.filename for m in first]
    copy(rest, migrations_dir)
    m = migrator(fresh_database, migrations_dir)
    states = m.status()
    assert [(s.version, s.name, s.state) for s in states] == \
        [(x.version, x.name, "applied") for x in first] + \
        [(x.version, x.name, "pending") for x in rest]
    assert all(s.applied_at for s in states[:2]) and not any(s.applied_at for s in states[2:])
    assert [x.filename for x in m.migrate()] == [x.filename for x in rest]
    assert {s.state for s in m.status()} == {"applied"}


def test_status_on_a_new_database_shows_every_file_pending(fresh_database):
    states = migrator(fresh_database).status()
    assert [(s.version, s.state) for s in states] == [(m.version, "pending") for m in REAL]
    assert ledger(fresh_database) == []


def test_migrate_refuses_a_changed_applied_file_by_name_and_applies_nothing_new(
        fresh_database, migrations_dir):
    copy(REAL[:2], migrations_dir)
    migrator(fresh_database, migrations_dir).migrate()
    before = ledger(fresh_database, final=False)
    edited = migrations_dir / REAL[1].filename
    edited.write_text(edited.read_text() + "\nCREATE TABLE IF NOT EXISTS sneaky (x UInt8) "
                      "ENGINE = Memory;\n")
    copy(REAL[2:], migrations_dir)
    m = migrator(fresh_database, migrations_dir)
    assert [(s.version, s.state) for s in m.status()][:3] == \
        [(1, "applied"), (2, "changed"), (3, "pending")]
    with pytest.raises(MigrationError, match=rf"changed since: {REAL[1].filename}\b"):
        m.migrate()
    assert ledger(fresh_database, final=False) == before
    created = tables(fresh_database)
    assert "sneaky" not in created and "raw_events" not in created  # 0003 did not run


def test_a_file_in_the_ledger_but_no_longer_on_disk_shows_as_missing(fresh_database,
                                                                     migrations_dir):
    copy(REAL, migrations_dir)
    migrator(fresh_database, migrations_dir).migrate()
    gone = REAL[-1]
    (migrations_dir / gone.filename).unlink()
    states = migrator(fresh_database, migrations_dir).status()
    assert [(s.version, s.state) for s in states] == \
        [(m.version, "applied") for m in REAL[:-1]] + [(gone.version, "missing")]
    assert states[-1].name == gone.name and states[-1].migration is None
    assert states[-1].applied_at


def test_reset_drops_the_database_and_a_later_migrate_recreates_it(fresh_database):
    m = migrator(fresh_database)
    m.migrate()
    assert database_exists(fresh_database)
    m.reset()
    assert not database_exists(fresh_database)
    assert [x.version for x in migrator(fresh_database).migrate()] == [x.version for x in REAL]


def test_a_failing_statement_names_file_and_statement_and_is_not_recorded(fresh_database,
                                                                          migrations_dir):
    table = "CREATE TABLE IF NOT EXISTS {} (x UInt8) ENGINE = Memory;".format
    write(migrations_dir, "0001_ok.sql", table("a"))
    write(migrations_dir, "0002_broken.sql",
          f"{table('b')}\nSELECT no_such_function_anywhere(1);\n{table('c')}")
    write(migrations_dir, "0003_after.sql", table("d"))
    with pytest.raises(MigrationError,
                       match=r"^0002_broken\.sql, statement 2 of 3 failed: .*no_such_function"):
        migrator(fresh_database, migrations_dir).migrate()
    assert [r[:2] for r in ledger(fresh_database)] == [(1, "ok")]
    assert tables(fresh_database) == {LEDGER, "a", "b"}
    states = migrator(fresh_database, migrations_dir).status()
    assert [s.state for s in states] == ["applied", "pending", "pending"]
    # fixed in place (it was never recorded), it applies from the start
    write(migrations_dir, "0002_broken.sql", f"{table('b')}\n{table('c')}")
    assert [m.version for m in migrator(fresh_database, migrations_dir).migrate()] == [2, 3]
    assert tables(fresh_database) == {LEDGER, "a", "b", "c", "d"}


# --- the CLI ------------------------------------------------------------------------------
@pytest.fixture
def cli_env(fresh_database, monkeypatch):
    """Point `retail warehouse ...` at the fresh database through the environment."""
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    monkeypatch.setenv("RETAIL_WAREHOUSE__USER", fresh_database.user)
    if fresh_database.password:
        monkeypatch.setenv("RETAIL_WAREHOUSE__PASSWORD",
                           fresh_database.password.get_secret_value())
    else:
        monkeypatch.delenv("RETAIL_WAREHOUSE__PASSWORD", raising=False)
    monkeypatch.setenv("RETAIL_LOG__LEVEL", "WARNING")
    return fresh_database


def state_cells(output: str, state: str) -> int:
    """How many rows of the status table show ``state`` in the state column."""
    return len(re.findall(rf"│ {state}\s+│", output))


def test_cli_status_lists_every_pending_migration_and_exits_3(cli_env):
    result = runner.invoke(app, ["warehouse", "status"])
    assert result.exit_code == 3, result.output
    assert "error" not in result.output
    assert state_cells(result.output, "pending") == len(REAL), result.output
    for m in REAL:
        assert re.search(rf"│ {m.version:04d}\s+│ {m.name}\s+│ pending", result.output)


def test_cli_migrate_applies_everything_then_status_exits_0(cli_env):
    result = runner.invoke(app, ["warehouse", "migrate"])
    assert result.exit_code == 0, result.output
    for m in REAL:
        assert f"applied {m.filename} ({len(m.statements())} statements)" in result.output
    assert f"{len(REAL)} applied now" in result.output
    assert [r[0] for r in ledger(cli_env)] == [m.version for m in REAL]

    again = runner.invoke(app, ["warehouse", "migrate"])
    assert again.exit_code == 0 and "0 applied now" in again.output, again.output

    status = runner.invoke(app, ["warehouse", "status"])
    assert status.exit_code == 0, status.output
    assert state_cells(status.output, "applied") == len(REAL), status.output
    assert state_cells(status.output, "pending") == 0


@pytest.fixture
def applied_elsewhere(cli_env, migrations_dir):
    """The package's migrations plus 0099_extra.sql applied, then the extra file gone."""
    copy(REAL, migrations_dir)
    write(migrations_dir, "0099_extra.sql", "SELECT 1;")
    migrator(cli_env, migrations_dir).migrate()
    return cli_env


def test_cli_status_shows_an_applied_migration_missing_on_disk_and_exits_3(
        applied_elsewhere):
    result = runner.invoke(app, ["warehouse", "status"])
    assert result.exit_code == 3, result.output
    assert state_cells(result.output, "applied") == len(REAL), result.output
    assert re.search(r"│ 0099\s+│ extra\s+│ missing\s+│ 20\d\d-", result.output)


def test_cli_migrate_reports_an_unreachable_warehouse_with_exit_code_1(cli_env, monkeypatch):
    from conftest import free_port

    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("RETAIL_WAREHOUSE__CONNECT_TIMEOUT_S", "2")
    result = runner.invoke(app, ["warehouse", "migrate"])
    assert result.exit_code == 1, result.output
    assert "cannot reach the warehouse" in result.output


def test_cli_load_dims_fills_the_dimensions_and_a_rerun_adds_nothing(cli_env):
    assert runner.invoke(app, ["warehouse", "migrate"]).exit_code == 0
    args = ["warehouse", "load-dims", "--stores", "4", "--products", "30", "--seed", "5",
            "--start", "2025-01-01", "--days", "10"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "dim_store: 4 rows sent, 4 rows in the table" in first.output
    assert "dim_date: 10 rows sent, 10 rows in the table" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "dim_product: 30 rows sent, 30 rows in the table" in again.output
    with connect(cli_env) as wh:
        assert wh.query_rows("SELECT count() FROM dim_supplier")[0][0] == \
            wh.query_rows("SELECT uniqExact(supplier_id) FROM dim_supplier")[0][0] > 0


def test_cli_simulate_into_the_warehouse_twice_loads_the_facts_once(cli_env):
    assert runner.invoke(app, ["warehouse", "migrate"]).exit_code == 0
    args = ["simulate", "--sink", "warehouse", "--stores", "2", "--products", "40",
            "--rate", "5", "--days", "2", "--start", "2025-03-03", "--seed", "9"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    with connect(cli_env) as wh:
        sql = "SELECT count(), sum(quantity), sum(revenue) FROM fact_sales"
        once = wh.query_rows(sql)[0]
        agg = wh.query_rows("SELECT sum(units) FROM agg_sales_daily")[0][0]
        assert once[0] > 100 and agg == once[1]
        assert runner.invoke(app, args).exit_code == 0
        assert wh.query_rows(sql)[0] == once
        assert wh.query_rows("SELECT sum(units) FROM agg_sales_daily")[0][0] == agg
