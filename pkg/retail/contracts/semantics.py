"""What the contracts check beyond JSON Schema: a sale line's arithmetic, each timestamp of
the payload bounded by what it means, and keys given once.

The rules are declared once, as data (:data:`RULES`), and each is evaluated two ways: row by
row (:func:`first_broken`, from :meth:`retail.contracts.registry.Contract.validate`, the
reference) and column by column (:func:`rows_keep`, from :func:`retail.contracts.columnar.
valid_rows`), with the same float64 operations in the same order, so both give the same
verdict on every row. Times are compared as whole microseconds since the epoch.

The rules, their tolerances and why:

- ``sales_transaction.line_total``: ``|line_total - (quantity * unit_price -
  discount_amount)| <= 0.01 + 1e-9 * quantity * unit_price``, for sales and returns alike
  (a return carries positive amounts too; ``transaction_type`` gives the sign). One cent
  because ``line_total`` and ``discount_amount`` are each rounded to the cent (the
  simulator: ``round(q * price - discount, 2)``); the relative part, at most 0.002 within
  the schema's bounds, absorbs binary floating point.
- ``timestamp`` of every event the business sends (all but ``restock_alert``, which the
  stream publishes): within 5 minutes of ``event_time``, either way. Both say when the event happened (the simulator sets them
  equal); 5 minutes allow for two clocks. So the stream's future bound on ``event_time``
  (``RETAIL_STREAM__MAX_FUTURE_MINUTES``) and its lateness bound hold for ``timestamp``
  too, give or take 5 minutes.
- ``restock_alert.timestamp`` is when the stream published the alert: a replay publishes it
  days after ``event_time``, and an event up to the future bound ahead of the clock may
  raise one, so it has no bound relative to ``event_time``.
- ``customer_traffic.hour_start``: from 1 hour before ``event_time`` to ``event_time``: the
  event reports the hour that ends at ``event_time`` (the simulator) or is still running.
- ``supplier_shipment.ordered_at``: not after ``event_time`` (an order is placed before it
  is delivered; an order event happens when it is placed) and at most 365 days before it.
- ``supplier_shipment.expected_arrival``: from ``ordered_at`` to 90 days after it: the
  supplier's promised lead time (the simulator's suppliers promise 1 to 14 days).

A time that is not a real date and time (2024-02-30) breaks the rules that use it.

Duplicate keys: a JSON object that gives a key twice breaks its contract (JSON parsers
disagree on which value wins; orjson keeps the last), named by that key. The check needs
the record's text (:func:`duplicate_key`), so the parse paths call it, not ``validate``.
The fast parse path needs nothing of its own: Arrow's JSON reader refuses such a record
("Column(/quantity) was specified twice"), so the topic's records of that batch go to the
row path; counting key ends per record instead measured 1 to 2.4 µs a record (the fast path
costs about 9).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# A key's closing quote and its colon. Inside a JSON string a quote is escaped, so this
# occurs at least once per key of the text; escaped quotes can only add occurrences.
_KEY_END = re.compile(rb'"[ \t\n\r]*:')
_QUOTE_SPACE = re.compile(rb'"[ \t\n\r]')  # without one, every key ends in '":'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = pa.timestamp("us", "UTC")
_YEAR_ONE = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class LineTotal:
    """``field == count * price - discount`` within ``absolute + relative * count * price``."""

    event_type: str
    field: str
    count: str
    price: str
    discount: str
    absolute: float
    relative: float

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.field, self.count, self.price, self.discount

    def broken_row(self, event: Mapping[str, Any]) -> tuple[str, str] | None:
        gross = event[self.count] * event[self.price]
        expected = gross - event[self.discount]
        if abs(event[self.field] - expected) <= self.absolute + self.relative * abs(gross):
            return None
        return self.field, (
            f"{self.field} {event[self.field]} is not {self.count} * {self.price} - "
            f"{self.discount} = {event[self.count]} * {event[self.price]} - "
            f"{event[self.discount]} = {expected:.2f} (tolerance {self.absolute})")

    def holds(self, table: pa.Table) -> pa.ChunkedArray:
        # unsafe: an integer beyond 2**53 loses precision, but the schema refuses it anyway
        count, price, discount, total = (pc.cast(table[n], pa.float64(), safe=False) for n
                                         in (self.count, self.price, self.discount, self.field))
        gross = pc.multiply(count, price)
        off = pc.abs(pc.subtract(total, pc.subtract(gross, discount)))
        limit = pc.add(self.absolute, pc.multiply(self.relative, pc.abs(gross)))
        return pc.less_equal(off, limit)


@dataclass(frozen=True)
class TimeSpan:
    """``low <= field - reference <= high``, both fields UTC timestamps; ``meaning`` says
    why, completing "it must be ..."."""

    event_type: str
    field: str
    reference: str
    low: timedelta
    high: timedelta
    meaning: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.field, self.reference

    def broken_row(self, event: Mapping[str, Any]) -> tuple[str, str] | None:
        times = {}
        for name in self.inputs:
            try:
                times[name] = datetime.fromisoformat(event[name])
            except ValueError as exc:
                return name, f"{name} is not a real date and time ({exc})"
        gap = times[self.field] - times[self.reference]
        if self.low <= gap <= self.high:
            return None
        side = "after" if gap >= timedelta(0) else "before"
        return self.field, (f"{self.field} {event[self.field]} is {abs(gap)} {side} "
                            f"{self.reference} {event[self.reference]}; it must be "
                            f"{self.meaning}")

    def holds(self, table: pa.Table) -> pa.ChunkedArray:
        gap = pc.subtract(_micros(table[self.field]), _micros(table[self.reference]))
        low, high = (t // timedelta(microseconds=1) for t in (self.low, self.high))
        return pc.and_(pc.greater_equal(gap, low), pc.less_equal(gap, high))


def _micros(col: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Microseconds since the epoch of each UTC timestamp text; null where it is not a real
    date and time as the row rule reads it (``datetime.fromisoformat``)."""
    try:
        micros = pc.cast(pc.cast(col, _MICROS), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # some value is no real time
        micros = pa.array([_row_micros(v) for v in col.to_pylist()], pa.int64())
    # Arrow reads year 0, Python's datetime (the reference) starts at year 1
    return pc.if_else(pc.less(micros, _YEAR_ONE), None, micros)


def _row_micros(text: Any) -> int | None:
    try:
        return (datetime.fromisoformat(text) - _EPOCH) // timedelta(microseconds=1)
    except (TypeError, ValueError):
        return None


_SHOP_EVENTS = ("sales_transaction", "lost_sale", "inventory_update", "customer_traffic",
                "price_change", "supplier_shipment")
_ZERO = timedelta(0)

RULES: tuple[LineTotal | TimeSpan, ...] = (
    LineTotal("sales_transaction", "line_total", "quantity", "unit_price", "discount_amount",
              absolute=0.01, relative=1e-9),
    *(TimeSpan(kind, "timestamp", "event_time", -timedelta(minutes=5), timedelta(minutes=5),
               "within 5 minutes of event_time: both say when the event happened")
      for kind in _SHOP_EVENTS),
    TimeSpan("customer_traffic", "hour_start", "event_time", -timedelta(hours=1), _ZERO,
             "from 1 hour before event_time to event_time: the event reports the hour "
             "ending at event_time"),
    TimeSpan("supplier_shipment", "ordered_at", "event_time", -timedelta(days=365), _ZERO,
             "at most 365 days before event_time and not after it: an order is placed "
             "before it is delivered"),
    TimeSpan("supplier_shipment", "expected_arrival", "ordered_at", _ZERO, timedelta(days=90),
             "from ordered_at to 90 days after it: the supplier's promised lead time"),
)


def rules_for(event_type: str, fields: tuple[str, ...]) -> tuple[LineTotal | TimeSpan, ...]:
    """The rules of ``event_type``; raises ValueError if one names a field it lacks."""
    mine = tuple(r for r in RULES if r.event_type == event_type)
    for rule in mine:
        missing = [n for n in rule.inputs if n not in fields]
        if missing:
            raise ValueError(f"a rule on {event_type}.{rule.field} needs {missing}, which "
                             f"its contract does not have")
    return mine


def first_broken(rules: tuple[LineTotal | TimeSpan, ...], event: Mapping[str, Any]
                 ) -> tuple[str, str] | None:
    """(field, what is wrong) for the first rule ``event`` breaks, or None.

    ``event`` must already satisfy its JSON Schema (every field present, of its type).
    """
    for rule in rules:
        broken = rule.broken_row(event)
        if broken is not None:
            return broken
    return None


def rows_keep(rules: tuple[LineTotal | TimeSpan, ...], table: pa.Table
              ) -> pa.ChunkedArray | pa.Array:
    """A boolean per row of ``table`` (times as text): True where it keeps every rule.

    False wherever :func:`first_broken` would name a problem; null inputs give False.
    """
    ok: Any = pa.array([True] * table.num_rows, pa.bool_())
    for rule in rules:
        ok = pc.and_(ok, pc.fill_null(rule.holds(table), False))
    return ok


def duplicate_key(text: bytes | str, event: Mapping[str, Any]) -> str | None:
    """A key the JSON object ``text`` (parsed as ``event``) gives more than once, or None.

    Cheap first: every key of the text ends in a quote and a colon, maybe with whitespace
    between, so if those occur no more often than ``event`` has keys, no key repeats. Only
    otherwise (a repeat, an escaped quote before a colon in a string, a nested object) is
    the text parsed again, keeping every pair.
    """
    raw = text.encode() if isinstance(text, str) else text
    ends = len(_KEY_END.findall(raw)) if _QUOTE_SPACE.search(raw) else raw.count(b'":')
    if ends <= len(event):
        return None
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        repeated.extend(k for k, n in Counter(k for k, _ in items).items() if n > 1)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return repeated[0] if repeated else None

