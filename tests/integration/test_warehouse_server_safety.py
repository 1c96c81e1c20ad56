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


# --- sessions: ClickHouse docs, interfaces/http, "HTTP sessions" -----------------------------

def setting(port: int, db: str, session: str | None = None) -> str:
    params = {"query": "SELECT getSetting('max_result_rows')", "database": db}
    if session:
        params["session_id"] = session
    return request(port, "GET", params=params).text


def test_a_set_outside_a_session_lasts_for_its_own_request_only(port, db):
    r = request(port, params={"database": db}, body=b"SET max_result_rows = 7")
    assert r.status == 200, r
    assert "X-ClickHouse-Format" not in r.headers  # no result, as ClickHouse answers a SET
    assert setting(port, db) == "0\n"


def test_a_set_in_a_session_stays_in_that_session(port, db):
    r = request(port, params={"database": db, "session_id": "s-a"},
                body=b"SET max_result_rows = 7, max_result_bytes = '9000'")
    assert r.status == 200, r
    assert setting(port, db, "s-a") == "7\n"
    assert setting(port, db, "s-b") == "0\n" and setting(port, db) == "0\n"
    # a request's own setting still wins over its session's
    r = request(port, "GET", params={"query": "SELECT getSetting('max_result_rows')",
                                     "database": db, "session_id": "s-a",
                                     "max_result_rows": "3"})
    assert r.text == "3\n"


def test_an_unknown_setting_in_a_set_is_refused(port, db):
    r = request(port, params={"database": db, "session_id": "s-c"},
                body=b"SET no_such_setting_at_all = 1")
    assert r.status != 200, r
    assert setting(port, db, "s-c") == "0\n"


def test_a_busy_session_refuses_a_second_request_and_check_finds_no_unknown_one(port, db):
    import threading

    slow = threading.Thread(target=request, args=(port,), kwargs={
        "params": {"database": db, "session_id": "s-busy"}, "body": b"SELECT sleep(2)"})
    slow.start()
    try:
        import time
        time.sleep(0.5)
        r = request(port, "GET", params={"query": "SELECT 1", "session_id": "s-busy"})
        assert r.status != 200 and r.headers["X-ClickHouse-Exception-Code"] == "373", r
        assert "SESSION_IS_LOCKED" in r.text
    finally:
        slow.join()
    r = request(port, "GET", params={"query": "SELECT 1", "session_id": "s-none",
                                     "session_check": "1"})
    assert r.headers["X-ClickHouse-Exception-Code"] == "372", r
