"""``retail evaluate business``: the experiment on the configured warehouse server and MLflow
server, its results into ``business_impact``.

The platform arm must not touch the chain's own data: its simulated days go into a database
of their own on the same server (``<database>_business_<run>``, migrated fresh, dropped at
the end unless kept), its models into the registry under a prefix of their own
(``business-<run>``), its lake into a temporary folder. Only the results, one row per arm x
metric, go into the configured database's ``business_impact`` (with the experiment's
``variant``: which parts an oracle replaced, :mod:`retail.business.oracle`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from retail.business.accuracy import ForecastAccuracy, forecast_accuracy
from retail.business.experiment import Experiment, Outcome, run
from retail.business.oracle import CAPS_HEADROOM
from retail.business.platform_arm import PlatformJobs
from retail.settings import Settings

ARMS = ("baseline", "platform")
IMPACT_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("arm", pa.string()), ("variant", pa.string()),
    ("metric", pa.string()),
    ("value", pa.float64()), ("period_from", pa.date32()), ("period_to", pa.date32()),
    ("stores", pa.uint32()), ("products", pa.uint32()), ("seed", pa.uint64()),
    ("created_at", pa.timestamp("ms", tz="UTC"))])


@dataclass
class BusinessRun:
    run_id: str
    outcome: Outcome
    accuracy: ForecastAccuracy
    seconds: float
    created_at: datetime

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """arm -> metric -> value; ``forecast_wape`` is the champion's in the platform arm
        and seasonal naive's in the baseline arm (which has no forecast of its own)."""
        out = {"baseline": self.outcome.baseline.metrics(),
               "platform": self.outcome.platform.metrics()}
        out["baseline"]["forecast_wape"] = self.accuracy.naive_wape
        out["platform"]["forecast_wape"] = self.accuracy.forecast_wape
        return out

    def impact_rows(self) -> pa.Table:
        """The ``business_impact`` rows: one per arm x metric."""
        exp = self.outcome.experiment
        last = exp.start + timedelta(days=exp.days - 1)
        rows = [{"run_id": self.run_id, "arm": arm, "variant": exp.variant, "metric": metric,
                 "value": value,
                 "period_from": exp.first_compared, "period_to": last,
                 "stores": exp.stores, "products": exp.products, "seed": exp.seed,
                 "created_at": self.created_at}
                for arm, values in self.metrics.items() for metric, value in values.items()]
        return pa.Table.from_pylist(rows, schema=IMPACT_SCHEMA)


def new_run_id(exp: Experiment, now: datetime) -> str:
    oracle = "-" + exp.variant.replace(":", "-").replace("+", "-") if exp.variant else ""
    return f"{now:%Y%m%dt%H%M%S}-{exp.stores}x{exp.products}-s{exp.seed}{oracle}"


def run_business(settings: Settings, exp: Experiment, *,
                 on_day: Callable[[object, str], None] = lambda day, what: None,
                 on_step: Callable[[str], None] = lambda _: None,
                 keep: bool = False) -> BusinessRun:
    """The experiment (:func:`retail.business.experiment.run`) on a scratch database and
    registry prefix; its results inserted into ``business_impact``."""
    from retail.io.warehouse import connect
    from retail.ml.registry import Registry
    from retail.streaming.job import spark_session
    from retail.warehouse.migrate import Migrator

    created = datetime.now(UTC).replace(microsecond=0)
    run_id = new_run_id(exp, created)
    ws = settings.resolved_warehouse()
    scratch = ws.model_copy(update={"database": f"{ws.database}_business_{run_id[:15]}"})
    lake = Path(tempfile.mkdtemp(prefix="retail-business-"))
    replenishment = settings.replenishment
    if "caps" in exp.oracle:
        replenishment = replenishment.model_copy(update={"capacity_headroom": CAPS_HEADROOM})
    job_settings = settings.model_copy(update={
        "warehouse": scratch, "replenishment": replenishment,
        "lake": settings.lake.model_copy(update={"root": str(lake)}),
        "mlflow": settings.mlflow.model_copy(update={"prefix": f"business-{run_id[:15]}"})})
    started = time.perf_counter()
    registry = Registry.from_settings(job_settings)  # unreachable: fails before Spark starts
    on_step(f"migrating the platform arm's database {scratch.database}")
    with connect(ws, database="") as admin:
        Migrator(admin, scratch.database, lambda db: connect(scratch, db)).migrate()
    spark = spark_session(job_settings, "retail-evaluate-business")
    try:
        with connect(scratch) as wh:
            jobs = PlatformJobs(spark, job_settings, wh, registry, on_step=on_step)
            outcome = run(exp, jobs, on_day)
            last = exp.start + timedelta(days=exp.days - 2)  # the last day closed
            accuracy = forecast_accuracy(wh, exp.first_compared, last)
    finally:
        spark.stop()
        shutil.rmtree(lake, ignore_errors=True)
        if not keep:
            with connect(ws, database="") as admin:
                admin.command(f"DROP DATABASE IF EXISTS `{scratch.database}` SYNC")
    result = BusinessRun(run_id, outcome, accuracy, time.perf_counter() - started, created)
    with connect(ws) as wh:
        wh.insert_arrow("business_impact", result.impact_rows())
    return result

