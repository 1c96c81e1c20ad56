"""The POS simulator: catalog, demand, inventory and columnar event batches."""

from retail.sim.catalog import Catalog, generate_catalog
from retail.sim.engine import SimConfig, Simulator
from retail.sim.tables import EventBatch, dumps, to_json_events

__all__ = ["Catalog", "EventBatch", "SimConfig", "Simulator", "dumps", "generate_catalog",
           "to_json_events"]
