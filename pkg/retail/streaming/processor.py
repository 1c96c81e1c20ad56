"""One micro-batch of the stream processor: Spark's ``foreachBatch`` function.

Order of work, chosen so a crash at any point is repaired by Spark replaying the batch:
every warehouse insert carries a token made of (stream id, batch id, sink), so a replay
writes nothing twice; the lake files are named after the batch, so a replay overwrites
them; the per-key state is read as it was before the batch (see :mod:`.state`); the batch
row in ``stream_batches`` is written last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail.contracts.topics import topic_for_event_type
from retail.io.lake import LakeWriter
from retail.io.warehouse import Warehouse
from retail.settings import StreamSettings
from retail.streaming import batch_tables as bt
from retail.streaming.publish import StreamPublisher
from retail.streaming.reference import Reference
from retail.streaming.seen import drop_seen
from retail.streaming.state import STATE_SCHEMA, KeyCache, StreamState, watermark_from
from retail.transforms import anomalies, inventory
from retail.transforms.events import is_good, mark_late
from retail.transforms.metrics import sales_window_metrics
from retail.transforms.validate import check_references
from retail.warehouse.load import fact_tables


T = TypeVar("T")
# Steps of a batch one after the other (they add up to its seconds); the steps in
# ``PARALLEL_STEPS`` run in pool threads during "side-by-side", so their seconds overlap.
SERIAL_STEPS = ("read+parse", "seen-ids", "side-by-side", "alerts+state")
PARALLEL_STEPS = ("quarantine", "facts", "lake", "metrics", "rules", "inventory")


@dataclass
class BatchReport:
    batch_id: int
    input_rows: int = 0
    good_rows: int = 0
    duplicate_rows: int = 0  # sent again after an earlier batch counted them
    rejected: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    restock_alerts: int = 0
    seconds: float = 0.0
    lag_s: float | None = None  # now - newest event time
    watermark: datetime | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step
    _lock: Lock = field(default_factory=Lock, repr=False, compare=False)

    def timed(self, stage: str, since: float) -> float:
        now = time.monotonic()
        with self._lock:  # pool threads add to the same step
            self.stages[stage] = self.stages.get(stage, 0.0) + now - since
        return now

    def run_timed(self, stage: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)``, its seconds added to ``stage`` (for work in a pool thread)."""
        since = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.timed(stage, since)

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected.values())


class MicroBatchProcessor:
    def __init__(self, spark: SparkSession, settings: StreamSettings, *, warehouse: Warehouse,
                 lake: LakeWriter, publisher: StreamPublisher, stream_id: Callable[[], str],
                 on_batch: Callable[[BatchReport], None] | None = None):
        self.spark = spark
        self.settings = settings
        self.wh = warehouse
        self.lake = lake
        self.publisher = publisher
        self.stream_id = stream_id
        self.on_batch = on_batch
        self._ref: Reference | None = None
        self._ref_frames: tuple[DataFrame, DataFrame, DataFrame] | None = None
        # per-key state after the last batch (None: every batch reads the warehouse)
        self._keys = KeyCache(settings.key_cache_keys) if settings.key_cache_keys else None

    def reference(self) -> tuple[Reference, tuple[DataFrame, DataFrame, DataFrame]]:
        if self._ref is None or self._ref.stale(self.settings.reference_refresh_minutes * 60):
            self._ref = Reference.load(self.wh)
            for old in self._ref_frames or ():
                old.unpersist()
            products = self.spark.createDataFrame(self._ref.products)
            self._ref_frames = (
                self.spark.createDataFrame(self._ref.stores.select(["store_id"])).cache(),
                products.select("product_id", "unit_cost").cache(),
                products.select("product_id", "lead_time_days").cache())
        return self._ref, self._ref_frames

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started, began_at = time.monotonic(), datetime.now(UTC)
        state = StreamState(self.wh, self.stream_id(), self._keys)
        ref, (stores, products, lead_times) = self.reference()
        checked = check_references(batch, stores, products)
        high_mark = state.high_mark_before(batch_id)
        if high_mark is None:
            # A fresh checkpoint (or nothing good so far): lateness is bounded from the
            # first batch on, by the batch's own newest event (not the clock, so a streamed
            # backfill still passes). One more Spark job, on this batch only; the batch is
            # cached so the source and the stateful steps run once.
            checked = checked.persist()
            newest_ms = checked.where(is_good()).agg(
                F.max(F.unix_millis("event_time"))).first()[0]
            high_mark = None if newest_ms is None else \
                datetime.fromtimestamp(newest_ms / 1000, UTC)
        watermark = watermark_from(high_mark, self.settings.late_after_minutes)
        report = BatchReport(batch_id, watermark=watermark)
        t = time.monotonic()
        # One Spark job reads, parses and checks the batch; the rest works from this table.
        events = mark_late(checked, watermark=watermark)
        everything = events.select(*bt.COLLECTED_COLUMNS).toArrow()
        checked.unpersist()  # (a no-op unless cached above)
        is_rejected = pc.is_valid(everything["reject_reason"])
        rejected, good = everything.filter(is_rejected), everything.filter(pc.invert(is_rejected))
        t = report.timed("read+parse", t)
        seen = drop_seen(self.wh, good, stream_id=state.stream_id, batch_id=batch_id,
                         token=state.token(batch_id, "event_ids"))
        good, rejected = seen.fresh, pa.concat_tables([rejected, seen.conflicts])
        report.duplicate_rows, report.rejected = seen.copies, bt.reason_counts(rejected)
        report.input_rows, report.good_rows = everything.num_rows, good.num_rows
        t = report.timed("seen-ids", t)
        newest = pc.max(good["event_time"]).as_py() if good.num_rows else None
        high_mark = max((m for m in (high_mark, newest) if m is not None), default=None)
        report.lag_s = (datetime.now(UTC) - newest).total_seconds() if newest else None

        tables = bt.event_tables(good)
        facts = fact_tables(tables, ref)
        report.timed("side-by-side", t)  # the sinks' rows, made before the threads start
        alerts = self._detect(report, state, good, tables, facts, products, lead_times,
                              watermark, watermark_from(high_mark,
                                                        self.settings.late_after_minutes),
                              store=lambda: self._store(report, state, rejected, good, tables,
                                                        facts))
        report.seconds = time.monotonic() - started
        state.record_batch(batch_id, {
            "max_event_time": high_mark, "watermark": watermark,
            "input_rows": report.input_rows, "good_rows": report.good_rows,
            "rejected_rows": report.rejected_rows, "duplicate_rows": report.duplicate_rows,
            "late_rows": report.rejected.get("late", 0), "alerts": alerts,
            "started_at": began_at, "finished_at": datetime.now(UTC),
            "lag_ms": None if report.lag_s is None else int(report.lag_s * 1000)})
        if self.on_batch:
            self.on_batch(report)

    def _store(self, report: BatchReport, state: StreamState, rejected: pa.Table,
               good: pa.Table, tables: dict[str, pa.Table], facts: dict[str, pa.Table]
               ) -> None:
        """Quarantine and dead letters, raw events, facts (by type) and the lake."""
        batch_id, t = report.batch_id, time.monotonic()
        # Rejects first: they are the cheapest to lose track of.
        self.wh.insert_arrow("quarantine_events", bt.quarantine_rows(rejected),
                             dedup_token=state.token(batch_id, "quarantine"))
        self.publisher.dead_letters(rejected)
        t = report.timed("quarantine", t)
        self.wh.insert_arrow("raw_events", bt.raw_event_rows(good),
                             dedup_token=state.token(batch_id, "raw"))
        for name, rows in facts.items():
            self.wh.insert_arrow(name, rows, dedup_token=state.token(batch_id, name))
        t = report.timed("facts", t)
        for event_type, table in tables.items():
            self.lake.write(topic_for_event_type(event_type), table,
                            f"{event_type}-{state.stream_id}-{batch_id:09d}")
        report.timed("lake", t)

    def _detect(self, report: BatchReport, state: StreamState, good: pa.Table,
                tables: dict[str, pa.Table], facts: dict[str, pa.Table], products: DataFrame,
                lead_times: DataFrame, old_watermark: datetime | None,
                new_watermark: datetime | None, store: Callable[[], None]) -> int:
        """Sinks, metrics, anomalies, inventory state and restock alerts; returns alerts
        written.

        Independent lines of work run side by side: ``store`` (the sinks' inserts, which
        wait on the warehouse) and the small Spark jobs, mostly fixed cost (Spark schedules
        concurrent jobs). Their step times overlap."""
        s, batch_id, t = self.settings, report.batch_id, time.monotonic()
        sales = self._frame(bt.sales_rows(facts["fact_sales"])) if "fact_sales" in facts \
            else None
        updates = self._frame(bt.inventory_rows(good)) if "inventory_update" in tables \
            else None

        def windows() -> list[pa.Table]:
            if sales is not None:
                self.wh.insert_arrow("sales_metrics_5m", sales_window_metrics(sales).toArrow(),
                                     dedup_token=state.token(batch_id, "metrics"))
            return [self._sales_anomalies(old_watermark, new_watermark)]

        def high_value() -> list[pa.Table]:
            return [anomalies.high_value_transactions(
                sales, threshold=s.high_value_transaction).toArrow()] if sales is not None else []

        def price_moves() -> list[pa.Table]:
            return [anomalies.suspicious_price_changes(
                self._frame(tables["price_change"]), products,
                max_change_pct=s.price_change_pct).toArrow()] if "price_change" in tables else []

        run = report.run_timed
        with ThreadPoolExecutor(6, thread_name_prefix="batch") as pool:
            jobs = [pool.submit(run, "metrics", windows), pool.submit(run, "rules", high_value),
                    pool.submit(run, "rules", price_moves), pool.submit(
                        run, "inventory", self._inventory, pool, updates, good, batch_id, state,
                        lead_times, sales), pool.submit(store)]
            (window_alerts, value_alerts, price_alerts,
             (restock, inventory_alerts, new_state), _) = [j.result() for j in jobs]
        rule_alerts = [*value_alerts, *price_alerts]
        t = report.timed("side-by-side", t)
        every = pa.concat_tables([bt.alert_rows(a) for a in (
            *window_alerts, *rule_alerts, *inventory_alerts) if a.num_rows]
            or [bt.alert_rows(None)])
        self.wh.insert_arrow("stream_alerts", every, dedup_token=state.token(batch_id, "alerts"))
        report.alerts, report.restock_alerts = every.num_rows, restock.num_rows
        self.publisher.restock_alerts(restock)
        self.publisher.flush()
        # last: the state a replay of this batch must not see
        state.save_key_state(*((bt.level_rows(new_state[0]), new_state[1]) if new_state
                               else (STATE_SCHEMA.empty_table(),) * 2), batch_id)
        report.timed("alerts+state", t)
        return every.num_rows

    def _frame(self, table: pa.Table) -> DataFrame:
        return self.spark.createDataFrame(table)

    def _inventory(self, pool: ThreadPoolExecutor, updates: DataFrame | None, good: pa.Table,
                   batch_id: int, state: StreamState, lead_times: DataFrame,
                   sales: DataFrame | None
                   ) -> tuple[pa.Table, list[pa.Table], tuple[pa.Table, pa.Table] | None]:
        """Discrepancies, levels, velocity, risk and restock of the keys this batch touched
        (discrepancies in another ``pool`` thread, once the state before is read).

        Returns the restock alerts, all alerts, and (new state rows, state before) to save.
        """
        keys = bt.touched_keys(good)
        if keys.num_rows == 0:
            return bt.restock_alerts(None), [], None
        before = state.key_state(keys, batch_id)
        before_df = self.spark.createDataFrame(before, schema=bt.STATE_DDL)
        updates = updates if updates is not None else self.spark.createDataFrame(
            [], bt.INVENTORY_DDL)
        discrepancies = pool.submit(
            lambda: inventory.inventory_discrepancies(updates, before_df).toArrow())
        sales = sales if sales is not None else self.spark.createDataFrame([], bt.SALES_DDL)
        nxt = inventory.next_state(before_df, updates, sales,
                                   half_life_hours=self.settings.velocity_half_life_hours)
        risk = inventory.stockout_risk(nxt, lead_times,
                                       review_period_days=self.settings.review_period_days)
        decided = inventory.decide_restock(
            risk.where(F.col("quantity_on_hand").isNotNull()),
            open_at=self.settings.restock_risk,
            resolve_below=self.settings.restock_resolve_risk).toArrow()
        restock = bt.restock_alerts(decided, open_at=self.settings.restock_risk,
                                    resolve_below=self.settings.restock_resolve_risk)
        alerts = [discrepancies.result(), restock.select(list(bt.ALERT_COLUMNS))]
        return restock, alerts, (decided, before)

    def _sales_anomalies(self, old: datetime | None, new: datetime | None) -> pa.Table:
        """Judge the store windows that closed in this batch against the ones before."""
        s = self.settings
        if old is None or new is None or new <= old:
            return bt.alert_rows(None)
        step = timedelta(minutes=5)
        first_end = bt.ceil_to(old + timedelta(microseconds=1), step)
        ends = []
        end = max(first_end, bt.floor_to(new, step) - step * (s.baseline_windows - 1))
        while end <= new:
            ends.append(end)
            end += step
        if not ends:
            return bt.alert_rows(None)
        since = ends[0] - step * (s.baseline_windows + 1)
        totals = self.wh.query_arrow(
            "SELECT store_id, window_start, toFloat64(sum(revenue)) AS revenue "
            "FROM sales_metrics_5m WHERE product_id = '' AND window_start >= {since:DateTime64(3)} "
            "AND window_end <= {until:DateTime64(3)} AND toMinute(window_start) % 5 = 0 "
            "GROUP BY store_id, window_start",
            {"since": since.replace(tzinfo=None), "until": ends[-1].replace(tzinfo=None)})
        judged, history = bt.window_grid(totals, [e - step for e in ends])
        if judged.num_rows == 0 or history.num_rows == 0:
            return bt.alert_rows(None)
        found = anomalies.sales_anomalies(
            self.spark.createDataFrame(judged), self.spark.createDataFrame(history),
            z_threshold=s.spike_z, min_history=max(3, s.baseline_windows // 2))
        return found.toArrow()
