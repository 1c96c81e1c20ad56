"""Anomaly detection: an Isolation Forest over daily store x product features (docs/anomalies.md)."""
