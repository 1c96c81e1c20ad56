"""The estimator: a Spark ML ``Pipeline`` of string indexers, a vector assembler and a
``GBTRegressor`` fitted on demand / scale (weighted by the scale, so big series count more,
as they do in WAPE), one for all horizons (``horizon`` a feature) or one per horizon."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.regression import GBTRegressor
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail.features.definitions import FEATURE_NAMES, KNOWN_AHEAD
from retail.transforms.forecast import PLANNED, RELATIVE

STRINGS = ("season", "local_event_kind", "store_type", "region", "category", "sub_category",
           "brand")
# Not inputs: today's raw level columns are in the inputs relative to the scale (rel_*);
# the label's parts of D (units_sold, lost_units) are kept, they are history.
# The week of the year and the month act as a time index on less than a year of history
# (the test weeks' values never occur in training); the season and the weekday stay.
_NOT_INPUTS = {"date", "date_key", "target_date", "label", "store_key", "product_key",
               "store_id", "product_id", "week_of_year", "month", "target_week_of_year",
               "target_month"}
EXTRA = ("horizon", "scale", "demand_mean_28", "same_weekday_last", "same_weekday_mean_4",
         "target_price_change", "promo_days_28")
STACKED = 0  # the key of the one model of the stacked strategy


def input_columns() -> tuple[list[str], list[str]]:
    """(numeric inputs, string inputs) of the model, in a fixed order."""
    ahead = [f"target_{c}" for c in dict.fromkeys((*KNOWN_AHEAD, *PLANNED))]
    strings = [*STRINGS, *(c for c in ahead if c[7:] in STRINGS)]
    numeric = [c for c in (*FEATURE_NAMES, *ahead, *EXTRA, *(f"rel_{c}" for c in RELATIVE))
               if c not in strings and c not in _NOT_INPUTS]
    return list(dict.fromkeys(numeric)), strings


def prepared(rows: DataFrame) -> DataFrame:
    """Rows with numeric inputs as doubles (null: -1, a value no input takes), strings with
    null as "none", and ``target`` = label / scale when labelled."""
    numeric, strings = input_columns()
    out = rows.select(
        *(c for c in rows.columns if c not in numeric and c not in strings),
        *(F.coalesce(F.col(c).cast("double"), F.lit(-1.0)).alias(c) for c in numeric),
        *(F.coalesce(F.col(c), F.lit("none")).alias(c) for c in strings))
    if "label" in rows.columns:
        out = out.withColumn("target", F.col("label") / F.col("scale"))
    return out


@dataclass(frozen=True)
class ForecastModel:
    """The fitted pipelines: ``{STACKED: model}`` or ``{h: model of horizon h}``."""

    pipelines: dict[int, PipelineModel]
    feature_names: tuple[str, ...]

    def transform(self, rows: DataFrame) -> DataFrame:
        """``rows`` (prepared) with ``forecast`` = max(prediction, 0) x scale."""
        if STACKED in self.pipelines:
            scored = self.pipelines[STACKED].transform(rows)
        else:
            parts = [p.transform(rows.filter(F.col("horizon") == h))
                     for h, p in sorted(self.pipelines.items())]
            scored = parts[0]
            for part in parts[1:]:
                scored = scored.unionByName(part)
        return (scored.withColumn("forecast", F.greatest(F.col("prediction"), F.lit(0.0))
                                  * F.col("scale")).drop("prediction", "features"))

    def feature_importance(self) -> list[dict]:
        """Each input's importance (mean over the pipelines), highest first."""
        total = [0.0] * len(self.feature_names)
        for pipeline in self.pipelines.values():
            for i, v in enumerate(pipeline.stages[-1].featureImportances.toArray()):
                total[i] += float(v) / len(self.pipelines)
        return sorted(({"feature": n, "importance": round(v, 6)}
                       for n, v in zip(self.feature_names, total)),
                      key=lambda r: -r["importance"])


def _pipeline(params: dict) -> tuple[Pipeline, tuple[str, ...]]:
    numeric, strings = input_columns()
    indexers = [StringIndexer(inputCol=c, outputCol=f"{c}_index", handleInvalid="keep")
                for c in strings]
    names = (*numeric, *(f"{c}_index" for c in strings))
    assembler = VectorAssembler(inputCols=list(names), outputCol="features")
    gbt = GBTRegressor(featuresCol="features", labelCol="target", weightCol="scale",
                       maxBins=128, seed=7, **params)
    return Pipeline(stages=[*indexers, assembler, gbt]), names


def fit(rows: DataFrame, params: dict, *, per_horizon: bool, fraction: float = 1.0
        ) -> ForecastModel:
    """Fit on labelled, prepared ``rows`` with GBT ``params`` (maxDepth, maxIter, stepSize,
    subsamplingRate); ``fraction`` < 1 samples the rows first."""
    if fraction < 1:
        rows = rows.sample(fraction=fraction, seed=11)
    pipeline, names = _pipeline(params)
    if not per_horizon:
        return ForecastModel({STACKED: pipeline.fit(rows)}, names)
    horizons = sorted(r[0] for r in rows.select("horizon").distinct().collect())
    return ForecastModel({int(h): pipeline.fit(rows.filter(F.col("horizon") == h))
                          for h in horizons}, names)
