"""Cross-sell: ALS on loyal customers' purchases and basket affinity (docs/recommendations.md)."""
