"""Slow movers and markdowns: an MLlib random forest on the feature store (docs/slow_movers.md)."""
