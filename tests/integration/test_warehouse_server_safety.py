"""The local warehouse server never runs request data as SQL, and runs one statement per
request, as ClickHouse's HTTP interface does (issue 16, security slice).

ClickHouse documentation, "HTTP Interface" (interfaces/http): the INSERT's data follows the
query in the body or forms the body when the query is in the `query` parameter, and is
parsed in the INSERT's format only; one query per request: several statements are refused
with `Code: 62. DB::Exception: Syntax error (Multi-statements are not allowed)`.
"""

from __future__ import annotations

import pytest

from tests.integration.test_warehouse_server import (  # noqa: F401  (fixtures)
    client, db, port, q, request, sales)

pytestmark = pytest.mark.integration

INJECTED = b"\n\nCREATE TABLE injected (x UInt8) ENGINE = Memory\n"
# One valid row per text input format the server accepts (the sales table: id, store, qty).
ROWS = {
    "CSV": b"1,a,5\n", "CSVWithNames": b"id,store,qty\n1,a,5\n",
    "TSV": b"1\ta\t5\n", "TabSeparated": b"1\ta\t5\n", "TSVRaw": b"1\ta\t5\n",
    "TSVWithNames": b"id\tstore\tqty\n1\ta\t5\n",
    "JSONEachRow": b'{"id": 1, "store": "a", "qty": 5}\n',
    "JSONCompactEachRow": b'[1, "a", 5]\n', "JSONLines": b'{"id": 1, "store": "a", "qty": 5}\n',
    "Values": b"(1, 'a', 5)",
}


def tables(port: int, db: str) -> str:
    return q(port, db, "SELECT name FROM system.tables WHERE database = currentDatabase() "
                       "ORDER BY name")


@pytest.mark.parametrize("fmt", sorted(ROWS))
@pytest.mark.parametrize("where", ["query parameter", "body"])
def test_insert_data_is_never_run_as_sql(port, db, sales, fmt, where):
    data = ROWS[fmt] + INJECTED
    if where == "body":
        r = request(port, params={"database": db},
                    body=f"INSERT INTO {sales} FORMAT {fmt}\n".encode() + data)
    else:
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT {fmt}",
                                  "database": db}, body=data)
    assert "injected" not in tables(port, db), r
    assert r.status != 200 or q(port, db, f"SELECT count() FROM {sales}") in ("0\n", "1\n")


def test_several_statements_in_one_request_are_refused_and_none_runs(port, db):
    r = request(port, params={"database": db},
                body=b"CREATE TABLE a (x UInt8) ENGINE = Memory; "
                     b"CREATE TABLE b (x UInt8) ENGINE = Memory")
    assert r.status == 400, r
    assert r.headers["X-ClickHouse-Exception-Code"] == "62"
    assert "Multi-statements are not allowed" in r.text
    assert tables(port, db) == ""


def test_a_trailing_semicolon_or_one_inside_a_string_is_one_statement(port, db):
    assert q(port, db, "SELECT 'a;b';") == "a;b\n"
