"""The business outcome of an ordering policy, from its daily ledgers
(:mod:`retail.business.ledger`): stock-outs, lost sales, inventory, overstock, write-offs,
turnover and ordering, per arm, and the platform arm against the baseline arm.

Definitions (over the compared days; a "pair-day" is one store x SKU on one day, every
store trading every day in the simulation):

- ``stockout_rate``: share of pair-days with a lost sale;
- ``lost_units``, ``lost_value``: units asked for and not sold, and their shelf value;
- ``fill_rate``: units sold / units asked for;
- ``avg_inventory_value``: closing stock at cost, summed over pairs, averaged over days;
- ``overstock_units``: units beyond 60 days of cover (the pair's mean daily demand over the
  period x 60; a pair nobody asked for holds only overstock), summed over pair-days;
  ``overstock_value``: the same at cost, averaged over days (a daily value, like the
  inventory's). The design's "overstock cost" is judged on it;
- ``cover_over_60_share``: share of pair-days whose closing stock covers more than 60 days
  of that demand (pairs with no demand count when they hold any stock);
- ``over_2x_up_to_units``: units above twice the chain's order-up-to level (the fixed
  policy's), summed over pair-days. The baseline arm has none by construction: it orders
  up to S only from at or below its reorder point, so it never holds more than
  S + pack - 1, and S is at least a pack (:func:`retail.sim.supply.fixed_policy`). So
  this measure cannot show a reduction, and the overstock target reads the cover instead;
- ``expired_units``, ``expired_value``: written off, units and at cost;
- ``cogs``: units sold at cost; ``turnover``: ``cogs`` / ``avg_inventory_value`` (over the
  period, not annualised: both arms cover the same days);
- ``orders``, ``units_ordered``: supplier orders placed and their units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COVER_DAYS = 60
OVERSTOCK_FACTOR = 2
# each metric and whether lower is better (for the comparison's "better" column)
METRICS = {
    "stockout_rate": True, "lost_units": True, "lost_value": True, "fill_rate": False,
    "avg_inventory_value": True, "overstock_units": True, "overstock_value": True,
    "cover_over_60_share": True, "over_2x_up_to_units": True, "expired_units": True, "expired_value": True,
    "cogs": False, "turnover": False, "orders": True, "units_ordered": True,
}
# ... and the forecast's WAPE (retail.business.accuracy), which the ledgers do not give
LOWER_IS_BETTER = {**METRICS, "forecast_wape": True}


def arm_metrics(ledger: pa.Table) -> dict[str, float]:
    """Every metric of :data:`METRICS` over a ledger (rows: pair-days)."""
    if ledger.num_rows == 0:
        raise ValueError("an empty ledger has no metrics: no day was compared")
    col = {name: ledger[name].to_numpy() for name in (
        "pair", "closing", "sold", "expired", "lost_units", "lost_value", "demand_units",
        "orders", "ordered_units", "unit_cost", "order_up_to")}
    days = len(pc.unique(ledger["day"]))
    cost = col["unit_cost"]
    inventory = float((col["closing"] * cost).sum()) / days
    above_2x = np.maximum(col["closing"] - OVERSTOCK_FACTOR * col["order_up_to"], 0)
    pairs, at = np.unique(col["pair"], return_inverse=True)
    mean_demand = np.bincount(at, col["demand_units"], minlength=len(pairs)) / days
    per_day = mean_demand[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        covered = np.where(per_day > 0, col["closing"] / per_day, np.where(
            col["closing"] > 0, np.inf, 0.0))
    over = np.maximum(col["closing"] - COVER_DAYS * per_day, 0.0)
    demand = float(col["demand_units"].sum())
    cogs = float((col["sold"] * cost).sum())
    return {
        "stockout_rate": float((col["lost_units"] > 0).mean()),
        "lost_units": float(col["lost_units"].sum()),
        "lost_value": float(col["lost_value"].sum()),
        "fill_rate": float(col["sold"].sum()) / demand if demand else 1.0,
        "avg_inventory_value": inventory,
        "overstock_units": float(over.sum()),
        "overstock_value": float((over * cost).sum()) / days,
        "cover_over_60_share": float((covered > COVER_DAYS).mean()),
        "over_2x_up_to_units": float(above_2x.sum()),
        "expired_units": float(col["expired"].sum()),
        "expired_value": float((col["expired"] * cost).sum()),
        "cogs": cogs,
        "turnover": cogs / inventory if inventory else float("nan"),
        "orders": float(col["orders"].sum()),
        "units_ordered": float(col["ordered_units"].sum()),
    }


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline: float
    platform: float

    @property
    def ratio(self) -> float:
        """platform / baseline (nan when the baseline is 0)."""
        return self.platform / self.baseline if self.baseline else float("nan")

    @property
    def better(self) -> bool:
        """The platform did better (strictly), lower or higher as the metric wants."""
        lower = LOWER_IS_BETTER[self.metric]
        return self.platform < self.baseline if lower else self.platform > self.baseline


def compare(baseline: dict[str, float], platform: dict[str, float]) -> list[Comparison]:
    """Each metric of both arms, in :data:`LOWER_IS_BETTER` order (the WAPE when given)."""
    return [Comparison(m, baseline[m], platform[m]) for m in LOWER_IS_BETTER
            if m in baseline or m in platform]
