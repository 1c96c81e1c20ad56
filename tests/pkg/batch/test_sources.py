"""What the daily batch reads of the lake for a store-local day: the UTC window the day
spans in the chain's stores, and only the lake rows in it (or with no time at all)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from retail.batch.sources import day_window, lake_day_files, lake_records
from retail.settings import LakeSettings


def test_the_window_runs_from_the_easternmost_midnight_to_the_westernmost():
    # Berlin (+1) opens the day at 23:00 UTC the evening before; Los Angeles (-8) closes
    # it at 08:00 UTC the morning after.
    assert day_window(date(2024, 3, 2), [1.0, -5.0, -8.0]) == (
        datetime(2024, 3, 1, 23, tzinfo=UTC), datetime(2024, 3, 3, 8, tzinfo=UTC))
    assert day_window(date(2024, 3, 2), [0.0]) == (
        datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    # no store known: every offset a zone can have
    assert day_window(date(2024, 3, 2), []) == (
        datetime(2024, 3, 1, 10, tzinfo=UTC), datetime(2024, 3, 3, 12, tzinfo=UTC))


def test_only_the_lake_rows_in_the_window_or_without_a_time_are_read(spark, tmp_path):
    rows = [  # (event_id, event_time, read for 2024-03-02 in a UTC-5 chain?)
        ("a", datetime(2024, 3, 2, 4, 59, tzinfo=UTC), False),  # 23:59 on the 1st
        ("b", datetime(2024, 3, 2, 5, 0, tzinfo=UTC), True),    # 00:00 on the 2nd
        ("c", datetime(2024, 3, 3, 4, 59, 59, tzinfo=UTC), True),
        ("d", datetime(2024, 3, 3, 5, 0, tzinfo=UTC), False),   # 00:00 on the 3rd
        ("e", None, True),  # no time: read, so the contracts can refuse it
    ]
    for utc in (1, 2, 3):
        folder = (tmp_path / "retail-sales-transactions" / "year=2024" / "month=03"
                  / f"day={utc:02d}")
        folder.mkdir(parents=True)
        mine = [r for r in rows if (r[1].day if r[1] else 2) == utc]
        pq.write_table(pa.table({
            "event_id": [r[0] for r in mine],
            "event_time": pa.array([r[1] for r in mine], pa.timestamp("ms", "UTC"))}),
            folder / "sales_transaction-x.parquet")
    lake = LakeSettings(root=str(tmp_path))
    files = lake_day_files(lake, date(2024, 3, 2), ["sales_transaction"])
    assert files.rows == {"sales_transaction": 5}  # the reconciliation counts every row
    window = day_window(date(2024, 3, 2), [-5.0])
    read = lake_records(spark, lake, files, window).collect()
    assert sorted(r["value"].decode().split('"event_id":"')[1][0] for r in read) == \
        [r[0] for r in rows if r[2]]
    assert len(lake_records(spark, lake, files).collect()) == 5  # no window: every row
