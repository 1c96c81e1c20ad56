"""Fetch the JVM jars the stream processor's Spark needs beyond pyspark's own, verified.

Run at image build time by ``images/stream_processor/Dockerfile`` (standard library only),
on the jars directory of the pyspark it installed. No connector version is typed in anywhere:
each is read from the POMs that Spark and Hadoop publish for the Spark release, and the Spark
and Hadoop versions are checked against the jars that pyspark ships (``spark-core``,
``hadoop-client-api``), so the connectors always match the Spark in the image.

- ``spark-sql-kafka-0-10`` and ``spark-token-provider-kafka-0-10``: the Spark version;
- ``kafka-clients`` and ``commons-pool2``: ``kafka.version`` and ``commons-pool2.version``
  in ``spark-parent``, the versions Spark's Kafka connector is built and tested with;
- ``hadoop-aws`` (``s3a://`` checkpoints): ``hadoop.version`` in ``spark-parent``, the
  Hadoop whose client jars pyspark ships;
- the AWS SDK v2 ``bundle`` that hadoop-aws calls: ``aws-java-sdk-v2.version`` in
  ``hadoop-project`` of that Hadoop release.

Every file, the POMs included, must match the checksum Maven Central publishes beside it
(``.sha512``, else ``.sha256``, else ``.sha1``). That catches truncated or corrupted downloads
and proxies or mirrors serving something else. It cannot catch Maven Central itself serving
other bytes; for that, pin the sums this script writes to ``connector-jars.sha256`` (see
``images/README.md``).

Usage: ``python maven.py --spark-version 4.3.0 --jars .../pyspark/jars [--scala 2.13]
[--repo URL]``.
Exit codes: 0 every jar fetched and verified; 1 a download, checksum or POM lookup failed,
or the jars directory is not that Spark's; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
# Strongest first; Maven Central has .sha1 for every file, the SHA-2 sums for newer uploads.
CHECKSUMS = ("sha512", "sha256", "sha1")
_HEX_LENGTH = {"sha512": 128, "sha256": 64, "sha1": 40}
_PROPERTY_REF = re.compile(r"\$\{([^}]+)\}")
ATTEMPTS = 3


class FetchError(RuntimeError):
    """A jar or POM could not be fetched or verified; the message says which and what to do."""


@dataclass(frozen=True)
class Artifact:
    group: str
    name: str
    version: str
    ext: str = "jar"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.{self.ext}"

    def url(self, repo: str) -> str:
        return "/".join([repo.rstrip("/"), *self.group.split("."), self.name, self.version,
                         self.filename])


def _open(url: str):
    """urlopen, retried on network errors and 5xx; a 4xx (a 404: not published) is final."""
    for attempt in range(1, ATTEMPTS):
        try:
            return urllib.request.urlopen(url, timeout=60)  # noqa: S310  https or --repo URL
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise
        except urllib.error.URLError:
            pass
        time.sleep(2 * attempt)
    return urllib.request.urlopen(url, timeout=60)  # noqa: S310  the last attempt's error is raised


def published_checksum(url: str) -> tuple[str, str]:
    """The strongest checksum published beside ``url``: (algorithm, lowercase hex digest)."""
    for algorithm in CHECKSUMS:
        try:
            with _open(f"{url}.{algorithm}") as response:
                text = response.read().decode("ascii", "replace")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                continue
            raise FetchError(f"{url}.{algorithm}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FetchError(f"cannot download {url}.{algorithm}: {exc}; check the build's "
                             "network access to Maven Central (or pass --repo)") from None
        digest = (text.split() or [""])[0].lower()
        if len(digest) != _HEX_LENGTH[algorithm] or not re.fullmatch(r"[0-9a-f]+", digest):
            raise FetchError(f"{url}.{algorithm} does not hold a {algorithm} digest: "
                             f"{text[:80]!r}")
        return algorithm, digest
    raise FetchError(f"no checksum is published beside {url} ({', '.join(CHECKSUMS)}); "
                     "refusing to use an unverifiable file")


def fetch(artifact: Artifact, repo: str, dest: Path) -> tuple[Path, str]:
    """Download ``artifact`` into ``dest``, verified; return its path and SHA-256."""
    url = artifact.url(repo)
    algorithm, expected = published_checksum(url)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / artifact.filename
    partial = target.with_name(target.name + ".part")
    published, sha256 = hashlib.new(algorithm), hashlib.sha256()
    try:
        with _open(url) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                published.update(chunk)
                sha256.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"cannot download {url}: {exc}; check the build's network access "
                         "to Maven Central (or pass --repo)") from None
    if published.hexdigest() != expected:
        partial.unlink()
        raise FetchError(f"{artifact.filename}: {algorithm} {published.hexdigest()} does not "
                         f"match the published {expected} ({url}.{algorithm}); rebuild, and if "
                         "it persists, a proxy or mirror is serving a different file")
    partial.replace(target)
    return target, sha256.hexdigest()


def pom_properties(pom: bytes) -> dict[str, str]:
    """The ``<properties>`` of a POM, with ``${name}`` references between them resolved."""
    root = ET.fromstring(pom)
    namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    section = root.find(f"{namespace}properties")
    raw = {child.tag.removeprefix(namespace): (child.text or "").strip()
           for child in ([] if section is None else section)
           if isinstance(child.tag, str)}

    def resolve(value: str, seen: tuple[str, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in seen or name not in raw:
                return match.group(0)  # cyclic or defined elsewhere: left as written
            return resolve(raw[name], (*seen, name))
        return _PROPERTY_REF.sub(one, value)

    return {name: resolve(value, (name,)) for name, value in raw.items()}


def pom_property(properties: dict[str, str], name: str, pom: Artifact) -> str:
    value = properties.get(name, "")
    if not value or "${" in value:
        raise FetchError(f"{pom.filename} has no literal <{name}> property (found {value!r}); "
                         "this Spark or Hadoop release changed its build: update the "
                         "connector list in pkg/retail/io/maven.py")
    return value


def _require_jar(jars: Path, name: str, why: str) -> None:
    if not (jars / name).is_file():
        found = sorted(p.name for p in jars.glob(name.rsplit("-", 1)[0] + "-*.jar"))
        raise FetchError(f"{jars} has no {name} ({why}; found {found or 'none'}): "
                         "install the matching pyspark, or pass the right --spark-version")


def connector_artifacts(spark_version: str, scala: str, repo: str, workdir: Path,
                        jars: Path) -> list[Artifact]:
    """The jars to add to the Spark in ``jars`` (version ``spark_version``), versions read
    from the published POMs and checked against the jars that Spark ships."""
    _require_jar(jars, f"spark-core_{scala}-{spark_version}.jar", f"Spark {spark_version}")
    spark_pom = Artifact("org.apache.spark", f"spark-parent_{scala}", spark_version, "pom")
    spark = pom_properties(fetch(spark_pom, repo, workdir)[0].read_bytes())
    hadoop_version = pom_property(spark, "hadoop.version", spark_pom)
    # hadoop-aws must be the Hadoop whose shaded client pyspark ships, or S3A fails at run time.
    _require_jar(jars, f"hadoop-client-api-{hadoop_version}.jar",
                 f"{spark_pom.filename} names Hadoop {hadoop_version}")
    hadoop_pom = Artifact("org.apache.hadoop", "hadoop-project", hadoop_version, "pom")
    hadoop = pom_properties(fetch(hadoop_pom, repo, workdir)[0].read_bytes())
    return [
        Artifact("org.apache.spark", f"spark-sql-kafka-0-10_{scala}", spark_version),
        Artifact("org.apache.spark", f"spark-token-provider-kafka-0-10_{scala}", spark_version),
        Artifact("org.apache.kafka", "kafka-clients",
                 pom_property(spark, "kafka.version", spark_pom)),
        Artifact("org.apache.commons", "commons-pool2",
                 pom_property(spark, "commons-pool2.version", spark_pom)),
        Artifact("org.apache.hadoop", "hadoop-aws", hadoop_version),
        Artifact("software.amazon.awssdk", "bundle",
                 pom_property(hadoop, "aws-java-sdk-v2.version", hadoop_pom)),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spark-version", required=True, help="e.g. 4.3.0 (pyspark's)")
    parser.add_argument("--scala", default="2.13", help="Scala binary version (default 2.13)")
    parser.add_argument("--jars", type=Path, required=True,
                        help="Spark's jars directory (pyspark/jars): checked, then added to")
    parser.add_argument("--repo", default=MAVEN_CENTRAL, help="Maven repository base URL")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as poms:
            artifacts = connector_artifacts(args.spark_version, args.scala, args.repo,
                                            Path(poms), args.jars)
        sums = []
        for artifact in artifacts:
            path, sha256 = fetch(artifact, args.repo, args.jars)
            sums.append(f"{sha256}  {path.name}\n")
            print(f"fetched {artifact.group}:{artifact.name}:{artifact.version} "
                  f"({path.stat().st_size:,} bytes, sha256 {sha256})", flush=True)
    except FetchError as exc:
        print(f"maven.py: {exc}", file=sys.stderr)
        return 1
    (args.jars / "connector-jars.sha256").write_text("".join(sums))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
