"""What the parse guard costs the columnar path (issue 15).

``split_fast`` gives Arrow's JSON reader only the records
:func:`retail.transforms.record_bytes.reader_can_take` passes (valid UTF-8, one ``{...}``
object on one line, few brackets). Baseline, in the same run: ``split_fast`` with the check
it replaced (not empty, not too big, no line break), which let crashing records through.
Figures are medians of ``--repeat`` runs over one batch of ``--events`` simulated records
(every event type, as the producers write them).

Usage: ``python tests/bench/bench_parse_guard.py [--events 50000] [--repeat 7]
[--write docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

from retail.contracts.columnar import encode_json, json_ready  # noqa: E402
from retail.contracts.registry import registry  # noqa: E402
from retail.sim import SimConfig, Simulator, generate_catalog  # noqa: E402
from retail.transforms import parse_fast  # noqa: E402
from retail.transforms.record_bytes import reader_can_take  # noqa: E402
from retail.transforms.validate import _ARROW_TYPES, field_types, timestamp_fields  # noqa: E402

MAX_BYTES = 65_536


def records(n: int) -> pa.RecordBatch:
    sim = Simulator(generate_catalog(20, 200, 7), SimConfig(seed=7, rate=20.0, days=3,
                                                            start=date(2024, 3, 1)))
    values, topics = [], []
    for batch in sim.run():
        for event_type, table in batch.tables.items():
            if table.num_rows:
                values += encode_json(json_ready(table))
                topics += [registry()[(event_type, 1)].topic] * table.num_rows
        if len(values) >= n:
            break
    n = min(n, len(values))
    return pa.RecordBatch.from_pydict({"value": pa.array(values[:n], pa.binary()),
                                       "topic": topics[:n]})


def unguarded(values: pa.Array, max_bytes: int) -> np.ndarray:
    """The eligibility check before the guard."""
    size = pc.binary_length(values)
    ok = pc.and_kleene(pc.and_kleene(pc.is_valid(values), pc.greater(size, 0)),
                       pc.less_equal(size, max_bytes))
    for ch in ("\n", "\r"):
        ok = pc.and_(ok, pc.invert(pc.fill_null(pc.match_substring(values, ch), True)))
    return pc.fill_null(ok, False).to_numpy(zero_copy_only=False)


def medians_s(fns: list, repeat: int) -> list[float]:
    """Median seconds of each of ``fns``, run in turns (so a busy spell hits them alike)."""
    for fn in fns:
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, kept in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def run(args) -> str:
    batch = records(args.events)
    n = batch.num_rows
    types = {k: _ARROW_TYPES[v] for k, v in field_types().items()}
    stamps = timestamp_fields()

    def split() -> None:
        fast, slow = parse_fast.split_fast(batch, MAX_BYTES, types, stamps)
        assert len(slow) == 0 and sum(len(r) for r, _ in fast) == n

    def split_unguarded() -> None:
        parse_fast.reader_can_take = unguarded
        try:
            split()
        finally:
            parse_fast.reader_can_take = reader_can_take

    values = batch.column("value")
    guarded, before, screen, old = medians_s([
        split, split_unguarded, lambda: reader_can_take(values, MAX_BYTES),
        lambda: unguarded(values, MAX_BYTES)], args.repeat)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""## Parse guard (issue 15)

`python tests/bench/bench_parse_guard.py --events {args.events} --repeat {args.repeat}`,
{when}. `split_fast` over one batch of {n:,} simulated records (every event
type), median of {args.repeat} runs taken in turns. Baseline: the same with the check the
guard replaced (not empty, not too big, no line break), which let crashing records reach
Arrow's reader. Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end
(other work shared them). The screen is one regular-expression pass where the old check
made two substring scans.

| | median | per record | vs. baseline |
|---|---:|---:|---:|
| split_fast, check before the guard (baseline) | {before * 1e3:.0f} ms | {before / n * 1e6:.2f} µs | 1.00x |
| split_fast, guarded | {guarded * 1e3:.0f} ms | {guarded / n * 1e6:.2f} µs | {guarded / before:.2f}x |
| the guard's screen alone | {screen * 1e3:.1f} ms | {screen / n * 1e6:.2f} µs | |
| the check it replaced alone | {old * 1e3:.1f} ms | {old / n * 1e6:.2f} µs | |
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", type=Path, help="update this section of the report")
    args = parser.parse_args()
    text = run(args)
    print(text)
    if args.write:
        write_section(args.write, "parse-guard", text)


if __name__ == "__main__":
    main()
