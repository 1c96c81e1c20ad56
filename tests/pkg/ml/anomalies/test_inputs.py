"""The warehouse reads of the detector: a stream alert comes back with its store's time zone,
so the deduplication finds it on the store's local day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pyarrow as pa

from retail.ml.anomalies.inputs import read_alerts
from retail.transforms.anomaly_signals import with_duplicate_alerts

# recent: stream_alerts keeps 90 days (TTL)
D = datetime.now(UTC).date() - timedelta(days=2)


def test_an_alert_late_in_utc_is_found_on_the_stores_local_day(spark, migrated):
    migrated.insert_arrow("dim_store", pa.table({"store_id": ["S1"],
                                                 "timezone": ["America/Los_Angeles"]}))
    ts = pa.timestamp("ms", "UTC")
    migrated.insert_arrow("stream_alerts", pa.table({
        "alert_id": ["00000000-0000-0000-0000-000000000001",
                     "00000000-0000-0000-0000-000000000002"],
        "alert_type": ["inventory_discrepancy", "inventory_discrepancy"],
        "severity": ["high", "high"], "store_id": ["S1", "S1"], "product_id": ["P1", "P2"],
        "metric_value": [9.0, 9.0], "threshold": [5.0, 5.0], "details": ["{}", "{}"],
        # 05:00 UTC on D + 1 is 21:00 on D in Los Angeles; 07:00 UTC on D is D - 1 there
        "event_time": pa.array([datetime.combine(D + timedelta(days=1), time(5), UTC),
                                datetime.combine(D, time(7), UTC)], ts)}))
    alerts = read_alerts(spark, migrated, D, D)
    flagged = spark.createDataFrame([("S1", "P1", D, "inventory_discrepancy"),
                                     ("S1", "P2", D, "inventory_discrepancy")],
                                    "store_id string, product_id string, date date, "
                                    "kind string")
    got = {r.product_id: r.duplicate_alert_id
           for r in with_duplicate_alerts(flagged, alerts).collect()}
    assert got == {"P1": "00000000-0000-0000-0000-000000000001", "P2": None}
