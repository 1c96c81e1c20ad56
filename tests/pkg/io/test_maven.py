"""retail.io.maven (run by the stream processor's image build) against a Maven repository
served from a folder over HTTP (404 for what is not there, as Maven Central answers)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from retail.io import maven as fetch_jars

SPARK = "9.8.7"
POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <properties>{}</properties></project>"""
SPARK_PROPERTIES = ("<kafka.version>3.9.1</kafka.version><pool.major>2</pool.major>"
                    "<commons-pool2.version>${pool.major}.12.1</commons-pool2.version>"
                    "<hadoop.version>3.4.2</hadoop.version>")
HADOOP_PROPERTIES = "<aws-java-sdk-v2.version>2.29.52</aws-java-sdk-v2.version>"
EXPECTED = {  # path in the repository -> file name in --dest
    f"org/apache/spark/spark-sql-kafka-0-10_2.13/{SPARK}": f"spark-sql-kafka-0-10_2.13-{SPARK}.jar",
    f"org/apache/spark/spark-token-provider-kafka-0-10_2.13/{SPARK}":
        f"spark-token-provider-kafka-0-10_2.13-{SPARK}.jar",
    "org/apache/kafka/kafka-clients/3.9.1": "kafka-clients-3.9.1.jar",
    "org/apache/commons/commons-pool2/2.12.1": "commons-pool2-2.12.1.jar",
    "org/apache/hadoop/hadoop-aws/3.4.2": "hadoop-aws-3.4.2.jar",
    "software/amazon/awssdk/bundle/2.29.52": "bundle-2.29.52.jar",
}


class Repo:
    """A folder laid out like a Maven repository; files get a checksum beside them."""

    def __init__(self, root: Path, url: str):
        self.root, self.url = root, url

    def put(self, rel: str, data: bytes, algorithm: str | None = "sha1") -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if algorithm:
            self.checksum(rel, algorithm, hashlib.new(algorithm, data).hexdigest())
        return path

    def checksum(self, rel: str, algorithm: str, digest: str) -> None:
        (self.root / f"{rel}.{algorithm}").write_text(f"{digest}  {Path(rel).name}\n")

    def publish_release(self, spark_properties: str = SPARK_PROPERTIES) -> None:
        self.put(f"org/apache/spark/spark-parent_2.13/{SPARK}/spark-parent_2.13-{SPARK}.pom",
                 POM.format(spark_properties).encode())
        self.put("org/apache/hadoop/hadoop-project/3.4.2/hadoop-project-3.4.2.pom",
                 POM.format(HADOOP_PROPERTIES).encode(), algorithm="sha512")
        for folder, name in EXPECTED.items():
            self.put(f"{folder}/{name}", f"bytes of {name}".encode() * 1000, algorithm="sha256")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def repo(tmp_path) -> Iterator[Repo]:
    root = tmp_path / "maven"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Repo(root, f"http://127.0.0.1:{server.server_address[1]}/")
    server.shutdown()
    server.server_close()


SHIPPED = [f"spark-core_2.13-{SPARK}.jar", "hadoop-client-api-3.4.2.jar"]


def _spark_jars(tmp_path: Path, shipped: list[str] = SHIPPED) -> Path:
    """A pyspark jars directory: the Spark and Hadoop jars the checks look for."""
    jars = tmp_path / "pyspark" / "jars"
    jars.mkdir(parents=True)
    for name in shipped:
        (jars / name).write_bytes(b"shipped with pyspark")
    return jars


def _run(repo: Repo, jars: Path) -> int:
    return fetch_jars.main(["--spark-version", SPARK, "--jars", str(jars), "--repo", repo.url])


def test_every_connector_jar_is_fetched_at_the_versions_the_release_poms_name(repo, tmp_path):
    repo.publish_release()
    dest = _spark_jars(tmp_path)

    assert _run(repo, dest) == 0

    assert sorted(p.name for p in dest.glob("*.jar")) == sorted([*EXPECTED.values(), *SHIPPED])
    for folder, name in EXPECTED.items():
        assert (dest / name).read_bytes() == (repo.root / folder / name).read_bytes()


def test_the_sha256_list_it_writes_matches_the_jars(repo, tmp_path):
    repo.publish_release()
    dest = _spark_jars(tmp_path)
    _run(repo, dest)

    listed = dict(reversed(line.split("  ")) for line in
                  (dest / "connector-jars.sha256").read_text().splitlines())

    assert listed == {name: hashlib.sha256((dest / name).read_bytes()).hexdigest()
                      for name in EXPECTED.values()}


def test_a_jar_that_does_not_match_its_published_checksum_fails_and_is_not_kept(
        repo, tmp_path, capsys):
    repo.publish_release()
    folder = "org/apache/kafka/kafka-clients/3.9.1"
    (repo.root / folder / "kafka-clients-3.9.1.jar").write_bytes(b"something else")
    dest = _spark_jars(tmp_path)

    assert _run(repo, dest) == 1

    assert "kafka-clients-3.9.1.jar: sha256" in capsys.readouterr().err
    assert not list(dest.glob("kafka-clients-3.9.1.jar*"))


def test_the_strongest_published_checksum_is_the_one_checked(repo, tmp_path, capsys):
    repo.publish_release()
    rel = "org/apache/hadoop/hadoop-aws/3.4.2/hadoop-aws-3.4.2.jar"
    repo.checksum(rel, "sha1", hashlib.sha1((repo.root / rel).read_bytes()).hexdigest())
    repo.checksum(rel, "sha512", "0" * 128)  # right sha1 and sha256, wrong sha512

    assert _run(repo, _spark_jars(tmp_path)) == 1
    assert "hadoop-aws-3.4.2.jar: sha512" in capsys.readouterr().err


def test_a_file_without_any_published_checksum_is_refused(repo, tmp_path, capsys):
    repo.publish_release()
    rel = "org/apache/commons/commons-pool2/2.12.1/commons-pool2-2.12.1.jar"
    (repo.root / f"{rel}.sha256").unlink()

    assert _run(repo, _spark_jars(tmp_path)) == 1
    assert "no checksum is published beside" in capsys.readouterr().err


def test_a_missing_jar_fails_naming_its_url(repo, tmp_path, capsys):
    repo.publish_release()
    rel = "software/amazon/awssdk/bundle/2.29.52/bundle-2.29.52.jar"
    (repo.root / rel).unlink()

    assert _run(repo, _spark_jars(tmp_path)) == 1
    assert f"cannot download {repo.url}{rel}" in capsys.readouterr().err


def test_a_spark_release_without_a_property_the_list_relies_on_fails_saying_what_to_update(
        repo, tmp_path, capsys):
    repo.publish_release(SPARK_PROPERTIES.replace("<kafka.version>3.9.1</kafka.version>", ""))

    assert _run(repo, _spark_jars(tmp_path)) == 1
    err = capsys.readouterr().err
    assert f"spark-parent_2.13-{SPARK}.pom has no literal <kafka.version>" in err
    assert "maven.py" in err


def test_jars_of_another_spark_version_are_refused(repo, tmp_path, capsys):
    repo.publish_release()
    jars = _spark_jars(tmp_path, ["spark-core_2.13-9.9.9.jar", "hadoop-client-api-3.4.2.jar"])

    assert _run(repo, jars) == 1
    assert (f"has no spark-core_2.13-{SPARK}.jar (Spark {SPARK}; found "
            "['spark-core_2.13-9.9.9.jar'])") in capsys.readouterr().err
    assert sorted(p.name for p in jars.iterdir()) == [
        "hadoop-client-api-3.4.2.jar", "spark-core_2.13-9.9.9.jar"]


def test_a_release_naming_another_hadoop_than_the_one_pyspark_ships_is_refused(
        repo, tmp_path, capsys):
    repo.publish_release()
    jars = _spark_jars(tmp_path, [f"spark-core_2.13-{SPARK}.jar", "hadoop-client-api-3.4.1.jar"])

    assert _run(repo, jars) == 1
    assert (f"has no hadoop-client-api-3.4.2.jar (spark-parent_2.13-{SPARK}.pom names Hadoop "
            "3.4.2; found ['hadoop-client-api-3.4.1.jar'])") in capsys.readouterr().err


def test_pom_properties_resolve_references_and_leave_unknown_ones_as_written():
    pom = POM.format("<a>1</a><b>${a}.2</b><c>${b}.3</c><d>${project.version}</d>"
                     "<e>${e}</e>").encode()

    assert fetch_jars.pom_properties(pom) == {
        "a": "1", "b": "1.2", "c": "1.2.3", "d": "${project.version}", "e": "${e}"}


def test_pom_properties_of_a_pom_without_namespace_or_properties():
    assert fetch_jars.pom_properties(b"<project><properties><x>y</x></properties></project>") \
        == {"x": "y"}
    assert fetch_jars.pom_properties(b"<project/>") == {}


def test_the_locked_pyspark_ships_the_spark_and_hadoop_jars_the_build_checks_for():
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"

    assert (jars / f"spark-core_2.13-{pyspark.__version__}.jar").is_file()
    assert len(list(jars.glob("hadoop-client-api-*.jar"))) == 1
    assert not list(jars.glob("spark-sql-kafka-*.jar")), "pyspark now ships the connector"
