"""Simulator -> Kafka -> the stream processor -> warehouse, lake and alert topics."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pyarrow.compute as pc
import pytest

from retail.contracts.topics import topic_for_event_type
from retail.io.lake import LakeWriter
from retail.settings import LakeSettings
from tests.integration.stream_harness import REPLAY_LATE_AFTER_MINUTES, StreamEnv

pytestmark = pytest.mark.integration


@pytest.fixture
def stream_env(fresh_broker, fresh_database, migrated, tmp_path) -> Iterator[StreamEnv]:
    yield StreamEnv(kafka=fresh_broker.settings, warehouse=fresh_database, wh=migrated,
                    root=tmp_path, stream={"late_after_minutes": REPLAY_LATE_AFTER_MINUTES})


def _signed_sums(sales) -> tuple[int, Decimal]:
    sign = pc.if_else(pc.equal(sales["transaction_type"], "return"), -1, 1)
    units = pc.sum(pc.multiply(sales["quantity"], sign)).as_py()
    revenue = sum(Decimal(str(v)) * s for v, s in zip(sales["line_total"].to_pylist(),
                                                      sign.to_pylist(), strict=True))
    return units, revenue


def test_every_simulated_event_lands_once_with_the_simulators_sums(stream_env):
    sim = stream_env.simulate(stores=2, products=30, rate=10)
    summary = stream_env.run()
    assert summary.rejected_rows == 0
    total = sum(t.num_rows for t in sim.tables.values())
    assert summary.input_rows == total

    units, revenue = _signed_sums(sim.tables["sales_transaction"])
    (n, q, r), = stream_env.rows("SELECT count(), sum(quantity), sum(revenue) "
                                 "FROM fact_sales FINAL")
    assert (n, q, r) == (sim.count("sales_transaction"), units, revenue)
    (moves,), = stream_env.rows("SELECT count() FROM fact_inventory FINAL")
    assert moves == sim.count("inventory_update")
    (raw,), = stream_env.rows("SELECT count() FROM raw_events FINAL")
    assert raw == total
    # Window partials add up: every sale is in exactly one of the aligned 5-minute windows.
    (m_units, m_rev), = stream_env.rows(
        "SELECT sum(units), sum(revenue) FROM sales_metrics_5m "
        "WHERE product_id = '' AND toMinute(window_start) % 5 = 0")
    assert (m_units, m_rev) == (units, revenue)

    levels = dict(((s + "|" + p), q) for s, p, q in stream_env.rows(
        "SELECT store_id, product_id, quantity_on_hand FROM inventory_levels_current FINAL"))
    moved = {f"{s}|{p}" for s, p in zip(
        sim.tables["inventory_update"]["store_id"].to_pylist(),
        sim.tables["inventory_update"]["product_id"].to_pylist(), strict=True)}
    assert levels == {k: v for k, v in sim.stock.items() if k in moved}
    (disc,), = stream_env.rows("SELECT count() FROM stream_alerts FINAL "
                               "WHERE alert_type = 'inventory_discrepancy'")
    assert disc == 0  # the simulator's stock movements are consistent

    lake = LakeWriter(LakeSettings(root=str(stream_env.lake_root)))
    by_topic: dict[str, list[str]] = {}
    for event_type, table in sim.tables.items():
        by_topic.setdefault(topic_for_event_type(event_type), []).extend(
            table["event_id"].to_pylist())
    for topic, want in by_topic.items():
        if want:
            assert sorted(lake.read(topic)["event_id"].to_pylist()) == sorted(want), topic
