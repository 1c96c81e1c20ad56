"""The pinned schema files: found in the mirror, the cache or upstream, and always verified."""

from __future__ import annotations

import urllib.error

import pytest

from tests.k8s import schemas
from tests.k8s.schemas import ENV, PINNED, SchemaError, crd_schemas, git_blob_id, schema_path

KAFKA_USER = "strimzi-kafka-operator/044-Crd-kafkauser.yaml"


@pytest.fixture(scope="module")
def kafka_user_bytes() -> bytes:
    """The genuine file, from wherever this run gets its schemas (mirror or upstream)."""
    return schema_path(KAFKA_USER).read_bytes()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No mirror and an empty cache under ``tmp_path``; returns the cache directory."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "retail-platform" / "k8s-schemas"


def no_download(url: str) -> bytes:
    raise AssertionError(f"unexpected download of {url}")


def test_git_blob_id_is_what_git_hash_object_gives():
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.mark.parametrize("rel", sorted(PINNED))
def test_every_pinned_file_is_available_and_matches_its_blob(rel):
    assert git_blob_id(schema_path(rel).read_bytes()) == PINNED[rel].blob


def test_a_mirror_copy_is_used_when_it_matches(tmp_path, monkeypatch, kafka_user_bytes):
    (tmp_path / KAFKA_USER).parent.mkdir(parents=True)
    (tmp_path / KAFKA_USER).write_bytes(kafka_user_bytes)
    monkeypatch.setenv(ENV, str(tmp_path))
    monkeypatch.setattr(schemas, "_download", no_download)
    assert schema_path(KAFKA_USER) == tmp_path / KAFKA_USER


def test_a_corrupted_mirror_copy_is_refused(tmp_path, monkeypatch, kafka_user_bytes):
    (tmp_path / KAFKA_USER).parent.mkdir(parents=True)
    (tmp_path / KAFKA_USER).write_bytes(kafka_user_bytes.replace(b"scram-sha-512", b"plain", 1))
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(SchemaError) as refused:
        schema_path(KAFKA_USER)
    message = str(refused.value)
    assert KAFKA_USER in message and PINNED[KAFKA_USER].blob in message and ENV in message


def test_a_file_missing_from_the_mirror_comes_from_the_cache(
        tmp_path, monkeypatch, isolated, kafka_user_bytes):
    monkeypatch.setenv(ENV, str(tmp_path / "empty-mirror"))
    (isolated / KAFKA_USER).parent.mkdir(parents=True)
    (isolated / KAFKA_USER).write_bytes(kafka_user_bytes)
    monkeypatch.setattr(schemas, "_download", no_download)
    assert schema_path(KAFKA_USER) == isolated / KAFKA_USER


def test_a_corrupted_cached_copy_is_refused(monkeypatch, isolated, kafka_user_bytes):
    (isolated / KAFKA_USER).parent.mkdir(parents=True)
    (isolated / KAFKA_USER).write_bytes(kafka_user_bytes[:-10])
    monkeypatch.setattr(schemas, "_download", no_download)
    with pytest.raises(SchemaError, match="the cached copy .* has git blob"):
        schema_path(KAFKA_USER)


def test_a_missing_file_is_downloaded_from_the_pinned_commit_once(
        monkeypatch, isolated, kafka_user_bytes):
    urls = []
    monkeypatch.setattr(schemas, "_download", lambda url: urls.append(url) or kafka_user_bytes)
    assert schema_path(KAFKA_USER) == isolated / KAFKA_USER
    assert schema_path(KAFKA_USER).read_bytes() == kafka_user_bytes
    assert urls == ["https://raw.githubusercontent.com/strimzi/strimzi-kafka-operator/"
                    "6c7b43c4af0db547c10463ba09d1dfa6f5e156a0/install/cluster-operator/"
                    "044-Crd-kafkauser.yaml"]


def test_a_download_with_the_wrong_content_is_refused_and_not_cached(monkeypatch, isolated):
    monkeypatch.setattr(schemas, "_download", lambda url: b"<html>rate limited</html>")
    with pytest.raises(SchemaError, match=PINNED[KAFKA_USER].blob):
        schema_path(KAFKA_USER)
    assert not (isolated / KAFKA_USER).exists()


def test_offline_without_a_mirror_the_error_says_to_set_the_variable(monkeypatch, isolated):
    def offline(url):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(schemas, "_download", offline)
    with pytest.raises(SchemaError) as refused:
        schema_path(KAFKA_USER)
    message = str(refused.value)
    assert f"set {ENV}" in message and PINNED[KAFKA_USER].url in message and KAFKA_USER in message


def test_an_unpinned_file_is_refused_with_the_pinned_ones():
    with pytest.raises(SchemaError, match="not a pinned schema; pinned: airflow/values"):
        schema_path("strimzi-kafka-operator/046-Crd-kafkaconnect.yaml")


def test_crd_schemas_hold_the_served_version_of_every_pinned_crd():
    assert sorted(crd_schemas()) == [
        ("clickhouse-keeper.altinity.com/v1", "ClickHouseKeeperInstallation"),
        ("clickhouse.altinity.com/v1", "ClickHouseInstallation"),
        ("kafka.strimzi.io/v1", "Kafka"),
        ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaTopic"),
        ("kafka.strimzi.io/v1", "KafkaUser"),
        ("minio.min.io/v2", "Tenant"),
        ("sparkoperator.k8s.io/v1beta2", "ScheduledSparkApplication"),
        ("sparkoperator.k8s.io/v1beta2", "SparkApplication"),
    ]
    assert all(schema["type"] == "object" and "spec" in schema["properties"]
               for schema in crd_schemas().values())


def test_a_version_the_crd_no_longer_serves_has_no_schema(monkeypatch):
    crd = {"kind": "CustomResourceDefinition", "spec": {
        "group": "example.com", "names": {"kind": "Widget"}, "versions": [
            {"name": "v1", "served": True, "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v1beta1", "served": False, "schema": {"openAPIV3Schema": {}}}]}}
    monkeypatch.setattr(schemas, "crds", lambda: (crd,))
    assert crd_schemas() == {("example.com/v1", "Widget"): {"type": "object"}}
