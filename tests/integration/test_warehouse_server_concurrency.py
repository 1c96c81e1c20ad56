"""The local warehouse server under concurrency, streaming and sessions, as ClickHouse does.

Every test talks to a real ``retail warehouse serve`` process over HTTP (plain sockets,
http.client or clickhouse-connect) and asserts ClickHouse's documented behaviour; the
documentation section is named in each test (https://clickhouse.com/docs/...).
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.external import ExternalData

from tests.conftest import WarehouseProcess

pytestmark = pytest.mark.integration
CORES = os.cpu_count() or 2


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[WarehouseProcess]:
    proc = WarehouseProcess(tmp_path_factory.mktemp("concurrency") / "warehouse")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def table(server) -> str:
    name = f"t_{uuid.uuid4().hex[:8]}"
    post(server.port, f"CREATE TABLE {name} (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
    return name


def post(port: int, sql: str, params: dict | None = None, body: bytes | None = None,
         timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    query = {"query": sql, **(params or {})} if body is not None else dict(params or {})
    conn.request("POST", "/?" + urlencode(query), body=body if body is not None else sql)
    resp = conn.getresponse()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    conn.close()
    return out


def client(port: int, **kwargs):
    return clickhouse_connect.get_client(host="127.0.0.1", port=port, **kwargs)


def running(port: int, tag: str) -> int:
    _, _, body = post(port, f"SELECT count() FROM system.processes WHERE query LIKE "
                      f"'%{tag}%' AND query NOT LIKE '%system.processes%'")
    return int(body)


def start_raw(port: int, sql: str) -> socket.socket:
    """A GET sent on a plain socket, whose answer nobody reads."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET /?{urlencode({'query': sql})} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


# -- queries run at once ----------------------------------------------------------------------
def test_queries_run_at_once_up_to_at_least_the_cores(server):
    """operations/server-configuration-parameters/settings#max_concurrent_queries: a server
    runs many queries at once (here twice as many as cores)."""
    n = 2 * CORES
    errors: list[BaseException] = []

    def one() -> None:
        try:
            assert post(server.port, "SELECT sleep(1)")[0] == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    assert not errors
    assert wall < n * 0.6, f"{n} one-second queries took {wall:.1f}s: not run at once"


def test_a_long_query_does_not_hold_back_a_short_insert(server, table):
    """A slow dashboard query and the stream's inserts share the server: the insert runs
    beside it (max_concurrent_queries), not after it."""
    tag = uuid.uuid4().hex
    long = start_raw(server.port, f"SELECT sum(cityHash64(number)) /* {tag} */ FROM "
                     f"numbers(100000000000) SETTINGS max_execution_time = 60")
    try:
        deadline = time.monotonic() + 10
        while running(server.port, tag) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running(server.port, tag) == 1
        started = time.perf_counter()
        status, _, body = post(server.port, f"INSERT INTO {table} FORMAT TSV",
                               body=b"".join(b"%d\tx\n" % i for i in range(100)))
        took = time.perf_counter() - started
        assert status == 200, body
        assert took < 2.0, f"a 100-row insert took {took:.2f}s beside a long query"
        assert running(server.port, tag) == 1  # the long one is still going
    finally:
        long.close()


def test_a_client_that_hangs_up_cancels_its_read_only_query(server):
    """operations/settings/settings#cancel_http_readonly_queries_on_client_close: the
    server cancels a read-only query whose client closed the connection."""
    tag = uuid.uuid4().hex
    sock = start_raw(server.port, f"SELECT sum(cityHash64(number)) /* {tag} */ FROM "
                     f"numbers(100000000000) SETTINGS max_execution_time = 60")
    deadline = time.monotonic() + 10
    while running(server.port, tag) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(server.port, tag) == 1
    sock.close()
    deadline = time.monotonic() + 5
    while running(server.port, tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(server.port, tag) == 0, "the query kept running after its client left"


def test_over_the_limit_a_request_waits_then_fails_with_too_many_queries(tmp_path):
    """max_concurrent_queries and the queue_max_wait_ms setting: a request over the limit
    waits in the queue, then fails with TOO_MANY_SIMULTANEOUS_QUERIES (202)."""
    proc = WarehouseProcess(tmp_path / "warehouse", args=("--max-queries", "1"))
    proc.start()
    try:
        tag = uuid.uuid4().hex
        busy = start_raw(proc.port, f"SELECT sleepEachRow(0.5) /* {tag} */ FROM numbers(6) "
                         "SETTINGS max_block_size = 1")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, headers, body = post(proc.port, "SELECT 1",
                                         {"queue_max_wait_ms": "100"})
            if status != 200:
                break
            time.sleep(0.05)
        assert headers["x-clickhouse-exception-code"] == "202", body
        assert b"TOO_MANY_SIMULTANEOUS_QUERIES" in body
        busy.close()
        deadline = time.monotonic() + 10
        while post(proc.port, "SELECT 1")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert post(proc.port, "SELECT 1")[2] == b"1\n"
    finally:
        proc.stop()


# -- results stream ---------------------------------------------------------------------------
def test_a_big_result_streams_before_the_query_ends(server):
    """interfaces/http "Response buffering": without wait_end_of_query the server sends
    what it has once buffer_size is full, chunked, while the query still runs."""
    sql = ("SELECT toString(number) || repeat('x', 1000) FROM numbers(3000) "
           "WHERE sleepEachRow(0.001) = 0 SETTINGS max_block_size = 1500")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    started = time.perf_counter()
    conn.request("POST", "/", body=sql)
    resp = conn.getresponse()
    first = time.perf_counter() - started
    body = resp.read()
    total = time.perf_counter() - started
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("X-ClickHouse-Exception-Tag")
    assert body.count(b"\n") == 3000
    assert first < total * 0.8, f"headers after {first:.2f}s of {total:.2f}s: not streamed"


def test_wait_end_of_query_sends_the_whole_result_with_its_final_summary(server):
    """interfaces/http "Response buffering": wait_end_of_query=1 buffers the whole result
    (on disk past buffer_size), then answers with its length and summary."""
    status, headers, body = post(server.port, "SELECT number FROM numbers(300000)",
                                 {"wait_end_of_query": "1", "buffer_size": "65536"})
    assert status == 200 and int(headers["content-length"]) == len(body)
    assert body.count(b"\n") == 300000
    assert '"result_rows":"300000"' in headers["x-clickhouse-summary"]


MID_STREAM_ERROR = ("SELECT throwIf(number = 300000, 'boom mid-stream'), repeat('x', 20) "
                    "FROM numbers(1000000) SETTINGS max_block_size = 10000")


def test_an_error_after_the_first_byte_ends_the_body_in_an_exception_block(server):
    """interfaces/http "HTTP response codes caveats": once headers are out the status stays
    200; the exception follows the data between __exception__ markers carrying the
    X-ClickHouse-Exception-Tag (ClickHouse 25.11+)."""
    status, headers, body = post(server.port, MID_STREAM_ERROR)
    assert status == 200
    tag = headers["x-clickhouse-exception-tag"]
    assert body.endswith(b" " + tag.encode() + b"\r\n__exception__\r\n")
    block = body[body.index(b"__exception__\r\n" + tag.encode()):]
    assert b"Code: 395. DB::Exception: boom mid-stream" in block
    with pytest.raises(DatabaseError, match="boom mid-stream"):
        client(server.port).query(MID_STREAM_ERROR)


def test_an_error_before_the_first_byte_gets_its_http_status(server):
    """interfaces/http: an error found before the response begins is an HTTP error with
    X-ClickHouse-Exception-Code (here within the first buffer_size bytes, and anywhere with
    wait_end_of_query=1)."""
    early = post(server.port, "SELECT throwIf(number = 10, 'early') FROM numbers(100)")
    assert early[0] == 500 and early[1]["x-clickhouse-exception-code"] == "395"
    waited = post(server.port, MID_STREAM_ERROR, {"wait_end_of_query": "1"})
    assert waited[0] == 500 and b"boom mid-stream" in waited[2]


def test_a_client_leaving_mid_stream_leaves_no_traceback(server):
    """Clients leave; the server logs it quietly and keeps serving."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/", body="SELECT number, repeat('y', 200) FROM numbers(2000000)")
    resp = conn.getresponse()
    assert len(resp.read(1000)) == 1000
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # reset, not a clean close
    time.sleep(1.0)
    assert post(server.port, "SELECT 7")[2] == b"7\n"
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "BrokenPipeError" not in log
    assert "ConnectionResetError" not in log


# -- sessions, external data, odd statements --------------------------------------------------
def test_temporary_tables_live_in_their_session_only(server):
    """interfaces/http "Using ClickHouse sessions in the HTTP protocol" and
    sql-reference/statements/create/table "Temporary tables": a temporary table belongs to
    its session; another session or a request without one does not see it."""
    a, b = {"session_id": uuid.uuid4().hex}, {"session_id": uuid.uuid4().hex}
    assert post(server.port, "CREATE TEMPORARY TABLE tmp (x UInt8)", a)[0] == 200
    assert post(server.port, "INSERT INTO tmp VALUES (1), (2)", a)[0] == 200
    assert post(server.port, "SELECT count() FROM tmp", a)[2] == b"2\n"
    assert post(server.port, "CREATE TEMPORARY TABLE tmp (x UInt8)", b)[0] == 200  # no clash
    assert post(server.port, "SELECT count() FROM tmp", b)[2] == b"0\n"
    assert post(server.port, "SELECT count() FROM tmp")[0] == 404
    # without a session, a temporary table lasts for its request only
    assert post(server.port, "CREATE TEMPORARY TABLE solo (x UInt8)")[0] == 200
    assert post(server.port, "SELECT count() FROM solo")[0] == 404


def test_a_session_expires_after_its_timeout(server):
    """interfaces/http sessions: a session ends session_timeout seconds after its last
    request; session_check=1 then answers SESSION_NOT_FOUND (372)."""
    s = {"session_id": uuid.uuid4().hex, "session_timeout": "1"}
    assert post(server.port, "CREATE TEMPORARY TABLE gone (x UInt8)", s)[0] == 200
    time.sleep(1.5)
    post(server.port, "SELECT 1")  # expiry is swept as requests come
    status, headers, _ = post(server.port, "SELECT 1", {**s, "session_check": "1"})
    assert headers["x-clickhouse-exception-code"] == "372"


def test_external_data_tables_come_with_the_query(server, table):
    """engines/table-engines/special/external-data: a table sent with the query (a file of
    a multipart form, described by <name>_structure or <name>_types) is queryable."""
    post(server.port, f"INSERT INTO {table} FORMAT TSV", body=b"1001\ta\n1002\tb\n1003\tc\n")
    ids = ExternalData(file_name="ids.tsv", data=b"1001\n1003\n99999\n", structure="id UInt32")
    res = client(server.port).query(f"SELECT s FROM {table} WHERE id IN ids ORDER BY s",
                                    external_data=ids)
    assert res.result_rows == [("a",), ("c",)]
    typed = ExternalData(file_name="pairs.csv", data=b"1,x\n2,y\n", fmt="CSV",
                         types="UInt8,String")
    res = client(server.port).query("SELECT sum(_1), groupArray(_2) FROM pairs",
                                    external_data=typed)
    assert res.result_rows == [(3, ["x", "y"])]
    # the tables lasted for their request only
    assert post(server.port, "SELECT count() FROM ids")[0] == 404


def test_show_create_table_of_a_system_table(server):
    """sql-reference/statements/show "SHOW CREATE TABLE" works for system tables too."""
    status, _, body = post(server.port, "SHOW CREATE TABLE system.tables FORMAT TSVRaw")
    assert status == 200, body
    text = body.decode()
    assert text.startswith("CREATE TABLE system.tables\n(\n    `database` String")
    assert "\nENGINE = SystemTables" in text
    assert post(server.port, "SHOW CREATE TABLE system.no_such_table")[0] == 404


def test_statements_without_a_result_answer_with_a_summary_only(server):
    """interfaces/http: DDL and INSERT produce no result set, hence no X-ClickHouse-Format;
    X-ClickHouse-Summary tells what was written."""
    name = f"nr_{uuid.uuid4().hex[:8]}"
    status, headers, body = post(server.port, f"CREATE TABLE {name} (x UInt8) ENGINE = Memory")
    assert status == 200 and body == b"" and "x-clickhouse-format" not in headers
    status, headers, _ = post(server.port, f"INSERT INTO {name} SELECT 1 FROM numbers(5)")
    assert "x-clickhouse-format" not in headers
    assert '"written_rows":"5"' in headers["x-clickhouse-summary"]
    assert client(server.port).command(f"DROP TABLE {name}").written_rows == 0
    assert "x-clickhouse-format" in post(server.port, "SELECT 1")[1]


def test_string_literals_may_hold_bytes_that_are_not_utf8(server):
    """sql-reference/syntax "String": a string literal is any bytes; the query text need
    not be UTF-8 inside literals. Outside them such a byte is a syntax error."""
    status, _, body = post(server.port, "", body=b"SELECT hex('\xfe\xff'), length('a\xff')")
    assert (status, body) == (200, b"FEFF\t2\n")
    status, headers, _ = post(server.port, "", body=b"SELECT 1 \xff")
    assert status == 400 and headers["x-clickhouse-exception-code"] == "62"


def test_native_results_follow_the_client_protocol_version(server):
    """interfaces/formats/Native "Protocol revision and the Native format": over HTTP,
    client_protocol_version raises the revision of FORMAT Native output: BlockInfo before
    each block, and from 54337 DateTime keeps its time zone."""
    sql = "SELECT toDateTime('2024-06-01 12:00:00', 'Europe/Berlin') AS d FORMAT Native"
    plain = post(server.port, sql)[2]
    assert plain.startswith(b"\x01\x01\x01d\x08DateTime")  # revision 0: no BlockInfo, no zone
    status, _, body = post(server.port, sql, {"client_protocol_version": "54405"})
    assert status == 200, body
    zone = b"DateTime('Europe/Berlin')"
    assert body == (b"\x01\x00\x02\xff\xff\xff\xff\x00" + b"\x01\x01\x01d" + bytes([len(zone)])
                    + zone + plain[-4:])
    res = client(server.port).query("SELECT toDateTime('2024-06-01 12:00:00', "
                                    "'Europe/Berlin') AS d")
    value = res.result_rows[0][0]
    assert str(value.tzinfo) == "Europe/Berlin" and value.hour == 12


def test_use_lasts_for_its_session_only(server):
    """interfaces/http sessions: USE in a session sets its current database for its later
    requests; a request without session starts in the default database."""
    db = f"db_{uuid.uuid4().hex[:8]}"
    assert post(server.port, f"CREATE DATABASE {db}")[0] == 200
    s = {"session_id": uuid.uuid4().hex}
    assert post(server.port, f"USE {db}", s)[0] == 200
    assert post(server.port, "SELECT currentDatabase()", s)[2] == f"{db}\n".encode()
    assert post(server.port, "SELECT currentDatabase()", {**s, "database": "system"})[2] == \
        b"system\n"
    assert post(server.port, "SELECT currentDatabase()", s)[2] == f"{db}\n".encode()
    for _ in range(3):  # whichever pooled connection answers
        assert post(server.port, "SELECT currentDatabase()")[2] == b"default\n"
    assert post(server.port, f"USE {db}")[0] == 200  # no session: lasts for its request
    assert post(server.port, "SELECT currentDatabase()")[2] == b"default\n"


MANY_BLOCKS = ("SELECT number AS n, toString(number % 7) AS s, toLowCardinality(toString("
               "number % 3)) AS c FROM numbers(200000)")


@pytest.mark.parametrize("fmt,check", [
    ("TSVWithNames", lambda b: b.count(b"\n") == 200001 and b.startswith(b"n\ts\tc\n")
     and b.count(b"\nn\ts") == 0),
    ("CSVWithNamesAndTypes", lambda b: b.count(b"\n") == 200002 and b.count(b'"UInt64"') == 1),
    ("Arrow", lambda b: _arrow_rows(b, file_format=True) == (200000, 19999900000)),
    ("ArrowStream", lambda b: _arrow_rows(b, file_format=False) == (200000, 19999900000)),
    ("JSON", lambda b: len(__import__("json").loads(b)["data"]) == 200000),
    ("Parquet", lambda b: _parquet_rows(b) == 200000),
])
def test_a_result_of_many_blocks_is_one_result_in_every_format(server, fmt, check):
    """interfaces/formats: a result is one document of its format however many blocks the
    engine produced (one header, one Arrow file or stream, one JSON object)."""
    status, headers, body = post(server.port, f"{MANY_BLOCKS} FORMAT {fmt} "
                                 "SETTINGS max_block_size = 50000")
    assert status == 200, body[:300]
    assert check(body), (fmt, body[:200])


def test_an_arrow_file_with_dictionaries_is_one_valid_file(server):
    """output_format_arrow_low_cardinality_as_dictionary=1 makes LowCardinality a
    dictionary; the file of many blocks still reads back whole."""
    import pyarrow as pa

    _, _, body = post(server.port, f"{MANY_BLOCKS} FORMAT Arrow SETTINGS max_block_size = "
                      "50000, output_format_arrow_low_cardinality_as_dictionary = 1")
    table = pa.ipc.open_file(body).read_all()
    assert table.num_rows == 200000 and pa.types.is_dictionary(table.schema.field("c").type)


def _arrow_rows(body: bytes, file_format: bool) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = (pa.ipc.open_file(body) if file_format else pa.ipc.open_stream(body)).read_all()
    return table.num_rows, pc.sum(table.column("n")).as_py()


def _parquet_rows(body: bytes) -> int:
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(body)).num_rows
