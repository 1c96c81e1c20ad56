"""A key's state before a batch is kept as JSON text (``prior``), built column-wise: it
must read back exactly, whatever the values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from retail.streaming.state import STATE_SCHEMA, _decode, prior_json


def test_prior_json_reads_back_exactly():
    rows = [{"store_id": "S1", "product_id": "P1", "quantity_on_hand": -3,
             "last_event_time": datetime(2026, 2, 28, 23, 59, 59, 999000, tzinfo=UTC),
             "velocity_per_day": 0.1 + 0.2, "velocity_at": datetime(2026, 1, 1, tzinfo=UTC),
             "restock_alert_id": 'quote " and backslash \\ inside'},
            {"store_id": "S1", "product_id": "P2", "quantity_on_hand": None,
             "last_event_time": None, "velocity_per_day": 1e-300, "velocity_at": None,
             "restock_alert_id": ""}]
    table = pa.Table.from_pylist(rows, STATE_SCHEMA)
    back = [_decode(json.loads(text)) for text in prior_json(table).to_pylist()]
    assert back == [{k: v for k, v in r.items() if k not in ("store_id", "product_id")}
                    for r in rows]


def test_a_velocity_json_cannot_hold_is_kept_as_null():
    table = pa.Table.from_pylist([{"store_id": "S", "product_id": "P",
                                   "velocity_per_day": float("nan")}], STATE_SCHEMA)
    assert json.loads(prior_json(table)[0].as_py())["velocity_per_day"] is None


def test_no_rows_no_json():
    assert prior_json(STATE_SCHEMA.empty_table()).to_pylist() == []
