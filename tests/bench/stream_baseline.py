"""The stream benchmark's baseline: a plain kafka-python consumer loop inserting into the
warehouse (no validation, state, lake or alerts)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retail.io.kafka import consumer  # noqa: E402
from retail.io.warehouse import connect  # noqa: E402
from retail.settings import KafkaSettings, WarehouseSettings  # noqa: E402
from retail.streaming.batch_tables import timestamp_fields  # noqa: E402
from retail.streaming.reference import Reference  # noqa: E402
from retail.transforms.validate import event_columns, field_types  # noqa: E402
from retail.warehouse.load import fact_tables  # noqa: E402
from stream_common import _ARROW, _TS, input_topics  # noqa: E402


def _event_schema(event_type: str) -> pa.Schema:
    types = field_types()
    return pa.schema([(n, pa.string() if n in timestamp_fields() else _ARROW[types[n]])
                      for n in event_columns(event_type)])


def plain_loop(kafka: KafkaSettings, ws: WarehouseSettings, *, expect: int | None = None,
               stop=None, ready=None, from_end: bool = False, max_records: int = 50_000
               ) -> dict:
    """Poll, parse, insert raw_events and the facts; until ``expect`` records or ``stop``."""
    from kafka import TopicPartition

    wh = connect(ws)
    ref = Reference.load(wh)  # what the fact mappers need (unit costs, store time zones)
    schemas: dict[str, pa.Schema] = {}
    c = consumer(kafka, group_id=None, fetch_max_wait_ms=100,
                 max_partition_fetch_bytes=32 << 20, fetch_max_bytes=32 << 20)
    tps = [TopicPartition(t, p) for t in input_topics()
           for p in sorted(c.partitions_for_topic(t) or ())]
    c.assign(tps)
    (c.seek_to_end if from_end else c.seek_to_beginning)()
    for tp in tps:
        c.position(tp)  # resolve now, before the load starts
    if ready is not None:
        ready.set()
    n = polls = 0
    parse_s = insert_s = 0.0
    t0 = time.perf_counter()
    try:
        while True:
            got = c.poll(timeout_ms=200, max_records=max_records)
            if not got:
                if (expect is not None and n >= expect) or (stop is not None and stop.is_set()):
                    break
                if expect is not None and time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"baseline read {n:,} of {expect:,} records")
                continue
            t = time.perf_counter()
            raw = {k: [] for k in ("event_id", "event_type", "schema_version", "topic",
                                   "partition", "offset", "key", "payload", "event_time")}
            by_type: dict[str, list[dict]] = {}
            for tp, records in got.items():
                for r in records:
                    ev = orjson.loads(r.value)
                    by_type.setdefault(ev["event_type"], []).append(ev)
                    raw["event_id"].append(ev["event_id"])
                    raw["event_type"].append(ev["event_type"])
                    raw["schema_version"].append(ev["schema_version"])
                    raw["topic"].append(tp.topic)
                    raw["partition"].append(tp.partition)
                    raw["offset"].append(r.offset)
                    raw["key"].append((r.key or b"").decode())
                    raw["payload"].append(r.value.decode())
                    raw["event_time"].append(ev["event_time"])
            raw_table = pa.table({
                **{k: pa.array(v) for k, v in raw.items() if k not in (
                    "schema_version", "partition", "offset", "event_time")},
                "schema_version": pa.array(raw["schema_version"], pa.uint8()),
                "partition": pa.array(raw["partition"], pa.uint16()),
                "offset": pa.array(raw["offset"], pa.uint64()),
                "event_time": pc.cast(pa.array(raw["event_time"]), _TS)})
            tables = {}
            for et, rows in by_type.items():
                schema = schemas.get(et) or schemas.setdefault(et, _event_schema(et))
                table = pa.Table.from_pylist(rows, schema=schema)
                for name in schema.names:
                    if name in timestamp_fields():
                        table = table.set_column(table.schema.get_field_index(name), name,
                                                 pc.cast(table[name], _TS))
                tables[et] = table
            facts = fact_tables(tables, ref)
            t2 = time.perf_counter()
            wh.insert_arrow("raw_events", raw_table)
            for name, rows in facts.items():
                wh.insert_arrow(name, rows)
            t3 = time.perf_counter()
            parse_s += t2 - t
            insert_s += t3 - t2
            n += raw_table.num_rows
            polls += 1
            if expect is not None and n >= expect:
                break
    finally:
        c.close()
        wh.close()
    return {"events": n, "seconds": time.perf_counter() - t0, "polls": polls,
            "parse_s": parse_s, "insert_s": insert_s}


def _baseline_process(kafka, ws, ready, stop, out) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        out.put(plain_loop(kafka, ws, stop=stop, ready=ready, from_end=True))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        ready.set()
