"""The local warehouse server (`retail warehouse serve`) as ClickHouse clients use it.

Everything runs against a real server process on chDB: clickhouse-connect, raw HTTP in the
shapes curl, Grafana and DBeaver send, authentication, and two writer processes at once.
Each test works in a database of its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import http.client
import io
import json
import subprocess
import sys
import textwrap
import uuid
import zlib
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import clickhouse_connect
import lz4.frame
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from conftest import WarehouseProcess
from retail.io.warehouse import WarehouseError, connect

try:
    from compression import zstd
except ImportError:
    from backports import zstd

pytestmark = pytest.mark.integration


# --- helpers ------------------------------------------------------------------------------
class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"<Response {self.status} {self.body[:300]!r}>"


def request(port: int, method: str = "POST", path: str = "/", params: dict | None = None,
            body=None, headers: dict | None = None) -> Response:
    """One request on its own connection, the way curl sends it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        url = path + ("?" + urlencode(params) if params else "")
        chunked = body is not None and not isinstance(body, (bytes, str))
        conn.request(method, url, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def new_client(port: int, database: str = "default", password: str = "", **kwargs):
    return clickhouse_connect.get_client(host="127.0.0.1", port=port, username="default",
                                         password=password, database=database, **kwargs)


@pytest.fixture(scope="module")
def port(warehouse_server) -> int:
    return warehouse_server.port


@pytest.fixture
def db(port) -> Iterator[str]:
    """A new database of the test's own on the session's warehouse server."""
    name = f"ws_{uuid.uuid4().hex[:10]}"
    admin = new_client(port)
    admin.command(f"CREATE DATABASE {name}")
    yield name
    admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    admin.close()


@pytest.fixture
def client(port, db):
    c = new_client(port, db)
    yield c
    c.close()


@pytest.fixture
def sales(client) -> str:
    client.command("CREATE TABLE sales (id UInt32, store String, qty Int32 DEFAULT 1) "
                   "ENGINE = MergeTree ORDER BY id")
    return "sales"


def q(port: int, db: str, sql: str) -> str:
    """A read over GET in ``db``; the answer as text."""
    r = request(port, "GET", params={"query": sql, "database": db})
    assert r.status == 200, r
    return r.text


# --- clickhouse-connect -------------------------------------------------------------------
class TestClickHouseConnect:
    def test_query_returns_result_rows(self, client):
        res = client.query("SELECT number, toString(number * 2) FROM numbers(3)")
        assert res.result_rows == [(0, "0"), (1, "2"), (2, "4")]
        assert res.column_names == ("number", "toString(multiply(number, 2))")

    def test_big_query_parameters_arrive_as_a_form_and_bind(self, client):
        # Over 4 KiB of parameters: clickhouse-connect sends a multipart/form-data body.
        ids = [f"P{i:06d}" for i in range(2_000)]
        res = client.query("SELECT length({ids:Array(String)}), {ids:Array(String)}[2000], "
                           "{n:UInt32}", parameters={"ids": ids, "n": 7})
        assert res.result_rows == [(2000, "P001999", 7)]

    def test_query_df_returns_a_frame(self, client):
        df = client.query_df("SELECT number AS n, toString(number) AS s FROM numbers(4)")
        assert list(df.columns) == ["n", "s"]
        assert df["n"].tolist() == [0, 1, 2, 3]
        assert df["s"].tolist() == ["0", "1", "2", "3"]

    def test_query_arrow_returns_a_typed_table(self, client):
        t = client.query_arrow("SELECT toUInt16(number) AS n, toDecimal64(number, 2) AS d "
                               "FROM numbers(2)")
        assert t.schema.field("n").type == pa.uint16()
        assert t.schema.field("d").type == pa.decimal128(18, 2)
        assert t.column("n").to_pylist() == [0, 1]

    def test_insert_rows_with_column_names(self, client, sales):
        summary = client.insert(sales, [[1, "s1"], [2, "s2"]], column_names=["id", "store"])
        assert summary.written_rows == 2
        assert client.query(f"SELECT id, store, qty FROM {sales} ORDER BY id").result_rows == \
            [(1, "s1", 1), (2, "s2", 1)]

    def test_insert_df_round_trips_datetime_low_cardinality_nullable_and_decimal(self, client):
        client.command("CREATE TABLE typed (id UInt32, ts DateTime64(3, 'UTC'), "
                       "cat LowCardinality(String), note Nullable(String), "
                       "price Decimal(12, 2)) ENGINE = MergeTree ORDER BY id")
        df = pd.DataFrame({
            "id": pd.array([1, 2, 3], dtype="uint32"),
            "ts": pd.to_datetime(["2024-01-01T10:00:00", "2024-01-02T11:30:00.250",
                                  "2024-03-04T00:00:00"], utc=True, format="ISO8601"),
            "cat": ["a", "b", "a"],
            "note": ["x", None, "z"],
            "price": [Decimal("1.10"), Decimal("2.25"), Decimal("1000.00")],
        })
        assert client.insert_df("typed", df).written_rows == 3
        rows = client.query("SELECT id, ts, cat, note, price FROM typed ORDER BY id").result_rows
        utc = dt.timezone.utc
        assert [(r[0], r[1].replace(tzinfo=utc), *r[2:]) for r in rows] == [
            (1, dt.datetime(2024, 1, 1, 10, 0, tzinfo=utc), "a", "x", Decimal("1.10")),
            (2, dt.datetime(2024, 1, 2, 11, 30, 0, 250000, tzinfo=utc), "b", None,
             Decimal("2.25")),
            (3, dt.datetime(2024, 3, 4, tzinfo=utc), "a", "z", Decimal("1000.00")),
        ]
        assert client.query("SELECT toTypeName(cat) FROM typed LIMIT 1").result_rows == \
            [("LowCardinality(String)",)]

    def test_insert_arrow_fills_omitted_columns_with_defaults(self, client, sales):
        t = pa.table({"id": pa.array([7, 8], pa.uint32()), "store": ["a", "b"]})
        assert client.insert_arrow(sales, t).written_rows == 2
        assert client.query(f"SELECT id, store, qty FROM {sales} ORDER BY id").result_rows == \
            [(7, "a", 1), (8, "b", 1)]

    def test_a_row_block_stream_delivers_all_200k_rows(self, client):
        rows = total = 0
        with client.query_row_block_stream("SELECT number FROM numbers(200000)") as stream:
            for block in stream:
                rows += len(block)
                total += sum(r[0] for r in block)
        assert rows == 200_000
        assert total == sum(range(200_000))

    def test_server_side_parameters_are_bound(self, client):
        assert client.query("SELECT {x:UInt32} * 2, {s:String}",
                            parameters={"x": 21, "s": "o'k"}).result_rows == [(42, "o'k")]

    def test_client_side_parameters_are_bound(self, client):
        assert client.query("SELECT %(x)s * 2, %(s)s",
                            parameters={"x": 21, "s": "o'k"}).result_rows == [(42, "o'k")]

    def test_per_query_settings_apply_to_that_query_only(self, client):
        default = client.query("SELECT getSetting('max_block_size')").result_rows[0][0]
        wanted = int(default) + 17
        assert client.query("SELECT getSetting('max_block_size')",
                            settings={"max_block_size": wanted}).result_rows == [(wanted,)]
        assert client.query("SELECT getSetting('max_block_size')").result_rows == [(default,)]

    def test_command_runs_ddl_and_returns_scalars(self, client, db):
        client.command("CREATE TABLE ddl (a UInt8) ENGINE = Memory")
        assert client.command(f"EXISTS TABLE {db}.ddl") == 1
        client.command("DROP TABLE ddl")
        assert client.command(f"EXISTS TABLE {db}.ddl") == 0

    def test_a_syntax_error_raises_with_code_62(self, client):
        with pytest.raises(DatabaseError) as info:
            client.query("SELEC 1")
        assert "Code: 62" in str(info.value)
        assert "SYNTAX_ERROR" in str(info.value)

    def test_an_unknown_table_raises_with_code_60(self, client):
        with pytest.raises(DatabaseError) as info:
            client.query("SELECT * FROM no_such_table")
        assert "Code: 60" in str(info.value)

    def test_the_client_keeps_working_after_a_malformed_query(self, client, sales):
        with pytest.raises(DatabaseError):
            client.command("INSERT INTO sales VALUES (oops")
        with pytest.raises(DatabaseError):
            client.raw_insert(sales, insert_block=b"not-a-number,x,1\n", fmt="CSV")
        client.insert(sales, [[1, "ok"]], column_names=["id", "store"])
        assert client.query(f"SELECT count() FROM {sales}").result_rows == [(1,)]


class TestPlatformClient:
    """retail.io.warehouse on the local server: lz4 request bodies, dedup tokens."""

    def test_insert_arrow_returns_written_rows_and_query_rows_reads_them(self, warehouse_server,
                                                                         db):
        with connect(warehouse_server.settings(db)) as wh:
            wh.command("CREATE TABLE t (id UInt32, v String) ENGINE = MergeTree ORDER BY id")
            t = pa.table({"id": pa.array([1, 2, 3], pa.uint32()), "v": ["a", "b", "c"]})
            assert wh.insert_arrow("t", t) == 3
            assert wh.query_rows("SELECT sum(id), groupArray(v) FROM t") == \
                [(6, ["a", "b", "c"])]

    def test_a_replayed_batch_with_the_same_dedup_token_is_written_once(self, warehouse_server,
                                                                        db):
        with connect(warehouse_server.settings(db)) as wh:
            wh.command("CREATE TABLE t (id UInt32) ENGINE = MergeTree ORDER BY id "
                       "SETTINGS non_replicated_deduplication_window = 100")
            batch = pa.table({"id": pa.array([1, 2], pa.uint32())})
            wh.insert_arrow("t", batch, dedup_token="batch-1")
            wh.insert_arrow("t", batch, dedup_token="batch-1")
            wh.insert_arrow("t", batch, dedup_token="batch-2")
            assert wh.query_rows("SELECT count() FROM t") == [(4,)]

    def test_errors_carry_the_clickhouse_code(self, warehouse_server, db):
        with connect(warehouse_server.settings(db)) as wh:
            with pytest.raises(WarehouseError) as info:
                wh.query_rows("SELECT * FROM nope")
            assert info.value.code == 60


# --- raw HTTP -----------------------------------------------------------------------------
class TestHttpQueries:
    def test_get_with_a_query_answers_tab_separated(self, port):
        r = request(port, "GET", params={"query": "SELECT 1"})
        assert (r.status, r.body) == (200, b"1\n")
        assert r.headers["X-ClickHouse-Format"] == "TabSeparated"
        assert r.headers["Content-Type"].startswith("text/tab-separated-values")

    def test_post_with_the_query_in_the_body(self, port):
        r = request(port, body=b"SELECT number * 3 FROM numbers(3)")
        assert (r.status, r.text) == (200, "0\n3\n6\n")

    def test_the_database_parameter_selects_the_database(self, port, db):
        assert q(port, db, "SELECT currentDatabase()") == f"{db}\n"

    def test_an_unknown_database_is_404(self, port):
        r = request(port, "GET", params={"query": "SELECT 1", "database": "no_such_db_xyz"})
        assert r.status == 404
        assert r.headers["X-ClickHouse-Exception-Code"] == "81"

    def test_format_json_output_parses_with_data_and_meta(self, port):
        r = request(port, body=b"SELECT number AS n, toString(number) AS s FROM numbers(2) "
                               b"FORMAT JSON")
        assert r.status == 200 and r.headers["X-ClickHouse-Format"] == "JSON"
        doc = json.loads(r.body)
        assert doc["data"] == [{"n": 0, "s": "0"}, {"n": 1, "s": "1"}]
        assert doc["meta"][0] == {"name": "n", "type": "UInt64"}
        assert [m["name"] for m in doc["meta"]] == ["n", "s"]
        assert doc["rows"] == 2

    def test_default_format_parameter_applies_without_a_format_clause(self, port):
        r = request(port, params={"default_format": "JSONEachRow"},
                    body=b"SELECT 1 AS x, 'a' AS y")
        assert r.status == 200
        assert r.headers["X-ClickHouse-Format"] == "JSONEachRow"
        assert json.loads(r.body) == {"x": 1, "y": "a"}

    def test_a_format_clause_beats_default_format(self, port):
        r = request(port, params={"default_format": "JSONEachRow"}, body=b"SELECT 1 FORMAT CSV")
        assert (r.headers["X-ClickHouse-Format"], r.body) == ("CSV", b"1\n")

    def test_url_parameters_bind_query_parameters(self, port):
        r = request(port, "GET", params={"query": "SELECT {n:UInt32} + 1, {s:String}",
                                         "param_n": "41", "param_s": "hi"})
        assert (r.status, r.text) == (200, "42\thi\n")

    def test_other_url_parameters_become_settings(self, port):
        r = request(port, "GET", params={"query": "SELECT getSetting('max_threads')",
                                         "max_threads": "5"})
        assert (r.status, r.text) == (200, "5\n")

    def test_an_unknown_setting_is_an_error(self, port):
        r = request(port, "GET", params={"query": "SELECT 1", "no_such_setting_xyz": "1"})
        assert r.status == 404
        assert r.headers["X-ClickHouse-Exception-Code"] == "115"

    def test_the_query_id_is_echoed(self, port):
        qid = f"test-{uuid.uuid4()}"
        r = request(port, "GET", params={"query": "SELECT 1", "query_id": qid})
        assert r.headers["X-ClickHouse-Query-Id"] == qid

    def test_the_query_id_is_echoed_on_errors_too(self, port):
        qid = f"test-{uuid.uuid4()}"
        r = request(port, "GET", params={"query": "SELEC 1", "query_id": qid})
        assert r.status == 400 and r.headers["X-ClickHouse-Query-Id"] == qid
        assert r.headers["X-ClickHouse-Exception-Code"] == "62"  # parsed, not refused as a write

    def test_a_format_clause_followed_by_settings_sets_the_format_header(self, port):
        r = request(port, "GET", params={
            "query": "SELECT 1 AS x FORMAT JSONEachRow SETTINGS max_threads = 1 -- done"})
        assert r.status == 200 and json.loads(r.text) == {"x": 1}
        assert r.headers["X-ClickHouse-Format"] == "JSONEachRow"

    def test_format_inside_a_string_literal_does_not_set_the_format(self, port):
        r = request(port, "GET", params={"query": "SELECT 'FORMAT JSON' AS s"})
        assert r.headers["X-ClickHouse-Format"] == "TabSeparated" and r.text == "FORMAT JSON\n"

    def test_the_summary_header_counts_result_rows(self, port):
        r = request(port, "GET", params={"query": "SELECT number FROM numbers(7)"})
        assert int(json.loads(r.headers["X-ClickHouse-Summary"])["result_rows"]) == 7

    def test_a_query_id_is_generated_when_none_is_given(self, port):
        a = request(port, "GET", params={"query": "SELECT 1"}).headers["X-ClickHouse-Query-Id"]
        b = request(port, "GET", params={"query": "SELECT 1"}).headers["X-ClickHouse-Query-Id"]
        assert a and b and a != b

    def test_timezone_and_display_name_headers_are_present(self, port):
        r = request(port, "GET", params={"query": "SELECT timezone()"})
        assert r.headers["X-ClickHouse-Timezone"] == r.text.strip()
        assert r.headers["X-ClickHouse-Server-Display-Name"]

    def test_the_summary_header_counts_rows_read(self, port):
        r = request(port, "GET", params={"query": "SELECT sum(number) FROM numbers(1000)"})
        summary = json.loads(r.headers["X-ClickHouse-Summary"])
        assert int(summary["read_rows"]) == 1000
        assert int(summary["written_rows"]) == 0

    def test_response_compression_when_asked_for(self, port):
        sql = "SELECT number FROM numbers(5000)"
        r = request(port, "GET", params={"query": sql, "enable_http_compression": "1"},
                    headers={"Accept-Encoding": "gzip"})
        assert r.headers["Content-Encoding"] == "gzip"
        plain = gzip.decompress(r.body)
        assert plain == "".join(f"{i}\n" for i in range(5000)).encode()
        assert len(r.body) < len(plain)

    def test_no_response_compression_without_enable_http_compression(self, port):
        r = request(port, "GET", params={"query": "SELECT 1"}, headers={"Accept-Encoding": "gzip"})
        assert r.headers["Content-Encoding"] is None and r.body == b"1\n"

    def test_ping_answers_ok(self, port):
        r = request(port, "GET", "/ping")
        assert (r.status, r.body) == (200, b"Ok.\n")

    def test_get_root_without_a_query_answers_ok(self, port):
        assert request(port, "GET", "/").body == b"Ok.\n"

    def test_several_requests_share_one_keep_alive_connection(self, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            answers = []
            for sql in ("SELECT 1", "SELEC 2", "SELECT 3"):
                conn.request("POST", "/", body=sql.encode())
                resp = conn.getresponse()
                answers.append((resp.status, resp.read()))
            assert answers[0] == (200, b"1\n")
            assert answers[1][0] == 400
            assert answers[2] == (200, b"3\n")
        finally:
            conn.close()


class TestHttpInserts:
    def test_jsoneachrow_with_the_insert_in_the_query_parameter(self, port, db, sales):
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT JSONEachRow",
                                  "database": db},
                    body=b'{"id": 1, "store": "a", "qty": 5}\n{"id": 2, "store": "b"}\n')
        assert r.status == 200, r
        assert q(port, db, f"SELECT * FROM {sales} ORDER BY id") == "1\ta\t5\n2\tb\t1\n"

    def test_the_whole_insert_and_csv_data_in_the_body(self, port, db, sales):
        r = request(port, params={"database": db},
                    body=f"INSERT INTO {sales} FORMAT CSV\n1,\"a,b\",3\n2,c,4\n".encode())
        assert r.status == 200, r
        assert q(port, db, f"SELECT * FROM {sales} ORDER BY id FORMAT CSV") == \
            '1,"a,b",3\n2,"c",4\n'

    def test_tab_separated_data(self, port, db, sales):
        r = request(port, params={"query": f"INSERT INTO {db}.{sales} FORMAT TSV"},
                    body=b"5\tx\t50\n6\ty\t60\n")
        assert r.status == 200, r
        assert q(port, db, f"SELECT sum(qty) FROM {sales}") == "110\n"

    def test_values_in_the_body_after_the_query_parameter(self, port, db, sales):
        r = request(port, params={"query": f"INSERT INTO {sales} (id, store) VALUES",
                                  "database": db}, body=b"(1, 'v'), (2, 'w')")
        assert r.status == 200, r
        assert q(port, db, f"SELECT count() FROM {sales}") == "2\n"

    def test_the_summary_header_counts_written_rows(self, port, db, sales):
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT CSV", "database": db},
                    body=b"1,a,1\n2,b,2\n3,c,3\n")
        assert int(json.loads(r.headers["X-ClickHouse-Summary"])["written_rows"]) == 3

    def test_parquet_produced_by_the_server_inserts_back(self, port, db, sales):
        out = request(port, params={"database": db}, body=b"SELECT toUInt32(number) AS id, "
                      b"concat('s', toString(number)) AS store, toInt32(number * 10) AS qty "
                      b"FROM numbers(100) FORMAT Parquet")
        assert out.headers["X-ClickHouse-Format"] == "Parquet" and out.body[:4] == b"PAR1"
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT Parquet",
                                  "database": db}, body=out.body)
        assert r.status == 200, r
        assert q(port, db, f"SELECT count(), sum(qty), max(store) FROM {sales}") == \
            "100\t49500\ts99\n"

    def test_native_produced_by_the_server_inserts_back(self, port, db, sales):
        out = request(port, body=b"SELECT toUInt32(number + 4000000000) AS id, 'n' AS store, "
                      b"toInt32(-1) AS qty FROM numbers(3) FORMAT Native")
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT Native", "database": db},
                    body=out.body)
        assert r.status == 200, r
        assert q(port, db, f"SELECT min(id), sum(qty) FROM {sales}") == "4000000000\t-3\n"

    def test_a_leading_comment_before_a_binary_insert(self, port, db, sales):
        out = request(port, body=b"SELECT toUInt32(number) AS id, 'c' AS store, "
                      b"toInt32(2) AS qty FROM numbers(3) FORMAT Parquet")
        r = request(port, params={"query": f"/* DBeaver */ INSERT INTO {sales} FORMAT Parquet",
                                  "database": db}, body=out.body)
        assert r.status == 200, r
        assert q(port, db, f"SELECT count(), sum(qty) FROM {sales}") == "3\t6\n"

    def test_a_commented_binary_insert_entirely_in_the_body(self, port, db, sales):
        out = request(port, body=b"SELECT toUInt32(number) AS id, 'c' AS store, "
                      b"toInt32(5) AS qty FROM numbers(2) FORMAT Parquet")
        body = f"-- from curl\n/* x */ INSERT INTO {sales} FORMAT Parquet\n".encode() + out.body
        r = request(port, params={"database": db}, body=body)
        assert r.status == 200, r
        assert q(port, db, f"SELECT count(), sum(qty) FROM {sales}") == "2\t10\n"

    def test_parquet_written_by_pyarrow_with_a_column_subset(self, port, db, sales):
        buf = io.BytesIO()
        pq.write_table(pa.table({"store": ["p", "q"], "id": pa.array([1, 2], pa.uint32())}),
                       buf)
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT Parquet", "database": db},
                    body=buf.getvalue())
        assert r.status == 200, r
        assert q(port, db, f"SELECT id, store, qty FROM {sales} ORDER BY id") == \
            "1\tp\t1\n2\tq\t1\n"

    def test_arrow_stream_written_by_pyarrow(self, port, db, sales):
        t = pa.table({"id": pa.array([10, 11, 12], pa.uint32()), "store": ["a", "b", "c"],
                      "qty": pa.array([1, 2, 3], pa.int32())})
        buf = io.BytesIO()
        with pa.ipc.new_stream(buf, t.schema) as writer:
            writer.write_table(t)
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT ArrowStream",
                                  "database": db}, body=buf.getvalue())
        assert r.status == 200, r
        assert q(port, db, f"SELECT sum(id), sum(qty) FROM {sales}") == "33\t6\n"

    @pytest.mark.parametrize(("encoding", "compress"), [
        ("gzip", gzip.compress), ("zstd", zstd.compress), ("lz4", lz4.frame.compress),
        ("deflate", zlib.compress),
    ])
    def test_a_compressed_request_body_is_decoded(self, port, db, sales, encoding, compress):
        data = "".join(f"{i},s{i},{i}\n" for i in range(1000)).encode()
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT CSV", "database": db},
                    body=compress(data), headers={"Content-Encoding": encoding})
        assert r.status == 200, r
        assert q(port, db, f"SELECT count(), sum(qty) FROM {sales}") == "1000\t499500\n"

    def test_a_compressed_query_body_is_decoded(self, port):
        r = request(port, body=gzip.compress(b"SELECT 40 + 2"),
                    headers={"Content-Encoding": "gzip"})
        assert (r.status, r.body) == (200, b"42\n")

    def test_a_body_that_does_not_decompress_is_an_error(self, port):
        r = request(port, body=b"definitely not gzip", headers={"Content-Encoding": "gzip"})
        assert r.status == 500
        assert r.headers["X-ClickHouse-Exception-Code"] == "432"

    def test_an_unknown_content_encoding_is_an_error(self, port):
        r = request(port, body=b"SELECT 1", headers={"Content-Encoding": "snappy-ish"})
        assert r.status == 500 and b"Content-Encoding" in r.body

    def test_a_chunked_request_body(self, port, db, sales):
        chunks = (f"{i},c{i},{i}\n".encode() for i in range(500))
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT CSV", "database": db},
                    body=chunks)
        assert r.status == 200, r
        assert q(port, db, f"SELECT count(), sum(qty) FROM {sales}") == "500\t124750\n"

    def test_a_chunked_query_in_the_body(self, port):
        r = request(port, body=iter([b"SELECT count() ", b"FROM numbers(", b"77)"]))
        assert (r.status, r.body) == (200, b"77\n")

    def test_a_chunked_and_gzipped_body(self, port, db, sales):
        blob = gzip.compress(b"".join(f"{i},z,2\n".encode() for i in range(300)))
        parts = [blob[i:i + 100] for i in range(0, len(blob), 100)]
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT CSV", "database": db},
                    body=iter(parts), headers={"Content-Encoding": "gzip"})
        assert r.status == 200, r
        assert q(port, db, f"SELECT sum(qty) FROM {sales}") == "600\n"

    def test_malformed_data_is_a_client_error_and_nothing_is_written(self, port, db, sales):
        r = request(port, params={"query": f"INSERT INTO {sales} FORMAT CSV", "database": db},
                    body=b"1,a,1\nnot-a-number,b,2\n")
        assert r.status >= 400
        assert r.text.startswith("Code: ")
        assert q(port, db, f"SELECT count() FROM {sales}") == "0\n"


class TestHttpErrors:
    def test_get_with_a_write_statement_is_refused_as_readonly(self, port, db):
        r = request(port, "GET", params={"query": "CREATE TABLE x (a UInt8) ENGINE = Memory",
                                         "database": db})
        assert r.status == 403
        assert r.headers["X-ClickHouse-Exception-Code"] == "164"
        assert r.text.startswith("Code: 164. DB::Exception:") and "(READONLY)" in r.text
        assert q(port, db, f"EXISTS TABLE {db}.x") == "0\n"

    def test_readonly_parameter_refuses_writes_over_post(self, port, db):
        r = request(port, params={"readonly": "1", "database": db},
                    body=b"CREATE TABLE x (a UInt8) ENGINE = Memory")
        assert r.status == 403 and r.headers["X-ClickHouse-Exception-Code"] == "164"

    def test_an_unknown_table_is_404_with_code_60(self, port):
        r = request(port, "GET", params={"query": "SELECT * FROM no_such_table"})
        assert r.status == 404
        assert r.headers["X-ClickHouse-Exception-Code"] == "60"
        assert r.text.startswith("Code: 60. DB::Exception: ")
        assert "(UNKNOWN_TABLE) (version " in r.text

    def test_a_syntax_error_is_400_with_code_62(self, port):
        r = request(port, body=b"SELEC 1")
        assert r.status == 400
        assert r.headers["X-ClickHouse-Exception-Code"] == "62"
        assert "(SYNTAX_ERROR)" in r.text

    def test_an_empty_post_is_a_syntax_error(self, port):
        r = request(port, body=b"")
        assert r.status == 400 and r.headers["X-ClickHouse-Exception-Code"] == "62"

    def test_an_unknown_function_is_404(self, port):
        r = request(port, body=b"SELECT no_such_function(1)")
        assert (r.status, r.headers["X-ClickHouse-Exception-Code"]) == (404, "46")

    def test_a_runtime_error_is_500_with_its_code(self, port):
        r = request(port, body=b"SELECT throwIf(1, 'boom')")
        assert r.status == 500
        assert r.headers["X-ClickHouse-Exception-Code"] == "395"
        assert "boom" in r.text

    def test_an_unknown_path_is_404(self, port):
        r = request(port, "GET", "/no/such/handler", params={"query": "SELECT 1"})
        assert r.status == 404
        assert b"/no/such/handler" in r.body
        assert r.headers["X-ClickHouse-Exception-Code"] == "0"

    def test_native_block_compression_is_refused_with_a_clear_message(self, port):
        r = request(port, params={"compress": "1"}, body=b"SELECT 1")
        assert r.status >= 400 and b"Content-Encoding" in r.body

    def test_access_control_statements_are_skipped_with_200(self, port):
        for sql in (b"CREATE ROLE IF NOT EXISTS analyst",
                    b"GRANT SELECT ON *.* TO analyst",
                    b"CREATE USER IF NOT EXISTS bi IDENTIFIED BY 'x'"):
            r = request(port, body=sql)
            assert (r.status, r.body) == (200, b""), sql

    def test_the_server_keeps_serving_after_a_malformed_query(self, port):
        bad = request(port, body=b"SELECT (((1")
        assert bad.status == 400 and bad.text.startswith("Code: 62. DB::Exception:")
        garbage = request(port, body=bytes(range(256)))
        assert garbage.status == 400 and garbage.body.startswith(b"Code: 62. DB::Exception:")
        assert request(port, body=b"SELECT 'alive'").body == b"alive\n"
        assert request(port, "GET", "/ping").body == b"Ok.\n"


# --- authentication -----------------------------------------------------------------------
PASSWORD = "s3cret-test"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[WarehouseProcess]:
    server = WarehouseProcess(tmp_path_factory.mktemp("auth") / "data", password=PASSWORD)
    server.start()
    yield server
    server.stop()


class TestAuthentication:
    def test_a_wrong_password_is_403_with_code_516(self, auth_server):
        r = request(auth_server.port, body=b"SELECT 1", headers={
            "Authorization": "Basic " + base64.b64encode(b"default:wrong").decode()})
        assert r.status == 403
        assert r.headers["X-ClickHouse-Exception-Code"] == "516"
        assert "(AUTHENTICATION_FAILED)" in r.text

    def test_no_password_is_401_with_code_194(self, auth_server):
        r = request(auth_server.port, body=b"SELECT 1")
        assert r.status == 401
        assert r.headers["X-ClickHouse-Exception-Code"] == "194"

    def test_an_unknown_user_is_refused(self, auth_server):
        r = request(auth_server.port, body=b"SELECT 1",
                    headers={"X-ClickHouse-User": "mallory", "X-ClickHouse-Key": PASSWORD})
        assert (r.status, r.headers["X-ClickHouse-Exception-Code"]) == (403, "516")

    def test_basic_auth_with_the_password_is_accepted(self, auth_server):
        token = base64.b64encode(f"default:{PASSWORD}".encode()).decode()
        r = request(auth_server.port, body=b"SELECT 1",
                    headers={"Authorization": f"Basic {token}"})
        assert (r.status, r.body) == (200, b"1\n")

    def test_clickhouse_user_and_key_headers_are_accepted(self, auth_server):
        r = request(auth_server.port, body=b"SELECT 2",
                    headers={"X-ClickHouse-User": "default", "X-ClickHouse-Key": PASSWORD})
        assert (r.status, r.body) == (200, b"2\n")

    def test_user_and_password_url_parameters_are_accepted(self, auth_server):
        r = request(auth_server.port, "GET", params={"query": "SELECT 3", "user": "default",
                                                     "password": PASSWORD})
        assert (r.status, r.body) == (200, b"3\n")

    def test_ping_needs_no_password(self, auth_server):
        assert request(auth_server.port, "GET", "/ping").body == b"Ok.\n"

    def test_clickhouse_connect_with_the_password_works(self, auth_server):
        c = new_client(auth_server.port, password=PASSWORD)
        try:
            assert c.query("SELECT 42").result_rows == [(42,)]
        finally:
            c.close()

    def test_clickhouse_connect_with_a_wrong_password_raises(self, auth_server):
        with pytest.raises(DatabaseError) as info:
            new_client(auth_server.port, password="not-it").query("SELECT 1")
        assert "516" in str(info.value)


# --- two writer processes -----------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys
    import clickhouse_connect

    port, db, worker, loops, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    c = clickhouse_connect.get_client(host="127.0.0.1", port=int(port), username="default",
                                      password="", database=db)
    for i in range(loops):
        base = (worker * loops + i) * batch
        c.insert("events", [[base + j, worker] for j in range(batch)],
                 column_names=["id", "worker"])
        mine = c.query("SELECT count() FROM events WHERE worker = {w:UInt8}",
                       parameters={"w": worker}).result_rows[0][0]
        if mine != (i + 1) * batch:
            sys.exit(f"worker {worker}: {mine} rows after {i + 1} batches")
    c.close()
""")


def test_two_processes_inserting_and_querying_at_once(port, db, client):
    client.command("CREATE TABLE events (id UInt64, worker UInt8) ENGINE = MergeTree "
                   "ORDER BY id")
    loops, batch = 50, 200
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(port), db, str(w), str(loops),
                               str(batch)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for w in (0, 1)]
    results = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        results.append((p.returncode, err.decode()[-2000:]))
    assert results == [(0, ""), (0, "")]
    assert client.query("SELECT count(), uniqExact(id), countIf(worker = 1) FROM events"
                        ).result_rows == [(2 * loops * batch, 2 * loops * batch, loops * batch)]
