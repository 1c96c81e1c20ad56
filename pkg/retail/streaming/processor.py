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
from pyspark.sql import DataFrame

from retail.contracts.topics import topic_for_event_type
from retail.io.lake import LakeWriter
from retail.io.warehouse import Warehouse
from retail.settings import StreamSettings
from retail.streaming import batch_tables as bt
from retail.streaming.publish import StreamPublisher
from retail.streaming.reference import Reference
from retail.streaming.seen import drop_seen
from retail.streaming.state import STATE_SCHEMA, KeyCache, StreamState, watermark_from
from retail.streaming import inventory, sales
from retail.streaming.alerts import ALERT_COLUMNS, concat_alerts, no_alerts
from retail.streaming.verdicts import check_references, mark_late, newest_good
from retail.warehouse.load import fact_tables


T = TypeVar("T")
# Steps of a batch one after the other (they add up to its seconds); the steps in
# ``PARALLEL_STEPS`` run in pool threads during "side-by-side", so their seconds overlap.
SERIAL_STEPS = ("read+parse", "seen-ids", "side-by-side", "alerts+state")
PARALLEL_STEPS = ("quarantine", "facts", "lake", "metrics", "rules", "inventory", "state")


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

    def run_timed(self, stage: str, fn: Callable[..., T], *args: object, **kwargs: object
                  ) -> T:
        """``fn(*args, **kwargs)``, its seconds added to ``stage`` (for work in a pool
        thread)."""
        since = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.timed(stage, since)

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected.values())


class MicroBatchProcessor:
    """``foreachBatch``: one Spark job reads, parses and checks the batch (on the
    executors); what the batch derives (window partials, alerts, per-key state) is
    computed from the Arrow table that job hands the driver, while the sinks write."""

    def __init__(self, settings: StreamSettings, *, warehouse: Warehouse,
                 lake: LakeWriter, publisher: StreamPublisher, stream_id: Callable[[], str],
                 on_batch: Callable[[BatchReport], None] | None = None):
        self.settings = settings
        self.wh = warehouse
        self.lake = lake
        self.publisher = publisher
        self.stream_id = stream_id
        self.on_batch = on_batch
        self._ref: Reference | None = None
        # per-key state after the last batch (None: every batch reads the warehouse)
        self._keys = KeyCache(settings.key_cache_keys) if settings.key_cache_keys else None

    def reference(self) -> Reference:
        if self._ref is None or self._ref.stale(self.settings.reference_refresh_minutes * 60):
            self._ref = Reference.load(self.wh)
        return self._ref

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started, began_at = time.monotonic(), datetime.now(UTC)
        state = StreamState(self.wh, self.stream_id(), self._keys)
        ref = self.reference()
        report = BatchReport(batch_id)
        t = time.monotonic()
        # The batch's one Spark job: read, parse and check against the contracts (on the
        # executors); everything else works from the Arrow table it hands back.
        everything = bt.collected(batch)
        everything = check_references(everything, ref.stores["store_id"],
                                      ref.products["product_id"])
        high_mark = state.high_mark_before(batch_id)
        if high_mark is None:
            # A fresh checkpoint (or nothing good so far): lateness is bounded from the
            # first batch on, by the batch's own newest event (not the clock, so a streamed
            # backfill still passes).
            high_mark = newest_good(everything)
        report.watermark = watermark = watermark_from(high_mark,
                                                      self.settings.late_after_minutes)
        everything = mark_late(everything, watermark=watermark)
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
        alerts = self._derive(report, state, good, tables, facts, ref, watermark,
                              watermark_from(high_mark, self.settings.late_after_minutes),
                              rejected)
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

    def _derive(self, report: BatchReport, state: StreamState, good: pa.Table,
                tables: dict[str, pa.Table], facts: dict[str, pa.Table], ref: Reference,
                old_watermark: datetime | None, new_watermark: datetime | None,
                rejected: pa.Table) -> int:
        """Sinks, window partials, anomalies, inventory state and restock alerts; returns
        the alerts written.

        The sinks' inserts (which wait on the warehouse) run in pool threads while this
        thread computes in Arrow (which releases the interpreter lock); their step times
        overlap."""
        s, batch_id, t, run = self.settings, report.batch_id, time.monotonic(), report.run_timed
        token = state.token
        sales_rows = bt.sales_rows(facts["fact_sales"]) if "fact_sales" in facts else None
        with ThreadPoolExecutor(8, thread_name_prefix="batch") as pool:
            # each table's insert in a thread of its own: the warehouse takes them side by side
            inserts = {"raw_events": bt.raw_event_rows(good), **facts}
            sinks = [pool.submit(run, "quarantine", self._quarantine, rejected,
                                 token(batch_id, "quarantine")),
                     *[pool.submit(run, "facts", self.wh.insert_arrow, name, rows,
                                   dedup_token=token(batch_id, "raw" if name == "raw_events"
                                                     else name))
                       for name, rows in inserts.items()],
                     pool.submit(run, "lake", self._lake, tables, state, batch_id),
                     pool.submit(run, "metrics", self._windows, sales_rows, old_watermark,
                                 new_watermark, token(batch_id, "metrics"))]
            since = time.monotonic()
            rules = [no_alerts()]
            if sales_rows is not None:
                rules.append(sales.high_value_transactions(
                    sales_rows, threshold=s.high_value_transaction))
            if "price_change" in tables:
                rules.append(sales.suspicious_price_changes(
                    tables["price_change"], ref.products.select(["product_id", "unit_cost"]),
                    max_change_pct=s.price_change_pct))
            report.timed("rules", since)
            restock, inventory_alerts, new_state = run(
                "inventory", self._inventory, good, batch_id, state, ref, sales_rows)
            # The new state can be written now: a replay of this batch reads each key's
            # state before it from the row's ``prior`` (streaming/state.py).
            saved = pool.submit(run, "state", state.save_key_state, *(
                (bt.level_rows(new_state[0]), new_state[1]) if new_state
                else (STATE_SCHEMA.empty_table(),) * 2), batch_id)
            window_alerts = [f.result() for f in sinks][-1]
            t = report.timed("side-by-side", t)
            every = concat_alerts([window_alerts, *rules, *inventory_alerts])
            written = pool.submit(self.wh.insert_arrow, "stream_alerts", every,
                                  dedup_token=token(batch_id, "alerts"))
            report.alerts, report.restock_alerts = every.num_rows, restock.num_rows
            self.publisher.restock_alerts(restock)
            self.publisher.flush()
            written.result()
            saved.result()
        report.timed("alerts+state", t)
        return every.num_rows

    def _quarantine(self, rejected: pa.Table, token: str) -> None:
        """Quarantine and dead letters (the cheapest to lose track of: first)."""
        self.wh.insert_arrow("quarantine_events", bt.quarantine_rows(rejected),
                             dedup_token=token)
        self.publisher.dead_letters(rejected)

    def _lake(self, tables: dict[str, pa.Table], state: StreamState, batch_id: int) -> None:
        for event_type, table in tables.items():
            self.lake.write(topic_for_event_type(event_type), table,
                            f"{event_type}-{state.stream_id}-{batch_id:09d}")

    def _windows(self, sales_rows: pa.Table | None, old: datetime | None,
                 new: datetime | None, token: str) -> pa.Table:
        """Write the batch's window partials, then judge the store windows that closed."""
        if sales_rows is not None:
            self.wh.insert_arrow("sales_metrics_5m", sales.sales_window_metrics(sales_rows),
                                 dedup_token=token)
        return self._sales_anomalies(old, new)

    def _inventory(self, good: pa.Table, batch_id: int, state: StreamState, ref: Reference,
                   sales_rows: pa.Table | None
                   ) -> tuple[pa.Table, list[pa.Table], tuple[pa.Table, pa.Table] | None]:
        """Discrepancies, levels, velocity, risk and restock of the keys this batch touched.

        Returns the restock alerts, all alerts, and (new state rows, state before) to save.
        """
        keys = bt.touched_keys(good)
        if keys.num_rows == 0:
            return bt.restock_alerts(None), [], None
        s = self.settings
        before = state.key_state(keys, batch_id)
        updates = bt.inventory_rows(good)
        sold = sales_rows if sales_rows is not None else bt.SALES_SCHEMA.empty_table()
        nxt = inventory.next_state(before, updates, sold,
                                   half_life_hours=s.velocity_half_life_hours)
        risk = inventory.stockout_risk(
            nxt, ref.products.select(["product_id", "lead_time_days"]),
            review_period_days=s.review_period_days)
        decided = inventory.decide_restock(
            risk.filter(pc.is_valid(risk["quantity_on_hand"])), open_at=s.restock_risk,
            resolve_below=s.restock_resolve_risk)
        restock = bt.restock_alerts(decided, open_at=s.restock_risk,
                                    resolve_below=s.restock_resolve_risk)
        alerts = [inventory.inventory_discrepancies(updates, before),
                  restock.select(list(ALERT_COLUMNS))]
        return restock, alerts, (decided, before)

    def _sales_anomalies(self, old: datetime | None, new: datetime | None) -> pa.Table:
        """Judge the store windows that closed in this batch against the ones before."""
        s = self.settings
        if old is None or new is None or new <= old:
            return no_alerts()
        step = timedelta(minutes=5)
        first_end = bt.ceil_to(old + timedelta(microseconds=1), step)
        ends = []
        end = max(first_end, bt.floor_to(new, step) - step * (s.baseline_windows - 1))
        while end <= new:
            ends.append(end)
            end += step
        if not ends:
            return no_alerts()
        since = ends[0] - step * (s.baseline_windows + 1)
        totals = self.wh.query_arrow(
            "SELECT store_id, window_start, toFloat64(sum(revenue)) AS revenue "
            "FROM sales_metrics_5m WHERE product_id = '' AND window_start >= {since:DateTime64(3)} "
            "AND window_end <= {until:DateTime64(3)} AND toMinute(window_start) % 5 = 0 "
            "GROUP BY store_id, window_start",
            {"since": since.replace(tzinfo=None), "until": ends[-1].replace(tzinfo=None)})
        judged, history = bt.window_grid(totals, [e - step for e in ends])
        if judged.num_rows == 0 or history.num_rows == 0:
            return no_alerts()
        return sales.sales_anomalies(judged, history, z_threshold=s.spike_z,
                                     min_history=max(3, s.baseline_windows // 2))
