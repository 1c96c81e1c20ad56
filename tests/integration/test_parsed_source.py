"""The stream's three ways into Spark deliver the same parsed events, poison records
included: the Python source parsing as it reads (the local path), Kafka's columns parsed
after the source (the cluster's path: Spark's JVM source gives the same columns as ours
unparsed), and rows (the path with Spark's own duplicate memory)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
import pytest
from kafka import KafkaProducer

from retail.io.spark_kafka import KafkaDataSource
from retail.settings import Settings, StreamSettings
from retail.streaming.job import input_topics, spark_session
from retail.transforms.parsed import from_blobs, parse_to_blobs
from retail.transforms.validate import parse_events
from tests.integration.stream_harness import StreamEnv
from tests.pkg.transforms.test_validate import sales_transaction

pytestmark = pytest.mark.integration
SALES = "retail-sales-transactions"
OPTIONS = {"max_bytes": 65_536, "max_future_minutes": 5.0}


def _poison(broker) -> int:
    """Records every rule rejects, on the sales topic: returns how many."""
    now = datetime.now(UTC)
    sale = {"event_id": str(uuid.uuid4()), "event_type": "sales_transaction",
            "schema_version": 1, "event_time": "x", "store_id": "S00001"}
    future = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    values = [b"{not json", b"null", "caf\xe9".encode("latin-1"), b"[" * 40 + b"]" * 40,
              orjson.dumps({**sale, "event_type": "refund"}),
              orjson.dumps(sale), None,
              orjson.dumps(sales_transaction(future))]
    producer = KafkaProducer(bootstrap_servers=broker.settings.bootstrap_servers)
    for v in values:
        producer.send(SALES, value=v, key=b"S00001|P000001")
    producer.flush()
    producer.close()
    return len(values)


def _collect(df, checkpoint) -> pa.Table:
    got: list[pa.Table] = []
    query = (df.writeStream.foreachBatch(lambda b, _: got.append(b.toArrow()))
             .option("checkpointLocation", str(checkpoint)).trigger(availableNow=True)
             .start())
    query.awaitTermination()
    table = pa.concat_tables([t for t in got if t.num_rows])
    if "parsed" in table.column_names:
        table = from_blobs(table)
    return table.sort_by([("topic", "ascending"), ("partition", "ascending"),
                          ("offset", "ascending")])


def test_the_local_and_the_cluster_paths_deliver_the_same_parsed_events(
        fresh_broker, fresh_database, migrated, tmp_path):
    env = StreamEnv(kafka=fresh_broker.settings, warehouse=fresh_database, wh=migrated,
                    root=tmp_path)
    sim = env.simulate(stores=1, products=10, rate=2)
    n = sum(t.num_rows for t in sim.tables.values()) + _poison(fresh_broker)
    settings = Settings(env="local", kafka=fresh_broker.settings,
                        stream=StreamSettings(checkpoint_dir=str(tmp_path / "cp")))
    spark = spark_session(settings)
    spark.dataSource.register(KafkaDataSource)

    def source(**extra):
        options = {"kafka.bootstrap.servers": fresh_broker.settings.bootstrap_servers,
                   "subscribe": ",".join(input_topics()), "flavor": "tansu",
                   "maxOffsetsPerTrigger": "400", **extra}
        return spark.readStream.format("retail_kafka").options(**options).load()

    local = _collect(source(parse="true", maxEventBytes="65536", maxFutureMinutes="5"),
                     tmp_path / "local")
    cluster = _collect(parse_to_blobs(source(), **OPTIONS), tmp_path / "cluster")
    rows = _collect(parse_events(source(), content_hash=True, **OPTIONS), tmp_path / "rows")

    assert local.num_rows == n
    assert local.schema == cluster.schema
    assert local.to_pylist() == cluster.to_pylist()
    # rows through the JVM and back: the same values (Spark gives no field nullability)
    assert rows.to_pylist() == local.to_pylist()
    reasons = sorted(r for r in local["reject_reason"].to_pylist() if r)
    assert reasons == ["contract_violation", "invalid", "serialization_error",
                       "serialization_error", "serialization_error", "serialization_error",
                       "serialization_error", "unknown_event_type"], reasons
