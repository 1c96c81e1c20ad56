"""--labels: a parquet of confirmed incidents is refused, naming what is wrong, before any
Spark work."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail.ml.anomalies.inputs import read_labels


def _write(path, **columns):
    pq.write_table(pa.table(columns), path)
    return path


def test_a_missing_file_a_missing_column_and_an_unknown_kind_are_named(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_labels(None, tmp_path / "none.parquet")
    day = pa.array([date(2026, 3, 2)], pa.date32())
    short = _write(tmp_path / "short.parquet", kind=["sales_drop"], store_id=["S1"],
                   product_id=["P1"], start=day)
    with pytest.raises(ValueError, match="lacks the column.s. end"):
        read_labels(None, short)
    odd = _write(tmp_path / "odd.parquet", kind=["theft"], store_id=["S1"],
                 product_id=["P1"], start=day, end=day)
    with pytest.raises(ValueError, match=r"unknown kind.s. \['theft'\]"):
        read_labels(None, odd)
