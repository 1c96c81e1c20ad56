"""The lake writer on a local directory and on S3 (moto's S3 server on loopback)."""

from __future__ import annotations

from datetime import date

import boto3
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from conftest import free_port
from retail.io.lake import LakeWriter
from retail.settings import LakeSettings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import ParquetSink, backfill


@pytest.fixture(scope="module")
def s3_lake():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test-key", aws_secret_access_key="test-secret"
                 ).create_bucket(Bucket="retail-raw-data")
    yield LakeSettings(root="s3://retail-raw-data/events", s3_endpoint=endpoint,
                       s3_access_key="test-key", s3_secret_key="test-secret", s3_tls=False)
    server.stop()


def two_days():
    config = SimConfig(seed=4, rate=10, days=2, start=date(2026, 6, 1))
    return Simulator(generate_catalog(2, 80, 4), config)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_backfill_lands_hive_partitioned_and_reads_back_whole(where, tmp_path, request):
    settings = LakeSettings(root=str(tmp_path / "lake")) if where == "local" else \
        request.getfixturevalue("s3_lake")
    writer = LakeWriter(settings)
    summary = backfill(two_days(), ParquetSink(writer))
    sales = writer.read("retail-sales-transactions")
    assert sales.num_rows == summary.events["sales_transaction"] > 0
    assert {"year", "month", "day"} <= set(sales.column_names)
    days = pc.strftime(sales["event_time"], format="%d").to_pylist()
    assert [int(d) for d in days] == [int(d) for d in sales["day"].to_pylist()]
    assert writer.rows_written == summary.total


def test_rewriting_the_same_batch_overwrites_instead_of_duplicating(tmp_path):
    writer = LakeWriter(LakeSettings(root=str(tmp_path / "lake")))
    backfill(two_days(), ParquetSink(writer))
    first = writer.read("retail-inventory-updates").num_rows
    backfill(two_days(), ParquetSink(writer))
    assert writer.read("retail-inventory-updates").num_rows == first


def test_master_data_lands_beside_the_events(tmp_path):
    sim = two_days()
    writer = LakeWriter(LakeSettings(root=str(tmp_path / "lake")))
    path = writer.write_reference("stores", sim.catalog.stores)
    assert path.endswith("reference/stores.parquet")
    assert pq.read_table(path).equals(sim.catalog.stores)
