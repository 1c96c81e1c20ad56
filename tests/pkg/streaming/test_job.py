"""How the stream runner reports a failed query."""

from __future__ import annotations

from retail.streaming.job import input_topics, root_cause

SPARK_FAILURE = """[STREAM_FAILED] Query [id = 1] terminated with exception: \
[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function
Traceback (most recent call last):
  File "/work/retail/streaming/processor.py", line 88, in __call__
    raise Errors.KafkaTimeoutError(
kafka.errors.KafkaTimeoutError: KafkaTimeoutError: Unable to bootstrap from ['127.0.0.1:9092']
 SQLSTATE: 39000
=== Streaming Query ===
Identifier: retail_stream
org.apache.spark.SparkException: Job aborted
"""


def test_the_root_cause_is_the_last_python_error_before_sparks_query_dump():
    assert root_cause(RuntimeError(SPARK_FAILURE)) == (
        "kafka.errors.KafkaTimeoutError: KafkaTimeoutError: Unable to bootstrap from "
        "['127.0.0.1:9092']")


def test_an_error_without_a_traceback_is_reported_as_is():
    assert root_cause(ValueError("warehouse down")) == "warehouse down"
    assert root_cause(ValueError("")) == "ValueError"


def test_the_stream_reads_the_pos_topics_and_not_its_own_outputs():
    topics = input_topics()
    assert "retail-sales-transactions" in topics and "retail-inventory-updates" in topics
    assert "retail-restock-alerts" not in topics and "retail-dead-letter" not in topics


def _settings(**kafka):
    from retail.settings import KafkaSettings, Settings, StreamSettings

    return Settings(env="prod", kafka=KafkaSettings(bootstrap_servers="kafka:9093", **kafka),
                    stream=StreamSettings(max_offsets_per_trigger=1000))


def test_the_jvm_source_trusts_the_clusters_ca_and_logs_in_with_scram():
    from retail.streaming.job import source_options

    options = source_options(_settings(
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="stream",
        sasl_password="s3cret-from-a-secret", ssl_cafile="/etc/retail/kafka-ca/ca.crt"),
        jvm=True)
    assert options["kafka.bootstrap.servers"] == "kafka:9093"
    assert options["maxOffsetsPerTrigger"] == "1000"
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.ssl.truststore.type"] == "PEM"
    assert options["kafka.ssl.truststore.location"] == "/etc/retail/kafka-ca/ca.crt"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="stream" password="s3cret-from-a-secret";')
    assert "flavor" not in options


def test_the_python_source_gets_the_broker_flavor_and_no_jvm_options():
    from retail.streaming.job import source_options

    options = source_options(_settings(), jvm=False)
    assert options["flavor"] == "kafka"
    assert options["subscribe"] == ",".join(input_topics())
    assert not [k for k in options if k.startswith("kafka.") and k != "kafka.bootstrap.servers"]


def test_a_crashed_python_worker_is_told_apart_from_other_failures():
    from retail.streaming.job import worker_crashed

    crashed = Exception(
        "[FOREACH_BATCH_USER_FUNCTION_ERROR] ... org.apache.spark.SparkException: Python "
        "worker exited unexpectedly (crashed)\n\tat org.apache.spark.api.python...")
    assert worker_crashed(crashed)
    assert not worker_crashed(Exception("KafkaConnectionError: 111 ECONNREFUSED"))
