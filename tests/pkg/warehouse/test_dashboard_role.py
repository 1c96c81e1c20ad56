"""Migration 0022: the dashboard's warehouse role reads exactly what the dashboard reads.

What the dashboard reads is found by ClickHouse's own analyzer (``EXPLAIN QUERY TREE`` on the
migrated local warehouse), not by a regular expression: every query of pkg/retail/queries and
every SQL string of the app (pkg/retail/dashboard) and of the query helpers it calls
(pkg/retail/queries/__init__.py). Views read with the invoker's rights (no SQL SECURITY
DEFINER, such as the parameterized view stock_as_of) add the tables they read, since a real
server checks those for the querying user too. The local server skips access-control
statements, so the grants are checked against the migration's text; that it still applies
locally is the ``migrated`` fixture.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from retail.queries import list_queries
from retail.warehouse.migrate import default_dir, split_statements

ROOT = Path(__file__).resolve().parents[3]
MIGRATION = default_dir() / "0022_dashboard_reader.sql"
ROLE = "dashboard_reader"
APP_SOURCES = [ROOT / "pkg/retail/queries/__init__.py",
               *sorted((ROOT / "pkg/retail/dashboard").rglob("*.py"))]
# Readable by everyone: the table a SELECT without FROM reads.
ALWAYS_READABLE = {"system.one"}
# A value of each parameter type the queries bind, for the analyzer (results are not read).
SAMPLE = {"Date": "2026-01-01", "String": "S0001", "Array(String)": ["S0001"]}
_PARAM = re.compile(r"\{\s*(\w+)\s*:\s*([^{}]+?)\s*\}")
# Table functions that only generate rows. A real server asks CREATE TEMPORARY TABLE for any
# table function (readonly = 2 allows it; readonly = 1 would not); one that reads a source
# (url, file, s3, remote, ...) would need that source too, and the dashboard has no business
# with one.
GENERATORS = {"numbers", "numbers_mt", "zeros", "zeros_mt", "generateSeries",
              "generate_series"}
TEMPORARY = ("*.*", "CREATE TEMPORARY TABLE")
_TABLE = re.compile(r"\btable_name: (\w+)\.(\w+)")
_TABLE_FUNCTION = re.compile(r"\btable_function_name: (\w+)")
_GRANT = re.compile(r"^GRANT\s+(?P<privileges>.+?)\s+ON\s+(?P<object>[\w.`*]+)\s+TO\s+"
                    r"(?P<grantees>.+)$", re.I | re.S)


def app_sql() -> dict[str, str]:
    """Every statement the dashboard runs, by where it comes from."""
    found = {f"pkg/retail/queries/{q.name}.sql": q.sql for q in list_queries()}
    for path in APP_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.match(
                    r"\s*(SELECT|WITH)\b", node.value):
                found[f"{path.relative_to(ROOT)}:{node.lineno}"] = node.value
    return found


def parameters(sql: str, where: str) -> dict[str, object]:
    values = {}
    for name, type_ in _PARAM.findall(sql):
        assert type_ in SAMPLE, f"{where}: no sample value for {{{name}:{type_}}}"
        values[name] = SAMPLE[type_]
    return values


def objects_read(wh, sql: str, where: str) -> tuple[set[str], set[str]]:
    """The tables one statement reads (db.name) and the table functions it calls (a
    parameterized view is called like one)."""
    rows = wh.query_rows("EXPLAIN QUERY TREE " + sql, parameters(sql, where))
    text = "\n".join(r[0] for r in rows)
    names = {f"{db}.{name}" for db, name in _TABLE.findall(text)}
    return names - ALWAYS_READABLE, set(_TABLE_FUNCTION.findall(text))


def required_grants(wh, statements: dict[str, str]) -> tuple[dict[str, set[str]], list[str]]:
    """Privileges by object the statements need: SELECT on the tables of the warehouse's
    database they read (through invoker views too), CREATE TEMPORARY TABLE on *.* for a
    generator table function; and every problem: an object outside the database, or another
    table function."""
    views = {name: (query, "SQL SECURITY DEFINER" in create) for name, query, create in
             wh.query_rows("SELECT name, as_select, create_table_query FROM system.tables "
                           "WHERE database = currentDatabase() AND engine = 'View'")}
    tables = {name for (name,) in wh.query_rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase()")}
    needed: dict[str, set[str]] = {}
    problems = []
    todo = [(where, sql) for where, sql in statements.items()]
    while todo:
        where, sql = todo.pop()
        read, functions = objects_read(wh, sql, where)
        if (functions - tables) & GENERATORS:
            needed.setdefault(TEMPORARY[0], set()).add(TEMPORARY[1])
        for function in sorted(functions - tables - GENERATORS):
            problems.append(f"{where} calls the table function {function}(), which reads "
                            "outside the warehouse")
        read |= {f"{wh.database}.{f}" for f in functions & tables}
        for full in sorted(read):
            db, _, name = full.partition(".")
            if db != wh.database or name not in tables:
                problems.append(f"{where} reads {full}, not a table of the warehouse")
            elif name not in needed:
                needed[name] = {"SELECT"}
                query, definer = views.get(name, ("", True))
                if not definer:
                    todo.append((f"view {name}", query))
    return needed, problems


def migration_grants(text: str) -> dict[str, set[str]]:
    """Privileges by object that the migration grants to the role."""
    grants: dict[str, set[str]] = {}
    for statement in split_statements(text):
        if m := _GRANT.match(statement.strip()):
            grantees = {g.strip() for g in m["grantees"].split(",")}
            assert grantees == {ROLE}, f"grants to {grantees}: {statement}"
            privileges = {p.strip().upper() for p in m["privileges"].split(",")}
            grants.setdefault(m["object"].strip("`"), set()).update(privileges)
    return grants


def role_grants() -> dict[str, set[str]]:
    """The role's grants in every migration: 0022 creates it, a later one grants a view
    the dashboard came to read (a statement of its own, naming the role alone)."""
    grants: dict[str, set[str]] = {}
    for path in sorted(default_dir().glob("*.sql")):
        mine = [s for s in split_statements(path.read_text())
                if (m := _GRANT.match(s.strip()))
                and ROLE in {g.strip() for g in m["grantees"].split(",")}]
        for name, privileges in migration_grants(";\n".join(mine)).items():
            grants.setdefault(name, set()).update(privileges)
    return grants


def test_the_role_is_granted_select_on_exactly_what_the_dashboard_reads(migrated):
    statements = app_sql()
    assert len(statements) > len(list_queries()), "the app's own lookups were not found"

    needed, problems = required_grants(migrated, statements)
    grants = role_grants()

    assert problems == []
    assert {"stock_as_of", "agg_inventory_latest", "bi_user_access"} <= needed.keys()
    missing = {o: p - grants.get(o, set()) for o, p in needed.items() if p - grants.get(o, set())}
    extra = {o: p - needed.get(o, set()) for o, p in grants.items() if p - needed.get(o, set())}
    assert (missing, extra) == ({}, {}), \
        "the migrations must grant what the queries read (first), and no more (second)"
    assert {p for o, privileges in grants.items() for p in privileges if o != "*.*"} == {
        "SELECT"}
    # The local server skipped its access-control statements and recorded it as applied.
    assert migrated.query_rows("SELECT name FROM schema_migrations FINAL WHERE version = 22") \
        == [("dashboard_reader",)]


def test_a_query_reading_an_ungranted_table_or_outside_the_warehouse_is_caught(migrated):
    needed, problems = required_grants(migrated, {
        "extra": "SELECT count() FROM stock_as_of(as_of = {as_of:Date}) AS s "
                 "JOIN rls_assignments AS r ON r.store_id = toString(s.store_key)",
        "system": "SELECT name FROM system.tables",
        "series": "SELECT number FROM numbers(3)",
        "web": "SELECT * FROM url('http://example.com/x.csv', CSV, 'a String')"})

    assert needed == {"stock_as_of": {"SELECT"}, "agg_inventory_latest": {"SELECT"},
                      "agg_inventory_daily": {"SELECT"}, "rls_assignments": {"SELECT"},
                      "*.*": {"CREATE TEMPORARY TABLE"}}
    assert "rls_assignments" not in migration_grants(MIGRATION.read_text())
    assert sorted(problems) == [
        "system reads system.tables, not a table of the warehouse",
        "web calls the table function url(), which reads outside the warehouse"]


def test_the_migration_is_read_only_access_control_without_users_or_passwords():
    statements = [s.strip() for s in split_statements(MIGRATION.read_text())]
    kinds = {re.match(r"(CREATE (?:ROLE|SETTINGS PROFILE|QUOTA)|GRANT)\b", s).group(1)
             for s in statements}
    profile = next(s for s in statements if s.startswith("CREATE SETTINGS PROFILE"))
    quota = next(s for s in statements if s.startswith("CREATE QUOTA"))

    assert kinds == {"CREATE ROLE", "CREATE SETTINGS PROFILE", "CREATE QUOTA", "GRANT"}
    assert statements[0] == f"CREATE ROLE IF NOT EXISTS {ROLE}"
    assert not re.search(r"\b(USER|IDENTIFIED|PASSWORD|INSERT|ALTER|DROP|TRUNCATE|OPTIMIZE|"
                         r"ACCESS MANAGEMENT|WITH GRANT OPTION)\b", " ".join(statements), re.I)
    assert re.search(r"\breadonly = 2\b", profile) and profile.endswith(f"TO {ROLE}")
    assert "max_execution_time" in profile and "max_result_rows" in profile
    assert quota.endswith(f"TO {ROLE}") and "KEYED BY user_name" in quota


@pytest.mark.parametrize("statement", [
    "GRANT SELECT, INSERT ON fact_sales TO dashboard_reader",
    "GRANT SELECT ON fact_sales TO dashboard_reader, etl_writer",
])
def test_a_write_grant_or_another_grantee_is_caught(statement):
    with pytest.raises(AssertionError):
        grants = migration_grants(statement + ";")
        assert {p for privileges in grants.values() for p in privileges} == {"SELECT"}

