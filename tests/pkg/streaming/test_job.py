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
