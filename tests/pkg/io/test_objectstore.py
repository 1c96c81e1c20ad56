"""The object store's buckets through the minio SDK, against moto's S3 server on loopback;
the local-directory lake; the settings behind both."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.versioningconfig import SUSPENDED, VersioningConfig
from moto.server import ThreadedMotoServer

from conftest import free_port
from retail.io.lake import LakeWriter
from retail.io.objectstore import (EXPIRE_RULE, NONCURRENT_RULE, ObjectStoreError,
                                   bucket_status, connect, init_buckets)
from retail.settings import LakeSettings, SettingsError, load_settings


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_settings(endpoint: str, **over) -> LakeSettings:
    """Bucket names of the test's own (the server lives for the module)."""
    tag = uuid.uuid4().hex[:8]
    names = {f"{role}_bucket": f"t-{tag}-{role}" for role in
             ("raw", "processed", "models", "features")}
    return LakeSettings(**{"root": f"s3://t-{tag}-raw/events", "s3_endpoint": endpoint,
                           "s3_access_key": "test-key", "s3_secret_key": "test-secret",
                           "s3_tls": False, **names, **over})


def lifecycle(client: Minio, bucket: str) -> dict[str, tuple]:
    """rule id -> (prefix, expiration days, noncurrent days), read back from the store."""
    config = client.get_bucket_lifecycle(bucket)
    return {r.rule_id: (r.rule_filter.prefix, r.expiration and r.expiration.days,
                        r.noncurrent_version_expiration
                        and r.noncurrent_version_expiration.noncurrent_days)
            for r in (config.rules if config else [])}


def test_init_creates_the_buckets_with_the_configured_versioning_and_retention(endpoint):
    s = s3_settings(endpoint, raw_retention_days=30, processed_retention_days=400,
                    features_retention_days=60, noncurrent_retention_days=3)
    report = init_buckets(s)
    client = connect(s)
    assert report.changed and all(b.done[0] == "create" for b in report.buckets)
    versioning = {b: client.get_bucket_versioning(b).status_string for b in
                  (s.raw_bucket, s.processed_bucket, s.models_bucket, s.features_bucket)}
    assert versioning == {s.raw_bucket: "Off", s.processed_bucket: "Enabled",
                          s.models_bucket: "Enabled", s.features_bucket: "Off"}
    assert lifecycle(client, s.raw_bucket) == {EXPIRE_RULE: ("", 30, None)}
    assert lifecycle(client, s.processed_bucket) == {EXPIRE_RULE: ("", 400, None),
                                                     NONCURRENT_RULE: ("", None, 3)}
    assert lifecycle(client, s.models_bucket) == {NONCURRENT_RULE: ("", None, 3)}
    assert lifecycle(client, s.features_bucket) == {EXPIRE_RULE: ("", 60, None)}


def test_a_second_init_changes_nothing_and_says_so(endpoint):
    s = s3_settings(endpoint)
    init_buckets(s)
    client = connect(s)
    before = {b: lifecycle(client, b) for b in (s.raw_bucket, s.processed_bucket)}
    again = init_buckets(s)
    assert not again.changed
    assert [b.done for b in again.buckets] == [[], [], [], []]
    assert {b: lifecycle(client, b) for b in (s.raw_bucket, s.processed_bucket)} == before
    assert before[s.raw_bucket] == {EXPIRE_RULE: ("", 90, None)}
    assert before[s.processed_bucket] == {EXPIRE_RULE: ("", 730, None),
                                          NONCURRENT_RULE: ("", None, 7)}


def test_init_repairs_drift_keeps_an_operators_rules_and_leaves_extra_versioning(endpoint):
    s = s3_settings(endpoint)
    init_buckets(s)
    client = connect(s)
    client.set_bucket_versioning(s.processed_bucket, VersioningConfig(SUSPENDED))
    client.set_bucket_versioning(s.raw_bucket, VersioningConfig(ENABLED))
    client.set_bucket_lifecycle(s.raw_bucket, LifecycleConfig([
        Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=EXPIRE_RULE,
             expiration=Expiration(days=5)),
        Rule(ENABLED, rule_filter=Filter(prefix="tmp/"), rule_id="ops-tmp",
             expiration=Expiration(days=1))]))
    longer = s.model_copy(update={"raw_retention_days": 120})
    report = {b.role: b for b in init_buckets(longer).buckets}
    assert report["processed"].done == ["enable versioning"]
    assert report["raw"].done == ["set lifecycle: expire after 120 d"]
    assert report["models"].done == report["features"].done == []
    assert client.get_bucket_versioning(s.processed_bucket).status == ENABLED
    assert lifecycle(client, s.raw_bucket) == {EXPIRE_RULE: ("", 120, None),
                                               "ops-tmp": ("tmp/", 1, None)}
    assert client.get_bucket_versioning(s.raw_bucket).status == ENABLED  # not suspended


def test_status_shows_missing_buckets_then_objects_counted_up_to_the_limit(endpoint):
    s = s3_settings(endpoint)
    _, before = bucket_status(s)
    assert [(b.state.exists, b.pending[0]) for b in before] == [(False, "create")] * 4
    init_buckets(s)
    client = connect(s)
    for i in range(3):
        client.put_object(s.raw_bucket, f"x/{i}.bin", pa.BufferReader(b"12345"), 5)
    _, after = bucket_status(s, max_objects=2)
    raw = after[0]
    assert (raw.state.exists, raw.pending, raw.objects, raw.size, raw.truncated) == \
        (True, [], 2, 10, True)
    _, whole = bucket_status(s)
    assert (whole[0].objects, whole[0].size, whole[0].truncated) == (3, 15, False)
    assert [b.state.versioning for b in whole] == ["Off", "Enabled", "Enabled", "Off"]


@pytest.mark.parametrize(("over", "said"), [
    ({"s3_endpoint": None}, "RETAIL_LAKE__S3_ENDPOINT is required"),
    ({"s3_access_key": None}, "RETAIL_LAKE__S3_ACCESS_KEY required"),
    ({"s3_access_key": None, "s3_secret_key": ""},
     "RETAIL_LAKE__S3_ACCESS_KEY and RETAIL_LAKE__S3_SECRET_KEY required"),
    ({"s3_tls": True}, "RETAIL_LAKE__S3_ENDPOINT is http:// but RETAIL_LAKE__S3_TLS is true"),
    ({"s3_endpoint": "http://127.0.0.1:9000/bucket"}, "without a path"),
])
def test_missing_or_contradictory_settings_fail_before_any_call(over, said):
    with pytest.raises(SettingsError, match=said):
        init_buckets(s3_settings("http://127.0.0.1:9", **over))


def test_an_endpoint_where_nothing_listens_fails_fast_naming_the_setting():
    started = time.monotonic()
    with pytest.raises(ObjectStoreError, match="cannot reach the object store at "
                       r"http://127.0.0.1:\d+ .*check RETAIL_LAKE__S3_ENDPOINT"):
        init_buckets(s3_settings(f"http://127.0.0.1:{free_port()}"))
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def endpoint_with_auth():
    """moto enforcing credentials (INITIAL_NO_AUTH_ACTION_COUNT=0): no key is known to it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], env={"INITIAL_NO_AUTH_ACTION_COUNT": "0",
                                              "PATH": "/usr/bin:/bin"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert proc.poll() is None and time.monotonic() < deadline, "moto did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_keys_the_store_refuses_fail_naming_the_key_settings(endpoint_with_auth):
    with pytest.raises(ObjectStoreError, match="refused HEAD bucket .*AccessDenied.*check "
                       "RETAIL_LAKE__S3_ACCESS_KEY and RETAIL_LAKE__S3_SECRET_KEY"):
        init_buckets(s3_settings(endpoint_with_auth))


def test_a_local_lake_gets_one_directory_per_bucket_and_no_lifecycle(tmp_path):
    s = LakeSettings(root=str(tmp_path / "lake"))
    first = init_buckets(s)
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == [
        "retail-features", "retail-models", "retail-processed-data", "retail-raw-data"]
    assert [b.done for b in first.buckets] == [["create"]] * 4
    assert "versioning and lifecycle (retention) do not apply" in first.notes[0]
    assert not init_buckets(s).changed
    (tmp_path / "lake" / "retail-models" / "m.bin").write_bytes(b"123")
    where, status = bucket_status(s)
    assert where == str(tmp_path / "lake")
    assert [(b.state.exists, b.objects, b.size, b.pending) for b in status][2] == \
        (True, 1, 3, [])


@pytest.mark.parametrize(("var", "value", "said"), [
    ("RETAIL_LAKE__RAW_BUCKET", "Retail_Raw", "is not a valid S3 bucket name"),
    ("RETAIL_LAKE__MODELS_BUCKET", "ab", "3-63 characters"),
    ("RETAIL_LAKE__FEATURES_BUCKET", "retail..features", "no '..'"),
    ("RETAIL_LAKE__PROCESSED_BUCKET", "10.0.0.1", "not an IP address"),
    ("RETAIL_LAKE__RAW_BUCKET", "xn--retail", "no prefix xn--"),
    ("RETAIL_LAKE__RAW_BUCKET", "retail-models", "must differ"),
    ("RETAIL_LAKE__RAW_RETENTION_DAYS", "0", "greater than or equal to 1"),
    ("RETAIL_LAKE__NONCURRENT_RETENTION_DAYS", "0", "greater than or equal to 1"),
])
def test_bad_bucket_settings_are_refused_naming_the_variable(monkeypatch, var, value, said):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=said) as err:
        load_settings()
    assert var.rsplit("__", 1)[1] in str(err.value)


def test_the_lake_writer_reads_back_parquet_from_the_initialised_raw_bucket(endpoint):
    # moto's servers in one process share their buckets: a prefix of the test's own.
    prefix = f"t-{uuid.uuid4().hex[:8]}/events"
    s = LakeSettings(root=f"s3://retail-raw-data/{prefix}", s3_endpoint=endpoint,
                     s3_access_key="test-key", s3_secret_key="test-secret", s3_tls=False)
    init_buckets(s)
    times = [datetime(2026, 6, 1, 23, 59, tzinfo=timezone.utc),
             datetime(2026, 6, 2, 0, 1, tzinfo=timezone.utc)]
    table = pa.table({"event_id": ["e1", "e2"], "event_time": pa.array(times, pa.timestamp(
        "us", tz="UTC")), "quantity": [3, 4]})
    writer = LakeWriter(s)
    writer.write("retail-sales-transactions", table, "batch-1")
    back = writer.read("retail-sales-transactions").sort_by("event_id")
    assert back["quantity"].to_pylist() == [3, 4]
    assert back["day"].to_pylist() == [1, 2]
    keys = sorted(o.object_name for o in connect(s).list_objects(
        "retail-raw-data", prefix=prefix, recursive=True) if o.object_name.endswith(".parquet"))
    assert keys == [f"{prefix}/retail-sales-transactions/year=2026/month=06/day={d}/batch-1.parquet"
                    for d in ("01", "02")]
