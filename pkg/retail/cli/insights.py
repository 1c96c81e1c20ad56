"""``retail anomalies list``, ``retail slow-movers`` and ``retail recommend``: what the insight
models of issue 19 wrote into the warehouse (ml_anomalies, ml_slow_movers,
ml_recommendations, ml_product_affinity), read for people. Read-only; by default the latest
run date and, on it, the model version that wrote last."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import BadOption, console, day_option, handle_errors, print_table, settings
from retail.io.warehouse import Warehouse

anomalies_app = typer.Typer(help="Anomalies the Isolation Forest flagged per store and day "
                            "(jobs/detect_anomalies.py).", no_args_is_help=True)

KINDS = ("sales_drop", "demand_spike", "inventory_discrepancy", "pricing_error")
METHODS = ("fpgrowth", "item_factors")
MAX_LIMIT = 1000
# the sales contract's customer_id: any loyalty number of at most 64 characters
CUSTOMER_ID = re.compile(r"^\S{1,64}$")


class NoRows(ValueError):
    """Nothing was written for what was asked: exit 1 with the job that writes it."""


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadOption(f"--limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _day(text: str | None) -> date | None:
    return day_option("--date", text) if text else None


# Dimension lookups: (flag, the query that counts the id).
_KNOWN = {
    "--store": ("SELECT count() FROM dim_store FINAL WHERE store_id = {id:String}",
                "dim_store (retail masterdata load)"),
    "--product": ("SELECT count() FROM dim_product FINAL WHERE product_id = {id:String}",
                  "dim_product (retail masterdata load)"),
}


def _known(wh: Warehouse, flag: str, value: str) -> str:
    sql, where = _KNOWN[flag]
    if not wh.query_rows(sql, {"id": value})[0][0]:
        raise BadOption(f"{flag} {value}: no such id in {where}")
    return value


def _latest_run(wh: Warehouse, sql: str, params: dict, day: date | None, missing: str
                ) -> tuple[date, str]:
    """The run date (``day``, or the newest) and the model version that wrote it last;
    ``sql`` selects (day, version) of the rows matching ``params`` and ``{day}``. Without
    one: NoRows, saying what is ``missing`` (on ``day``) and the job that writes it."""
    found = wh.query_rows(sql, {**params, "day": day})
    if not found:
        raise NoRows(missing.replace("{on}", f" on {day}" if day else ""))
    return found[0][0], found[0][1]


def _connect():
    from retail.io.warehouse import connect

    return connect(settings().resolved_warehouse())


def _heading(text: str) -> None:
    """The line above a table: on one line whatever the table's width."""
    console.print(text, highlight=False, soft_wrap=True)


def _number(value: float | None, fmt: str = "{:,.1f}") -> str:
    return "-" if value is None else fmt.format(value)


# --- anomalies ----------------------------------------------------------------------------
_ANOMALY_RUN = """
SELECT date, argMax(model_version, detected_at) FROM ml_anomalies FINAL
WHERE store_id = {store:String} AND ({day:Nullable(Date)} IS NULL OR date = {day:Nullable(Date)})
GROUP BY date ORDER BY date DESC LIMIT 1"""
_ANOMALIES = """
SELECT rank, product_id, kind, score, demand, expected_demand, expected_low, expected_high,
       unexplained_stock_change, avg_unit_price, reference_price, velocity_change,
       duplicate_alert_id
FROM ml_anomalies FINAL
WHERE store_id = {store:String} AND date = {day:Date} AND model_version = {version:String}
  AND ({kind:String} = '' OR kind = {kind:String})
ORDER BY rank, product_id"""


@anomalies_app.command("list")
@handle_errors
def list_anomalies(
    store: Annotated[str, typer.Option("--store", help="Store id, e.g. S00001")],
    day: Annotated[str | None, typer.Option(
        "--date", help="Scored day YYYY-MM-DD (default: the latest scored)")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown at most")] = 20,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Only this kind: " + " | ".join(KINDS))] = None,
    include_alerted: Annotated[bool, typer.Option(
        "--include-alerted", help="Also the anomalies the stream already alerted")] = False,
) -> None:
    """The store's anomalies of a day, the most anomalous first: the kind, the score and the
    values behind it. Those the stream's rules already alerted are left out (as in the
    dashboards) unless --include-alerted."""
    if kind is not None and kind not in KINDS:
        raise BadOption(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    limit, when = _limit(limit), _day(day)
    with _connect() as wh:
        _known(wh, "--store", store)
        when, version = _latest_run(
            wh, _ANOMALY_RUN, {"store": store}, when, f"no anomalies scored for store {store}"
            "{on} in ml_anomalies (jobs/detect_anomalies.py --date D --task score)")
        rows = wh.query_arrow(_ANOMALIES, {"store": store, "day": when, "version": version,
                                           "kind": kind or ""}).to_pylist()
    alerted = [r for r in rows if r["duplicate_alert_id"] is not None]
    shown = (rows if include_alerted else [r for r in rows if r not in alerted])[:limit]
    hidden = "" if include_alerted or not alerted else (
        f"; {len(alerted)} already alerted by the stream (--include-alerted shows them)")
    if not shown:
        console.print(f"{store}, {when}: no anomaly" + (f" of kind {kind}" if kind else "")
                      + f" to show (version {version}){hidden}", highlight=False)
        return
    table = Table("rank", "product", "kind", "score", "demand", "expected", "stock change",
                  "price / regular", "velocity change", *(["alert"] if include_alerted else []))
    for r in shown:
        expected = "-" if r["expected_demand"] is None else (
            f"{r['expected_demand']:.1f} ({_number(r['expected_low'])} - "
            f"{_number(r['expected_high'])})")
        price = "-" if r["avg_unit_price"] is None else (
            f"{r['avg_unit_price']:.2f} / {_number(r['reference_price'], '{:.2f}')}")
        table.add_row(str(r["rank"]), r["product_id"], r["kind"], f"{r['score']:.3f}",
                      f"{r['demand']:,.1f}", expected, f"{r['unexplained_stock_change']:+,.0f}",
                      price, _number(r["velocity_change"], "{:+.2f}"),
                      *([r["duplicate_alert_id"] or "-"] if include_alerted else []))
    _heading(f"{store}, {when}: anomalies by version {version}")
    print_table(table)
    console.print(f"{len(shown)} of {len(rows)} anomalies{hidden}", highlight=False)


# --- slow movers --------------------------------------------------------------------------
_SLOW_RUN = """
SELECT run_date, argMax(model_version, created_at) FROM ml_slow_movers FINAL
WHERE store_id = {store:String}
  AND ({day:Nullable(Date)} IS NULL OR run_date = {day:Nullable(Date)})
GROUP BY run_date ORDER BY run_date DESC LIMIT 1"""
_SLOW_MOVERS = """
SELECT product_id, probability, is_slow_mover, on_hand, velocity_28, days_of_cover,
       horizon_days, markdown_depth, markdown_start, expected_units_markdown,
       count() OVER () AS pairs, countIf(is_slow_mover) OVER () AS slow
FROM ml_slow_movers FINAL
WHERE store_id = {store:String} AND run_date = {day:Date} AND model_version = {version:String}
ORDER BY is_slow_mover DESC, probability DESC, product_id LIMIT {limit:UInt32}"""


@handle_errors
def slow_movers(
    store: Annotated[str, typer.Option("--store", help="Store id, e.g. S00001")],
    day: Annotated[str | None, typer.Option(
        "--date", help="Run date YYYY-MM-DD (default: the latest)")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown at most")] = 20,
) -> None:
    """The store's products least likely to sell their stock within the horizon, slow
    movers first by probability, with the suggested markdown (docs/models.md)."""
    limit, when = _limit(limit), _day(day)
    with _connect() as wh:
        _known(wh, "--store", store)
        when, version = _latest_run(
            wh, _SLOW_RUN, {"store": store}, when, f"no slow-mover scores for store {store}"
            "{on} in ml_slow_movers (jobs/classify_slow_movers.py --date D --task score)")
        rows = wh.query_arrow(_SLOW_MOVERS, {"store": store, "day": when, "version": version,
                                             "limit": limit}).to_pylist()
    table = Table("product", "probability", "slow mover", "on hand", "units/day (28 d)",
                  "days of cover", "horizon", "markdown", "units with markdown")
    for r in rows:
        markdown = "-" if not r["markdown_depth"] else (
            f"-{r['markdown_depth']:.0%} from {r['markdown_start'] or '-'}")
        table.add_row(r["product_id"], f"{r['probability']:.0%}",
                      "yes" if r["is_slow_mover"] else "no", str(r["on_hand"]),
                      f"{r['velocity_28']:.2f}", _number(r["days_of_cover"], "{:,.0f}"),
                      f"{r['horizon_days']} d", markdown,
                      _number(r["expected_units_markdown"]))
    _heading(f"{store}, {when}: slow movers by version {version}")
    print_table(table)
    console.print(f"{rows[0]['slow']} of {rows[0]['pairs']} store x product pairs are slow "
                  f"movers; {len(rows)} shown", highlight=False)


# --- recommendations ----------------------------------------------------------------------
_REC_RUN = """
SELECT run_date, argMax(model_version, created_at) FROM ml_recommendations FINAL
WHERE kind = {kind:String} AND customer_id = {customer:String}
  AND ({store:String} = '' OR store_id = {store:String})
  AND ({day:Nullable(Date)} IS NULL OR run_date = {day:Nullable(Date)})
GROUP BY run_date ORDER BY run_date DESC LIMIT 1"""
_RECOMMENDATIONS = """
SELECT rank, product_id, score, reason, store_id
FROM ml_recommendations FINAL
WHERE kind = {kind:String} AND customer_id = {customer:String}
  AND ({store:String} = '' OR store_id = {store:String})
  AND run_date = {day:Date} AND model_version = {version:String}
ORDER BY rank LIMIT {limit:UInt32}"""
_AFFINITY_RUN = """
SELECT run_date, method, argMax(model_version, created_at) FROM ml_product_affinity FINAL
WHERE product_id = {product:String} AND ({method:String} = '' OR method = {method:String})
  AND ({day:Nullable(Date)} IS NULL OR run_date = {day:Nullable(Date)})
  AND run_date = (SELECT max(run_date) FROM ml_product_affinity
                  WHERE product_id = {product:String}
                    AND ({method:String} = '' OR method = {method:String})
                    AND ({day:Nullable(Date)} IS NULL OR run_date = {day:Nullable(Date)}))
GROUP BY run_date, method ORDER BY method"""
_AFFINITIES = """
SELECT method, rank, other_product_id, score, lift, confidence, support, model_version
FROM ml_product_affinity FINAL
WHERE product_id = {product:String} AND run_date = {day:Date}
  AND (method, model_version) IN {runs:Array(Tuple(String, String))}
ORDER BY method, rank LIMIT {limit:UInt32} BY method"""


@handle_errors
def recommend(
    customer: Annotated[str | None, typer.Option(
        "--customer", help="Loyalty number, e.g. C000100042: products for this customer")] = None,
    product: Annotated[str | None, typer.Option(
        "--product", help="Product id: the products bought with it")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", help="Store id: products to stock or order more of")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown at most (per method)")] = 10,
    method: Annotated[str | None, typer.Option(
        "--method", help="With --product: " + " | ".join(METHODS) + " (default both)")] = None,
    day: Annotated[str | None, typer.Option(
        "--date", help="Run date YYYY-MM-DD (default: the latest)")] = None,
) -> None:
    """Cross-sell: a loyal customer's recommendations (ALS), a product's partners (basket
    rules' lift or item factors' cosine), or a store's products that sell together in its
    baskets but it does not stock or under-orders. Give exactly one of --customer,
    --product, --store."""
    given = [flag for flag, v in (("--customer", customer), ("--product", product),
                                  ("--store", store)) if v is not None]
    if len(given) != 1:
        raise BadOption("give exactly one of --customer, --product, --store" + (
            f" (got {' and '.join(given)})" if given else ""))
    if method is not None and product is None:
        raise BadOption("--method goes with --product")
    if method is not None and method not in METHODS:
        raise BadOption(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if customer is not None and not CUSTOMER_ID.match(customer):
        raise BadOption(f"--customer must be a loyalty number (1 to 64 characters, no "
                        f"spaces), got {customer!r}")
    limit, when = _limit(limit), _day(day)
    with _connect() as wh:
        if product is not None:
            _affinities(wh, _known(wh, "--product", product), method, limit, when)
            return
        if store is not None:
            _known(wh, "--store", store)
        _recommendations(wh, customer, store, limit, when)


def _recommendations(wh: Warehouse, customer: str | None, store: str | None, limit: int,
                     when: date | None) -> None:
    kind, who = ("customer", f"customer {customer}") if customer else ("store", f"store {store}")
    params = {"kind": kind, "customer": customer or "", "store": store or ""}
    when, version = _latest_run(
        wh, _REC_RUN, params, when, f"no recommendations for {who}{{on}} in "
        "ml_recommendations (" + ("not a loyal customer the last training saw" if customer
                                  else "no partner of its best sellers it lacks or "
                                  "under-orders") +
        ", or jobs/train_recommendations.py --date D --task score has not run)")
    rows = wh.query_arrow(_RECOMMENDATIONS, {**params, "day": when, "version": version,
                                             "limit": limit}).to_pylist()
    home = f" (home store {rows[0]['store_id']})" if customer else ""
    table = Table("rank", "product", "score", "why")
    for r in rows:
        table.add_row(str(r["rank"]), r["product_id"], f"{r['score']:.3f}", r["reason"])
    _heading(f"{who}{home}, {when}: recommendations by version {version}")
    print_table(table)


def _affinities(wh: Warehouse, product: str, method: str | None, limit: int,
                when: date | None) -> None:
    runs = wh.query_rows(_AFFINITY_RUN, {"product": product, "method": method or "",
                                         "day": when})
    if not runs:
        raise NoRows(f"no affinities of product {product}" + (f" by {method}" if method
                     else "") + (f" on {when}" if when else "") + " in ml_product_affinity "
                     "(jobs/train_recommendations.py --date D --task score)")
    when = runs[0][0]
    rows = wh.query_arrow(_AFFINITIES, {"product": product, "day": when, "limit": limit,
                                        "runs": [(m, v) for _, m, v in runs]}).to_pylist()
    table = Table("method", "rank", "partner", "score", "lift", "confidence", "support",
                  "version")
    for r in rows:
        table.add_row(r["method"], str(r["rank"]), r["other_product_id"], f"{r['score']:.3f}",
                      _number(r["lift"], "{:.2f}"), _number(r["confidence"], "{:.1%}"),
                      _number(r["support"], "{:.2%}"), r["model_version"])
    _heading(f"{product}, {when}: products bought with it")
    print_table(table)
