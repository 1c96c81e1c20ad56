"""What the stream sends back to Kafka: dead letters and restock alerts.

Both go through :class:`retail.io.producer.EventProducer`, so they are checked against their
own contracts. A batch is finished only once every send is acknowledged; if one fails the
batch fails and Spark runs it again (alert ids are stable, so a consumer can deduplicate).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pyarrow as pa

from retail.io.producer import EventProducer, dead_letter_event

PRODUCER = "stream-processor"
_NAMESPACE = uuid.UUID("8f0b6f39-5a57-4a7e-9d1c-2f1e0c7b9a11")


def _utc_text(ts: datetime | None) -> str:
    ts = (ts or datetime.now(UTC)).astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
        for a in alerts.to_pylist():
            cover = a["days_of_cover"]
            self.producer.send({
                "event_id": str(uuid.uuid5(_NAMESPACE, f"{a['alert_id']}:{a['status']}")),
                "event_type": "restock_alert", "schema_version": 1,
                "event_time": _utc_text(a["event_time"]),
                "alert_id": a["alert_id"], "store_id": a["store_id"],
                "product_id": a["product_id"],
                "current_quantity": max(int(a["current_quantity"] or 0), 0),
                "reorder_point": max(int(a["reorder_point"] or 0), 0),
                "days_of_cover": None if cover is None else round(float(cover), 3),
                "stock_out_risk": round(min(max(float(a["stock_out_risk"]), 0.0), 1.0), 4),
                "recommended_order_qty": max(int(a["recommended_order_qty"] or 0), 0),
                "severity": a["severity"], "status": a["status"],
                "timestamp": _utc_text(None),
            })
        return alerts.num_rows

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
