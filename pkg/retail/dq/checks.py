"""The declared data-quality checks: one list, :data:`CHECKS`.

A check is data: a name, what it looks at (a table or a topic), a severity, a threshold and
the SQL (from :mod:`retail.dq.sql`) that returns the observed value. The value is always
"how bad": seconds of staleness, rows or hours in error, a share of records, milliseconds a
``bi_`` view took to answer. A value at or below the threshold passes; above it the check
fails (severity ``error``) or warns (``warn``). ``docs/data-quality.md`` lists the same
checks, with why each threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from types import MappingProxyType
from typing import Literal

from retail.dq import sql

Severity = Literal["warn", "error"]
Status = Literal["pass", "warn", "fail"]
CATEGORIES = ("freshness", "completeness", "volume", "consistency", "validity", "stream",
              "bi")
MINUTE, HOUR = 60, 3600
# The time a bi_ view's bounded query may take (ms) unless RETAIL_DQ__BI_BUDGET_MS says
# otherwise (the runner puts the setting in place of this threshold).
BI_BUDGET_MS = 2000


@dataclass(frozen=True)
class Check:
    """One declared check.

    Attributes:
        name: ``<category>.<what>[.<target>]``, unique.
        category: one of :data:`CATEGORIES`.
        target: the table or topic it judges.
        severity: ``error`` fails the run (exit 1, an alert); ``warn`` is reported only.
        threshold: the largest observed value that passes.
        unit: what the observed value counts (``s``, ``rows``, ``share``, ...).
        sql: one statement returning ``(observed, details)``; query parameters only.
        params: the check's own query parameters (beside the run's).
        when_nothing: the status when the SQL observes nothing (``observed`` NULL, e.g. no
            records in the window): ``pass``, or a finding at the check's severity.
        meaning: one line for people, shown by ``retail dq run`` and in the docs.
        measure: ``value``: the statement's first column is the observed value;
            ``latency``: the statement is a bounded query and the observed value is the
            milliseconds it took to answer (its first column, rows read, goes to details).
    """

    name: str
    category: str
    target: str
    severity: Severity
    threshold: float
    unit: str
    sql: str
    meaning: str
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    when_nothing: Literal["pass", "finding"] = "pass"
    measure: Literal["value", "latency"] = "value"

    def status(self, observed: float | None) -> Status:
        """``pass`` when ``observed`` is within the threshold, else ``fail`` for an
        ``error`` check and ``warn`` for a ``warn`` check."""
        finding = self.when_nothing == "finding" if observed is None \
            else observed > self.threshold
        if not finding:
            return "pass"
        return "fail" if self.severity == "error" else "warn"


def _freshness(target: str, *, topic: bool, threshold_s: int, severity: Severity,
               open_hours: bool) -> Check:
    when = "while a store is open" if open_hours else "at any hour"
    what = "event" if topic else "row"
    return Check(
        name=f"freshness.{'topic' if topic else 'table'}.{target}", category="freshness",
        target=target, severity=severity, threshold=threshold_s, unit="s",
        sql=sql.FRESHNESS_TOPIC if topic else sql.FRESHNESS_TABLE,
        params={"time_column": "event_time", "open_hours": open_hours,
                "horizon_s": max(2 * threshold_s, 24 * HOUR),
                **({"topic": target} if topic else {"table": target})},
        meaning=f"seconds since the newest {what}, counted {when}")


# (target, threshold in seconds, severity, judged only while stores are open). Sales and
# stock movements flow all day while stores are open (the design: 100-500 events a minute
# per store); traffic is reported once an hour; lost sales need a stock-out; promotions
# change weekly; supplier deliveries arrive daily.
_TOPICS = (
    ("retail-sales-transactions", 15 * MINUTE, "error", True),
    ("retail-inventory-updates", 15 * MINUTE, "error", True),
    ("retail-customer-events", 2 * HOUR, "warn", True),
    ("retail-price-changes", 8 * 24 * HOUR, "warn", False),
    ("retail-supplier-shipments", 48 * HOUR, "warn", False),
)
_TABLES = (
    ("fact_sales", 15 * MINUTE, "error", True),
    ("fact_inventory", 15 * MINUTE, "error", True),
    ("fact_lost_sales", 24 * HOUR, "warn", True),
    ("fact_price_changes", 8 * 24 * HOUR, "warn", False),
    ("fact_supplier_shipments", 48 * HOUR, "warn", False),
)
DAILY_TABLES = ("agg_sales_daily", "agg_store_daily", "agg_product_daily", "agg_inventory_daily")
FACT_TABLES = ("fact_sales", "fact_inventory", "fact_price_changes", "fact_lost_sales",
               "fact_supplier_shipments")

# The bi_ views Power BI reads (migrations 0005, 0015, 0017, 0025) and what bounds each
# one's query: its day key (the rows of the last day and after: what a dashboard's "today"
# or "this week's forecast" reads), its time column (the last 24 hours), or nothing (a
# dimension, the current stock, the access list, feature importances: bounded by the
# chain's size; the experiment's results: a few dozen rows a run; read whole by Power BI).
# The names are this list, never data.
BI_VIEWS: tuple[tuple[str, Literal["day", "time", "all"], str | None], ...] = (
    ("bi_dim_date", "all", None),
    ("bi_dim_store", "all", None),
    ("bi_dim_product", "all", None),
    ("bi_dim_supplier", "all", None),
    ("bi_fact_sales", "day", "Date Key"),
    ("bi_fact_sales_daily", "day", "Date Key"),
    ("bi_fact_inventory_daily", "day", "Date Key"),
    ("bi_inventory_current", "all", None),
    ("bi_fact_lost_sales", "day", "Date Key"),
    ("bi_fact_predictions", "day", "Date Key"),
    ("bi_fact_replenishment", "day", "Date Key"),
    ("bi_stream_alerts", "time", "At (UTC)"),
    ("bi_user_access", "all", None),
    ("bi_model_evaluations", "day", "Date Key"),
    ("bi_model_drift", "day", "Date Key"),
    ("bi_model_feature_importance", "all", None),
    ("bi_ml_anomalies", "day", "Date Key"),
    ("bi_ml_slow_movers", "day", "Date Key"),
    ("bi_ml_recommendations", "day", "Date Key"),
    ("bi_ml_product_affinity", "day", "Date Key"),
    ("bi_business_impact", "all", None),
)
_BI_QUERY = {"day": (sql.BI_ROWS_SINCE_DAY, "day_column"),
             "time": (sql.BI_ROWS_SINCE_TIME, "time_column"), "all": (sql.BI_ROWS, None)}


def _bi_latency(view: str, bound: Literal["day", "time", "all"], column: str | None) -> Check:
    statement, column_param = _BI_QUERY[bound]
    params = {"view": view, **({column_param: column} if column_param else {})}
    what = {"day": f"counts its rows of the last day and after (`{column}`)",
            "time": f"counts its rows of the last 24 hours (`{column}`)",
            "all": "counts all its rows"}[bound]
    return Check(f"bi.latency.{view}", "bi", view, "error", BI_BUDGET_MS, "ms", statement,
                 f"milliseconds the view takes to answer a bounded query ({what}); a view "
                 "the warehouse refuses fails too", params=params, measure="latency")


CHECKS: tuple[Check, ...] = (
    *(_freshness(t, topic=True, threshold_s=s, severity=sev, open_hours=o)
      for t, s, sev, o in _TOPICS),
    *(_freshness(t, topic=False, threshold_s=s, severity=sev, open_hours=o)
      for t, s, sev, o in _TABLES),
    Check("completeness.silent_store_hours", "completeness", "agg_sales_hourly", "error", 0,
          "store-hours", sql.SILENT_STORE_HOURS,
          "complete hours in which a store was open (dim_store) and sold nothing"),
    Check("completeness.products_in_catalog", "completeness", "dim_product", "error", 0,
          "products", sql.PRODUCTS_IN_CATALOG,
          "products in fact_sales or fact_inventory that dim_product does not know"),
    *(Check(f"completeness.days.{t}", "completeness", t, "error", 0, "days",
            sql.DAYS_MISSING, "closed days (from the table's first) without a row",
            params={"table": t})
      for t in DAILY_TABLES),
    Check("volume.store_hours_vs_4_weeks", "volume", "agg_sales_hourly", "warn", 0,
          "store-hours", sql.VOLUME_VS_4_WEEKS,
          "store-hours with sales below half or above twice the median of the same hour on "
          "the last 4 same weekdays (when that median is 20 lines or more)",
          params={"low": 0.5, "high": 2.0, "min_baseline": 20.0}),
    Check("consistency.sales_vs_movements", "consistency", "fact_sales", "error", 0,
          "store-days", sql.SALES_VS_MOVEMENTS,
          "store-days whose units sold differ from their sale movements in fact_inventory"),
    Check("consistency.inventory_not_negative", "consistency", "fact_inventory", "error", 0,
          "rows", sql.INVENTORY_NOT_NEGATIVE,
          "stock levels below zero (movements, and inventory_levels_current)"),
    Check("consistency.revenue_arithmetic", "consistency", "fact_sales", "error", 0, "rows",
          sql.REVENUE_ARITHMETIC,
          "sales lines whose revenue is not quantity x unit price - discount (to the cent)",
          params={"tolerance": "0.01"}),
    *(Check(f"validity.quarantine_share.{t}", "validity", t, "error", 0.05, "share",
            sql.QUARANTINE_SHARE,
            "the largest share of the topic's records quarantined for one reason",
            params={"topic": t})
      for t, *_ in _TOPICS),
    *(Check(f"validity.duplicates.{t}", "validity", t, "error", 0, "rows", sql.DUPLICATES,
            "rows repeating an event id already stored", params={"table": t})
      for t in FACT_TABLES),
    Check("stream.lag", "stream", "stream_batches", "error", 5 * MINUTE, "s", sql.STREAM_LAG,
          "the newest micro-batch's finish time minus its newest event time",
          when_nothing="finding"),
    Check("stream.batch_age", "stream", "stream_batches", "error", 10 * MINUTE, "s",
          sql.STREAM_BATCH_AGE,
          "seconds since the last micro-batch finished, counted while a store is open",
          when_nothing="finding"),
    *(_bi_latency(view, bound, column) for view, bound, column in BI_VIEWS),
)


def select_checks(patterns: list[str] | None = None) -> list[Check]:
    """The declared checks whose names match any of ``patterns`` (shell globs such as
    ``freshness.*``); all of them without patterns.

    Raises:
        ValueError: a pattern matches no check (the message lists the names).
    """
    if not patterns:
        return list(CHECKS)
    unmatched = [p for p in patterns if not any(fnmatch(c.name, p) for c in CHECKS)]
    if unmatched:
        raise ValueError(f"--check {', '.join(unmatched)} matches no check; the checks are: "
                         + ", ".join(c.name for c in CHECKS))
    return [c for c in CHECKS if any(fnmatch(c.name, p) for p in patterns)]
