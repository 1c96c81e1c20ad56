"""The attribution's oracles: a part of the platform's chain replaced by the simulator's
truth, the rest left as it is, to see how much of the outcome (or of the gap to a target)
each part carries.

- ``forecast``: the forecasts' mean is the true expected demand of each target day (the
  champion's intervals keep their width, moved with the mean);
- ``safety-stock``: the forecasts' intervals come from the true spread of daily demand
  around its expectation (each pair's, measured on the warm-up), so the safety stock is
  computed from the true demand uncertainty;
- ``lead-time``: the lead-time model is the truth (each supplier's mean and sd of the
  simulator's lognormal lead times);
- ``caps``: the shelf-capacity cap lifted (the capacity headroom at its largest, 10x the
  most a pair held in 90 days; the simulator's shelves have no limit).

The forecast and spread oracles rewrite the day's prediction rows as another model version
(``<version>+oracle``), written after the champion's, which ``optimize_stock`` then reads
(it takes the newest version of the run date).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import SparkSession

from retail.business.ledger import pair_index
from retail.io.warehouse import Warehouse
from retail.ml.replenishment.lead_time import LeadTimeModel, lead_time_pipeline
from retail.sim.catalog import Catalog

PARTS = ("forecast", "safety-stock", "lead-time", "caps")
Z80, Z95 = NormalDist().inv_cdf(0.9), NormalDist().inv_cdf(0.975)
CAPS_HEADROOM = 10.0  # ReplenishmentSettings.capacity_headroom's largest value
_DAY = """
SELECT * EXCEPT (predicted_at) FROM fact_ml_predictions FINAL
WHERE model_name = 'demand_forecast' AND run_date = {day:Date}
  AND model_version = (SELECT argMax(model_version, predicted_at) FROM fact_ml_predictions
                       WHERE model_name = 'demand_forecast' AND run_date = {day:Date})"""


def check_parts(parts: frozenset[str]) -> frozenset[str]:
    unknown = sorted(parts - set(PARTS))
    if unknown:
        raise ValueError(f"unknown oracle part(s) {', '.join(unknown)}; known: "
                         f"{', '.join(PARTS)}")
    return parts


def variant_name(parts: frozenset[str]) -> str:
    """'' for the platform as it is, else ``oracle:<part>+<part>`` in :data:`PARTS` order."""
    return "oracle:" + "+".join(p for p in PARTS if p in parts) if parts else ""


@dataclass
class Truth:
    """What the oracles know: each day's expected demand per pair and each pair's demand
    spread (sd of demand around its expectation)."""

    catalog: Catalog
    expected: dict[date, np.ndarray]  # day -> expected units per pair
    demand_sd: np.ndarray  # per pair

    @classmethod
    def from_simulation(cls, catalog: Catalog, recorded: list[tuple[date, int, np.ndarray]],
                        warm_up: pa.Table) -> Truth:
        """From a simulator's recorded expectations (``Simulator.expected``) and the
        ledgers of the warm-up days (``demand_units`` per pair-day)."""
        expected: dict[date, np.ndarray] = {}
        for day, p0, values in recorded:
            expected.setdefault(day, np.zeros(catalog.n_pairs))[p0:p0 + len(values)] = values
        days = warm_up["day"].to_pylist()
        pair = warm_up["pair"].to_numpy()
        mean = np.array([expected[d][p] for d, p in zip(days, pair, strict=True)])
        residual = warm_up["demand_units"].to_numpy() - mean
        n = np.bincount(pair, minlength=catalog.n_pairs)
        var = np.bincount(pair, residual ** 2, minlength=catalog.n_pairs) / np.maximum(n, 1)
        return cls(catalog, expected, np.sqrt(var))

    def rewrite_forecasts(self, wh: Warehouse, day: date, parts: frozenset[str]) -> int:
        """The forecasts of run date ``day`` again, with the oracle ``parts`` applied; the
        rows written."""
        t = wh.query_arrow(_DAY, {"day": day})
        if t.num_rows == 0:
            return 0
        pair = pair_index(self.catalog, t)
        keys = t["date_key"].to_numpy()
        target = [date(k // 10000, k // 100 % 100, k % 100) for k in keys]
        mean = t["predicted_demand"].to_numpy()
        low, high = t["confidence_low"].to_numpy(), t["confidence_high"].to_numpy()
        low95 = pc.fill_null(t["confidence_low_95"], 0.0).to_numpy()
        high95 = pc.fill_null(t["confidence_high_95"], 0.0).to_numpy()
        if "forecast" in parts:
            truth = np.array([self.expected[d][p] for d, p in zip(target, pair, strict=True)])
            shift = truth - mean
            mean, low, high, low95, high95 = (truth, low + shift, high + shift,
                                              low95 + shift, high95 + shift)
        if "safety-stock" in parts:
            sd = self.demand_sd[pair]
            low, high = mean - Z80 * sd, mean + Z80 * sd
            low95, high95 = mean - Z95 * sd, mean + Z95 * sd
        version = f"{t['model_version'][0].as_py()}+oracle"
        out = t.drop(["predicted_demand", "confidence_low", "confidence_high",
                      "confidence_low_95", "confidence_high_95", "model_version",
                      "prediction_id"])
        out = out.append_column("prediction_id", pa.array(
            [str(uuid.uuid4()) for _ in range(t.num_rows)]))
        for name, values in (("predicted_demand", np.maximum(mean, 0.0)),
                             ("confidence_low", np.maximum(low, 0.0)),
                             ("confidence_high", np.maximum(high, 0.0)),
                             ("confidence_low_95", np.maximum(low95, 0.0)),
                             ("confidence_high_95", np.maximum(high95, 0.0))):
            out = out.append_column(name, pa.array(values, pa.float64()))
        out = out.append_column("model_version", pa.array([version] * t.num_rows))
        wh.insert_arrow("fact_ml_predictions", out)
        return out.num_rows

    def lead_time_model(self, spark: SparkSession) -> LeadTimeModel:
        """The lead times as the simulator draws them: each supplier's mean (a supplier-only
        regression fitted on the true means) and sd."""
        c = self.catalog
        suppliers = c.suppliers["supplier_id"].to_pylist()
        rows = spark.createDataFrame(
            [(s, float(m)) for s, m in zip(suppliers, c.supplier_lead_mean, strict=True)],
            "supplier_id string, lead_time_days double")
        model = lead_time_pipeline(("supplier_id",), ()).fit(rows)
        spread = spark.createDataFrame(
            [(s, float(sd), 1_000_000) for s, sd in
             zip(suppliers, c.supplier_lead_sd, strict=True)],
            "supplier_id string, lead_time_sd_days double, deliveries long")
        return LeadTimeModel(model, {"residual_sd": float(np.mean(c.supplier_lead_sd))},
                             spread)

