"""``retail batch daily-etl`` on a small chain, against the local warehouse server and a lake
directory: a closed day holds every valid event once, however it came, and a second run
changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from retail.contracts.columnar import encode_json, json_ready
from tests.conftest import retail_cli as retail

pytestmark = pytest.mark.integration

CHAIN = ["--stores", "2", "--products", "20", "--rate", "8"]
SALES_TOPIC = "retail-sales-transactions"


@pytest.fixture
def env(migrated, cli_env) -> SimpleNamespace:
    start = datetime.now(UTC).date() - timedelta(days=8)
    return SimpleNamespace(wh=migrated, lake=cli_env, start=start,
                           day=start + timedelta(days=1))



def totals(wh, day: date) -> tuple:
    key = int(day.strftime("%Y%m%d"))
    facts = wh.query_rows("SELECT count(), sum(quantity), sum(revenue) FROM fact_sales "
                          "WHERE date_key = {d:UInt32}", {"d": key})[0]
    agg = wh.query_rows("SELECT sum(units), sum(revenue) FROM agg_sales_daily "
                        "WHERE date_key = {d:UInt32}", {"d": key})[0]
    inv = wh.query_rows("SELECT count() FROM fact_inventory WHERE date_key = {d:UInt32} "
                        "AND record_type = 'movement'", {"d": key})[0][0]
    return facts, agg, inv


def take_late(env, n: int) -> pa.Table:
    """Move ``n`` sales of the day out of the lake into quarantine as the stream's late
    records (the stream writes late events to neither facts nor lake)."""
    folder = env.lake / SALES_TOPIC / f"year={env.day:%Y}" / f"month={env.day:%m}" / \
        f"day={env.day:%d}"
    for path in sorted(Path(folder).glob("sales_transaction-*.parquet")):
        table = pq.read_table(path)
        hour = pc.hour(table["event_time"])
        chosen = pc.and_(pc.greater_equal(hour, 14), pc.less(hour, 18))  # D in any zone
        late = table.filter(chosen).slice(0, n)
        if late.num_rows == n:
            break
    assert late.num_rows == n
    keep = pc.invert(pc.is_in(table["event_id"], value_set=late["event_id"]))
    pq.write_table(table.filter(keep), path)
    payloads = [v.decode() for v in encode_json(json_ready(late))]  # as the producer sent them
    env.wh.insert_arrow("quarantine_events", pa.table({
        "source": ["stream"] * n, "topic": [SALES_TOPIC] * n,
        "partition": pa.array([0] * n, pa.int32()), "offset": pa.array(range(n), pa.int64()),
        "key": pa.nulls(n, pa.string()),
        "payload": payloads, "payload_base64": [""] * n,
        "reason": ["late"] * n, "error": ["behind the watermark"] * n,
        "error_field": ["event_time"] * n,
        "event_time": pc.cast(late["event_time"], pa.timestamp("ms", "UTC"))}))
    return late


def test_a_day_from_the_lake_and_the_quarantine_holds_every_event_once(env):
    retail("simulate", "--sink", "parquet", *CHAIN, "--days", "3", "--start", str(env.start))
    retail("warehouse", "load-dims", "--stores", "2", "--products", "20")
    late = take_late(env, 5)
    out = retail("batch", "daily-etl", "--date", str(env.day))
    assert "balanced" in out and "NOT balanced" not in out
    (count, units, revenue), (agg_units, agg_revenue), inventory = totals(env.wh, env.day)
    assert count > 50 and inventory > 0
    assert (units, revenue) == (agg_units, agg_revenue)  # the views saw each line once
    ids = [str(i) for i in late["event_id"].to_pylist()]
    found = env.wh.query_rows("SELECT count() FROM fact_sales WHERE toString(event_id) IN "
                              "{ids:Array(String)}", {"ids": ids})[0][0]
    assert found == 5
    row = env.wh.query_rows("SELECT details FROM job_runs FINAL WHERE job = 'daily_etl' "
                            "AND status = 'succeeded'")
    assert len(row) == 1 and '"late": 5' in row[0][0]
    processed = list((env.lake / "retail-processed-data" / "sales_transaction").glob(f"date={env.day}/*"))
    assert len(processed) == 1 and pq.read_table(processed[0]).num_rows == count

    snapshot = snapshot_rows(env.wh, env.day)
    assert snapshot and all(on_hand == stock for _, _, on_hand, _, _, stock in snapshot)
    assert any(cover is not None for *_, cover, _ in snapshot)

    before = totals(env.wh, env.day)
    again = retail("batch", "daily-etl", "--date", str(env.day))
    assert totals(env.wh, env.day) == before  # a second run changes nothing
    assert snapshot_rows(env.wh, env.day) == snapshot
    assert "NOT balanced" not in again


def snapshot_rows(wh, day: date) -> list[tuple]:
    """The day's snapshot beside the stock the warehouse's own view gives for that day."""
    return wh.query_rows(
        "SELECT s.store_id, s.product_id, s.quantity_on_hand, s.on_order, s.days_of_cover, "
        "v.on_hand FROM (SELECT * FROM fact_inventory FINAL WHERE record_type = 'snapshot' "
        "AND date_key = {d:UInt32}) AS s INNER JOIN stock_as_of(as_of = {day:Date}) AS v "
        "ON v.store_key = s.store_key AND v.product_key = s.product_key "
        "ORDER BY s.store_id, s.product_id", {"d": int(day.strftime("%Y%m%d")), "day": day})


def test_a_backfill_straight_into_the_warehouse_closes_with_nothing_to_add(env):
    retail("simulate", "--sink", "warehouse", *CHAIN, "--days", "3", "--start", str(env.start))
    before = totals(env.wh, env.day)
    out = retail("batch", "daily-etl", "--from", str(env.start), "--to",
                 str(env.start + timedelta(days=2)))
    assert out.count("balanced") == 3 and "NOT balanced" not in out
    assert totals(env.wh, env.day) == before  # the facts had it all: nothing added
    snapshot = snapshot_rows(env.wh, env.day)
    count = env.wh.query_rows("SELECT count() FROM fact_inventory WHERE record_type = "
                              "'snapshot' AND date_key = {d:UInt32}",
                              {"d": int(env.day.strftime("%Y%m%d"))})[0][0]
    retail("batch", "daily-etl", "--date", str(env.day))
    assert snapshot_rows(env.wh, env.day) == snapshot  # the day before D+1's movements
    assert env.wh.query_rows("SELECT count() FROM fact_inventory WHERE record_type = "
                             "'snapshot' AND date_key = {d:UInt32}",
                             {"d": int(env.day.strftime("%Y%m%d"))})[0][0] == count


def test_facts_the_lake_does_not_hold_fail_the_day_naming_the_type(env):
    retail("simulate", "--sink", "warehouse", *CHAIN, "--days", "3", "--start", str(env.start))
    cols = ("transaction_type, store_id, product_id, quantity, unit_price, discount, revenue, "
            "unit_cost, promotion_id, payment_method, customer_id, event_time, date_key")
    env.wh.command(f"INSERT INTO fact_sales (event_id, transaction_id, line_number, {cols}) "
                   f"SELECT generateUUIDv4(), 'extra', 1, {cols} FROM fact_sales "
                   "WHERE date_key = {d:UInt32} LIMIT 1", {"d": int(env.day.strftime("%Y%m%d"))})
    out = retail("batch", "daily-etl", "--date", str(env.day), code=1)
    assert "does not reconcile" in out and "fact_sales" in out


def test_a_day_missing_from_the_lake_fails_with_where_it_looked(env):
    retail("warehouse", "load-dims", "--stores", "2", "--products", "20")
    out = retail("batch", "daily-etl", "--date", str(env.day), code=1)
    assert "the lake holds no events for" in out and str(env.lake) in out


def test_bad_options_are_refused_naming_the_flag(env):
    assert "--to" in retail("batch", "daily-etl", "--from", "2024-03-05", "--to", "2024-03-01",
                            code=2)
    assert "--date" in retail("batch", "daily-etl", "--date", "yesterday", code=2)
    assert "not both" in retail("batch", "daily-etl", "--date", "2024-03-01", "--from",
                                "2024-03-01", "--to", "2024-03-02", code=2)


def test_a_day_on_an_s3_lake_closes_through_lake_init(env, monkeypatch):
    """The same flow on S3 (moto's server on loopback): ``retail lake init`` makes the
    buckets, the simulator writes the raw bucket, the day closes into the processed one."""
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        prefix = f"t{port}"  # moto's store is shared by every server in this process
        for key, value in {"RETAIL_LAKE__ROOT": f"s3://{prefix}-raw/events",
                           "RETAIL_LAKE__RAW_BUCKET": f"{prefix}-raw",
                           "RETAIL_LAKE__PROCESSED_BUCKET": f"{prefix}-processed",
                           "RETAIL_LAKE__MODELS_BUCKET": f"{prefix}-models",
                           "RETAIL_LAKE__FEATURES_BUCKET": f"{prefix}-features",
                           "RETAIL_LAKE__S3_ENDPOINT": f"http://127.0.0.1:{port}",
                           "RETAIL_LAKE__S3_ACCESS_KEY": "test-key",
                           "RETAIL_LAKE__S3_SECRET_KEY": "test-secret",
                           "RETAIL_LAKE__S3_TLS": "false"}.items():
            monkeypatch.setenv(key, value)
        retail("lake", "init")
        retail("simulate", "--sink", "warehouse", *CHAIN, "--days", "3", "--start",
               str(env.start))
        out = retail("batch", "daily-etl", "--date", str(env.day))
        assert "balanced" in out and "NOT balanced" not in out
        from minio import Minio

        names = [o.object_name for o in Minio(f"127.0.0.1:{port}", "test-key", "test-secret",
                                              secure=False).list_objects(
            f"{prefix}-processed", recursive=True)]
        assert f"sales_transaction/date={env.day}/part-0.parquet" in names
    finally:
        server.stop()
