"""retail-platform: POS events, simulator, Kafka, warehouse and lake tooling."""

__version__ = "0.1.0"
