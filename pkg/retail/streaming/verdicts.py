"""The checks a micro-batch makes on the driver, over the Arrow table its Spark job hands
back: events naming a store or product missing from the dimensions, and events behind the
watermark. Both only turn good rows (no ``reject_reason`` yet) into rejected ones, filling
``reject_reason``, ``reject_error`` and ``reject_field``; every other column is kept as is.

They run here, not in the Spark job, because each needs something only the driver has
when the batch starts (the reference data as of now, the watermark of the batches before),
and in the job they would cost a broadcast (a Spark job of its own) per micro-batch.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

REJECT_COLUMNS = ("reject_reason", "reject_error", "reject_field")


def is_good(events: pa.Table) -> pa.ChunkedArray:
    """Rows that passed every check so far."""
    return pc.is_null(events["reject_reason"])


def _reject(events: pa.Table, mask: pa.ChunkedArray | pa.Array, reason: str,
            error: pa.ChunkedArray | pa.Array, field: pa.ChunkedArray | pa.Array | str
            ) -> pa.Table:
    """``events`` with the reject columns set on the rows of ``mask`` (nulls: false)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():  # the usual batch: nothing to reject
        return events
    values = {"reject_reason": pa.scalar(reason), "reject_error": error,
              "reject_field": pa.scalar(field) if isinstance(field, str) else field}
    for name in REJECT_COLUMNS:
        i = events.schema.get_field_index(name)
        column = events.column(i)
        events = events.set_column(i, events.field(i), pc.cast(
            pc.if_else(mask, values[name], column), column.type))
    return events


def check_references(events: pa.Table, stores: pa.Array | pa.ChunkedArray,
                     products: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Reject good events that name a store or product missing from the dimensions
    (``invalid``; the store is named first when both are unknown).

    ``stores``: the known ``store_id`` values; ``products``: the known ``product_id``s."""
    good = is_good(events)
    store, product = events["store_id"], events["product_id"]
    bad_store = pc.and_(good, pc.and_(pc.is_valid(store),
                                      pc.invert(pc.is_in(store, value_set=stores))))
    bad_product = pc.and_(pc.and_(good, pc.invert(bad_store)), pc.and_(
        pc.is_valid(product), pc.invert(pc.is_in(product, value_set=products))))
    if pc.any(bad_store).as_py():
        events = _reject(events, bad_store, "invalid",
                         pc.binary_join_element_wise("unknown store ", store, ""), "store_id")
    if pc.any(bad_product).as_py():
        events = _reject(events, bad_product, "invalid",
                         pc.binary_join_element_wise("unknown product ", product, ""),
                         "product_id")
    return events


def newest_good(events: pa.Table) -> datetime | None:
    """The newest ``event_time`` among the good rows (None if there are none)."""
    return pc.max(events["event_time"].filter(is_good(events))).as_py() \
        if events.num_rows else None


def mark_late(events: pa.Table, *, watermark: datetime | None) -> pa.Table:
    """Reject good events whose ``event_time`` is before ``watermark`` as ``late``."""
    if watermark is None or events.num_rows == 0:
        return events
    when = events["event_time"]
    late = pc.fill_null(pc.and_(is_good(events), pc.less(when, pa.scalar(watermark,
                                                                         when.type))), False)
    if not pc.any(late).as_py():
        return events
    message = pc.binary_join_element_wise(
        "event_time ", pc.strftime(pc.cast(when, pa.timestamp("s", when.type.tz), safe=False),
                                   "%Y-%m-%d %H:%M:%S"),
        f" is behind the watermark {watermark:%Y-%m-%d %H:%M:%S}", "")
    return _reject(events, late, "late", message, "event_time")
