"""A model run replaces its day's rows (retail.ml.outputs) on a migrated local warehouse."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from retail.ml.outputs import replace_run


def rows(day: date, version: str, *products: str) -> pa.Table:
    return pa.table({
        "date": [day] * len(products), "date_key": [int(f"{day:%Y%m%d}")] * len(products),
        "store_id": ["S001"] * len(products), "product_id": list(products),
        "score": [0.9] * len(products), "rank": list(range(1, len(products) + 1)),
        "kind": ["demand_spike"] * len(products), "demand": [10.0] * len(products),
        "unexplained_stock_change": [0.0] * len(products), "velocity_change": [1.0] * len(products),
        "model_version": [version] * len(products)})


def stored(wh) -> set[tuple]:
    return set(wh.query_rows("SELECT date_key, model_version, product_id FROM ml_anomalies "
                             "FINAL"))


def test_a_rerun_leaves_none_of_the_rows_it_no_longer_writes(migrated):
    d1, d2 = date(2026, 10, 1), date(2026, 10, 2)
    for day, version, products in ((d1, "1", ("A", "B")), (d2, "1", ("A",)),
                                   (d1, "2", ("B",))):
        replace_run(migrated, "ml_anomalies", [rows(day, version, *products)],
                    date_key=int(f"{day:%Y%m%d}"), model_version=version)
    replace_run(migrated, "ml_anomalies", [rows(d1, "1", "C")], date_key=20261001,
                model_version="1")
    assert stored(migrated) == {(20261001, "1", "C"), (20261002, "1", "A"),
                                (20261001, "2", "B")}
    # a run that flags nothing clears its day
    replace_run(migrated, "ml_anomalies", [], date_key=20261001, model_version="1")
    assert stored(migrated) == {(20261002, "1", "A"), (20261001, "2", "B")}


def test_rows_of_another_day_or_table_are_refused(migrated):
    with pytest.raises(ValueError, match="20261002.*this run writes 20261001"):
        replace_run(migrated, "ml_anomalies", [rows(date(2026, 10, 2), "1", "A")],
                    date_key=20261001, model_version="1")
    with pytest.raises(ValueError, match="fact_sales is not a model table"):
        replace_run(migrated, "fact_sales", [], date_key=20261001, model_version="1")
    assert stored(migrated) == set()
