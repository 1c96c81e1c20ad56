"""Where a built day goes, without Spark: the lake folder of the features bucket, and only
the rows the warehouse does not hold as they are; and which days share a Spark plan."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from minio import Minio
from moto.server import ThreadedMotoServer

from retail.features.build import TABLE, features_root, plans, write_changed, write_lake
from retail.features.definitions import COLUMNS
from retail.settings import LakeSettings
from tests.conftest import free_port
from tests.pkg.features.test_definitions import store_rows

DAY = date(2024, 5, 1)


class HeldRows:
    """A warehouse that holds ``held`` for the day and records what is inserted."""

    def __init__(self, held: pa.Table) -> None:
        self.held, self.inserted = held, []

    def query_arrow(self, sql: str, parameters: dict) -> pa.Table:
        assert f"FROM {TABLE} FINAL" in sql and parameters == {"d": 20240501}
        return self.held

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> int:
        self.inserted.append((table, data))
        return data.num_rows


def test_only_new_and_changed_rows_are_written():
    rows = store_rows(DAY, [5, 6, 7])  # three days of one pair stand in for three pairs
    held = store_rows(DAY, [5, 60])  # the first as it is, the second changed, the third new
    wh = HeldRows(held)
    assert write_changed(wh, DAY, rows) == 2
    [(table, data)] = wh.inserted
    assert table == TABLE and data["demand"].to_pylist() == [6, 7]
    again = HeldRows(rows)
    assert write_changed(again, DAY, rows) == 0 and again.inserted == []


def test_a_null_differs_from_any_value():
    rows = store_rows(DAY, [5])
    lag = [c.name for c in COLUMNS].index("demand_lag_1")
    held = rows.set_column(lag, "demand_lag_1", pa.array([None], pa.int64()))
    assert write_changed(HeldRows(held), DAY, rows) == 1


def test_a_directory_lake_gets_a_folder_named_like_the_bucket(tmp_path):
    settings = LakeSettings(root=str(tmp_path / "lake"))
    assert features_root(settings)[1] == str(tmp_path / "lake" / "retail-features")
    rows = store_rows(DAY, [5, 6])
    path = write_lake(settings, DAY, rows)
    assert path == str(tmp_path / "lake/retail-features/features/date=2024-05-01/part-0.parquet")
    write_lake(settings, DAY, rows.slice(0, 1))  # a re-run replaces the day
    assert pq.read_table(path).num_rows == 1


def test_an_s3_lake_writes_into_the_features_bucket():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        prefix = f"f{port}"  # moto's store is shared by every server in this process
        settings = LakeSettings(root=f"s3://{prefix}-raw/events", raw_bucket=f"{prefix}-raw",
                                processed_bucket=f"{prefix}-processed",
                                models_bucket=f"{prefix}-models",
                                features_bucket=f"{prefix}-features",
                                s3_endpoint=f"http://127.0.0.1:{port}", s3_access_key="k",
                                s3_secret_key="s", s3_tls=False)
        Minio(f"127.0.0.1:{port}", "k", "s", secure=False).make_bucket(f"{prefix}-features")
        fs, root = features_root(settings)  # the bucket, as `retail lake init` makes it
        assert root == f"{prefix}-features"
        path = write_lake(settings, DAY, store_rows(DAY, [5]))
        assert path == f"{prefix}-features/features/date=2024-05-01/part-0.parquet"
        assert pq.read_table(path, filesystem=fs).num_rows == 1
    finally:
        server.stop()


class Snapshots:
    """A warehouse whose closed days each hold ``pairs`` end-of-day snapshot rows."""

    def __init__(self, pairs: int) -> None:
        self.pairs = pairs

    def query_rows(self, sql: str, parameters: dict) -> list[tuple]:
        assert "record_type = 'snapshot'" in sql
        return [(k, self.pairs) for k in parameters["keys"]]


def test_days_share_a_plan_up_to_seven_within_35_days_and_the_rows_budget():
    week = [DAY + timedelta(days=k) for k in range(10)]
    assert [len(g) for g in plans(Snapshots(40), week)] == [7, 3]
    weekly = [DAY + timedelta(days=7 * k) for k in range(6)]  # 36 days: the last alone
    assert plans(Snapshots(40), list(reversed(weekly))) == [weekly[:5], weekly[5:]]
    # a chain of the design's size: pairs x span stays within 250,000 rows
    assert [len(g) for g in plans(Snapshots(100_000), week)] == [2, 2, 2, 2, 2]
    assert [len(g) for g in plans(Snapshots(400_000), week[:3])] == [1, 1, 1]
