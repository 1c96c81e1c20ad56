"""What the stream sends back to Kafka: dead letters and restock alerts.

Both go through :class:`retail.io.producer.EventProducer`, so they are checked against their
own contracts. A batch is finished only once every send is acknowledged; if one fails the
batch fails and Spark runs it again (alert ids are stable, so a consumer can deduplicate).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from retail.io.producer import EventProducer, dead_letter_event

PRODUCER = "stream-processor"
_NAMESPACE = uuid.UUID("8f0b6f39-5a57-4a7e-9d1c-2f1e0c7b9a11")
_MS = pa.timestamp("ms", "UTC")


class StreamPublisher:
    def __init__(self, producer: EventProducer, *, max_payload_chars: int):
        self.producer = producer
        self.max_payload_chars = max_payload_chars

    def dead_letters(self, rejected: pa.Table) -> int:
        """One ``dead_letter`` event per rejected record.

        ``payload`` is the record as text, cut past the size limit (the quarantine table
        keeps it whole). A record that is not valid UTF-8 also gets ``payload_base64``, its
        exact bytes (unless cut): without it, its text is exact.
        """
        for r in rejected.to_pylist():
            payload, cut = r["payload"] or "", self.max_payload_chars
            original = r["payload_base64"]
            if len(payload) > cut:
                payload, original = (f"{payload[:cut]}... [cut at {cut} of {len(payload)} "
                                     "characters; whole in quarantine_events]"), None
            letter = dead_letter_event(
                payload=payload, reason=r["reject_reason"],
                error=f"{r['reject_error']} (at {r['topic']}[{r['partition']}]@{r['offset']})",
                field=r["reject_field"], source_topic=r["topic"], event_type=r["event_type"],
                key=r["key"], producer=PRODUCER)
            self.producer.send(letter if original is None else
                               {**letter, "payload_base64": original})
        return rejected.num_rows

    def restock_alerts(self, alerts: pa.Table) -> int:
        """One ``restock_alert`` event per alert, validated and encoded column by column
        (a backlog can open thousands in one micro-batch)."""
        n = alerts.num_rows
        if n == 0:
            return 0
        ids = [str(uuid.uuid5(_NAMESPACE, f"{a}:{s}")) for a, s in zip(
            alerts["alert_id"].to_pylist(), alerts["status"].to_pylist(), strict=True)]

        def count(name: str) -> pa.ChunkedArray:
            return pc.max_element_wise(pc.fill_null(pc.cast(alerts[name], pa.int64()), 0), 0)

        risk = pc.cast(alerts["stock_out_risk"], pa.float64())
        self.producer.send_table("restock_alert", pa.table({
            "event_id": pa.array(ids, pa.string()),
            "event_type": pa.array(["restock_alert"] * n, pa.string()),
            "schema_version": pa.array([1] * n, pa.int64()),
            "event_time": pc.fill_null(pc.cast(alerts["event_time"], _MS),
                                       pa.scalar(datetime.now(UTC), _MS)),
            "alert_id": alerts["alert_id"], "store_id": alerts["store_id"],
            "product_id": alerts["product_id"],
            "current_quantity": count("current_quantity"),
            "reorder_point": count("reorder_point"),
            "days_of_cover": pc.round(pc.cast(alerts["days_of_cover"], pa.float64()), 3),
            "stock_out_risk": pc.round(pc.min_element_wise(pc.max_element_wise(
                pc.fill_null(risk, 0.0), 0.0), 1.0), 4),
            "recommended_order_qty": count("recommended_order_qty"),
            "severity": alerts["severity"], "status": alerts["status"],
            "timestamp": pa.array([datetime.now(UTC)] * n, _MS),
        }))
        return n

    def flush(self) -> None:
        """Wait for every send; raise if any failed (the batch will be retried)."""
        before = self.producer.stats.failed + self.producer.stats.invalid
        self.producer.flush()
        after = self.producer.stats.failed + self.producer.stats.invalid
        if after > before:
            raise RuntimeError(f"{after - before} stream output event(s) could not be "
                               "delivered to Kafka; the micro-batch will be retried")

    def close(self) -> None:
        self.producer.close()
