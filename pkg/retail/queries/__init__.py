"""Dashboard queries: one ``<name>.sql`` file per query, run against the warehouse.

Each file opens with comment lines ``-- title: ...`` and ``-- description: ...`` (the rest
of the leading comment documents the query's definitions). Parameters use ClickHouse's
server-side binding, never string formatting: ``{as_of:Date}`` (every query),
``{store_id:String}`` (store-manager queries) and ``{stores:Array(String)}`` (the store ids
the reader may see: every query over stores' figures binds it, so the dashboards' row-level
security is a parameter, never SQL built from data). Queries read the pre-aggregated tables where
those answer the question and the fact tables only where they must.

    from retail.queries import run_query
    table = run_query(wh, "store_low_stock", store_id="S00017")   # as_of: latest sale day
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from retail.io.warehouse import Warehouse

__all__ = ["Query", "all_stores", "get_query", "latest_sale_date", "list_queries",
           "run_query", "sales_days"]

# The parameters a query may bind, with the only ClickHouse type each may have.
PARAMETERS = {"as_of": "Date", "store_id": "String", "stores": "Array(String)"}
_PARAM = re.compile(r"\{\s*(\w+)\s*:\s*([^{}]+?)\s*\}")
_HEADER = re.compile(r"^--\s*(title|description)\s*:\s*(.+?)\s*$")


@dataclass(frozen=True)
class Query:
    """One dashboard query: its SQL (the file without its header comment) and the
    parameters it binds."""

    name: str
    title: str
    description: str
    sql: str
    params: tuple[str, ...]

    @property
    def needs_store(self) -> bool:
        return "store_id" in self.params

    @property
    def restricts_stores(self) -> bool:
        """Whether the query's rows are limited to ``stores`` (row-level security)."""
        return "stores" in self.params


def _parse(name: str, text: str) -> Query:
    meta: dict[str, str] = {}
    lines = text.splitlines()
    body = len(lines)
    for i, line in enumerate(lines):
        line = line.strip()
        if line and not line.startswith("--"):
            body = i  # the header is the leading comment block; the query follows it
            break
        if m := _HEADER.match(line):
            meta.setdefault(m.group(1), m.group(2))
    missing = [key for key in ("title", "description") if key not in meta]
    if missing:
        raise ValueError(f"query {name}.sql: no '-- {missing[0]}:' line in its header")
    sql = "\n".join(lines[body:]).strip().rstrip(";").strip()
    params: dict[str, None] = {}
    for m in _PARAM.finditer(sql):
        pname, ptype = m.group(1), m.group(2)
        if PARAMETERS.get(pname) != ptype:
            raise ValueError(f"query {name}.sql: unknown parameter {{{pname}:{ptype}}}; "
                             f"known: {', '.join(f'{{{k}:{v}}}' for k, v in PARAMETERS.items())}")
        params[pname] = None
    if "as_of" not in params:
        raise ValueError(f"query {name}.sql does not bind {{as_of:Date}}")
    return Query(name, meta["title"], meta["description"], sql, tuple(params))


@cache
def _registry() -> dict[str, Query]:
    files = sorted((f for f in resources.files(__name__).iterdir() if f.name.endswith(".sql")),
                   key=lambda f: f.name)
    return {f.name[:-4]: _parse(f.name[:-4], f.read_text(encoding="utf-8")) for f in files}


def list_queries() -> list[Query]:
    """Every query, by name."""
    return list(_registry().values())


def get_query(name: str) -> Query:
    """The query called ``name``; KeyError naming the known ones otherwise."""
    try:
        return _registry()[name]
    except KeyError:
        raise KeyError(f"unknown query {name!r}; known queries: "
                       f"{', '.join(_registry())}") from None


def sales_days(wh: Warehouse) -> tuple[date, date]:
    """The first and the last day with a sales line in fact_sales."""
    lo, hi = (int(k or 0) for k in wh.query_rows(
        "SELECT min(date_key), max(date_key) FROM fact_sales")[0])
    if hi == 0:
        raise ValueError("fact_sales is empty: no day has sales to report on (load some: "
                         "retail simulate --sink warehouse, or retail stream run)")
    return tuple(date(k // 10000, k // 100 % 100, k % 100) for k in (lo, hi))


def latest_sale_date(wh: Warehouse) -> date:
    """The last day with a sales line in fact_sales (the default ``as_of``)."""
    return sales_days(wh)[1]


def all_stores(wh: Warehouse) -> list[str]:
    """Every store id in dim_store, sorted."""
    return [r[0] for r in wh.query_rows(
        "SELECT DISTINCT store_id FROM dim_store FINAL ORDER BY store_id")]


def run_query(wh: Warehouse, name: str, *, as_of: date | None = None,
              store_id: str | None = None, stores: Sequence[str] | None = None) -> pa.Table:
    """Run a dashboard query and return its result as an Arrow table.

    ``as_of`` defaults to :func:`latest_sale_date`. ``store_id`` is required by the
    store-manager queries and refused by the others. ``stores`` limits the queries that
    bind it to those store ids; None means every store in dim_store (the CLI and jobs: the
    dashboards always pass the reader's own list, which may be empty). Given with a
    store query, ``store_id`` must be one of ``stores`` (PermissionError otherwise).
    """
    query = get_query(name)
    if query.needs_store and not store_id:
        raise ValueError(f"query {name} needs a store_id (--store)")
    if store_id is not None and not query.needs_store:
        raise ValueError(f"query {name} takes no store_id; it covers every store")
    if stores is not None and isinstance(stores, str):
        raise TypeError("stores must be a sequence of store ids, not one string")
    if query.needs_store and stores is not None and store_id not in stores:
        raise PermissionError(f"query {name}: store {store_id!r} is not among the reader's "
                              f"stores ({len(stores)} allowed)")
    values: dict[str, object] = {"as_of": as_of or latest_sale_date(wh), "store_id": store_id}
    if query.restricts_stores:
        values["stores"] = list(stores) if stores is not None else all_stores(wh)
    return wh.query_arrow(query.sql, parameters={p: values[p] for p in query.params})
