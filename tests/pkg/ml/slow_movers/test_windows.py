"""The slow-mover sums the warehouse computes (retail.ml.slow_movers.windows), on rows
written to a migrated local warehouse; expected values by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from retail.ml.slow_movers import windows

D = date(2026, 6, 15)


def day(offset: int) -> date:
    return D + timedelta(days=offset)


def key(offset: int) -> int:
    return int(f"{day(offset):%Y%m%d}")


def by_key(frame, *names):
    return {tuple(r[n] for n in names): r for r in frame.collect()}


def sales(wh, *rows):
    """(store, product, day offset, units, returned units) into agg_sales_daily."""
    wh.command("INSERT INTO agg_sales_daily (date_key, store_key, product_key, units, "
               "return_units) SELECT k.1, k.2, k.3, k.4, k.5 FROM (SELECT arrayJoin("
               "{rows:Array(Tuple(UInt32, Int64, Int64, Int64, Int64))}) AS k)",
               {"rows": [(key(o), s, p, u, r) for s, p, o, u, r in rows]})


def test_sales_windows_sum_the_days_before_and_after_each_origin(spark, migrated):
    sales(migrated,
          (1, 1, 0, 7, 0), (1, 1, -6, 5, 2), (1, 1, -7, 14, 0),  # 7 d: 14, 28 d: 28
          (1, 1, -28, 100, 0),  # before the 28 days
          (1, 1, 1, 3, 0), (1, 1, 7, 4, 0), (1, 1, 8, 50, 0),  # window 7: 3 + 4
          (1, 2, 14, 5, 0), (1, 2, 15, 9, 0),  # no window given: label_days 14: 5
          (2, 1, 1, 99, 0),  # another store
          (1, 1, 20, 11, 0))  # 7 days after the second origin D + 14
    got = by_key(windows.sales_windows(spark, migrated, [D, day(14)], {1: 7},
                                       label_days=14), "store_key", "product_key", "date")
    assert (got[1, 1, D].s7, got[1, 1, D].s28, got[1, 1, D].ahead) == (14, 28, 7)
    assert (got[1, 2, D].s28, got[1, 2, D].ahead) == (0, 5)
    assert (got[2, 1, D].s7, got[2, 1, D].ahead) == (0, 99)
    # D + 14: the 7 days ending it hold D + 8's 50; the 28 days D - 13 .. D + 14 hold
    # 14 + 7 + 7 + 3 + 4 + 50; its window D + 15 .. D + 21 holds the 11
    assert (got[1, 1, day(14)].s7, got[1, 1, day(14)].s28,
            got[1, 1, day(14)].ahead) == (50, 85, 11)
    assert (got[1, 2, day(14)].s7, got[1, 2, day(14)].ahead) == (5, 9)
    # nothing after D + 8 is on record yet
    cut = by_key(windows.sales_windows(spark, migrated, [D], {1: 7}, label_days=14,
                                       through=day(7)), "store_key", "product_key")
    assert (cut[1, 1].ahead, cut[2, 1].ahead) == (7, 99)
    assert (1, 2) not in cut


def test_sales_windows_refuse_no_origin_and_a_window_past_the_label_days(spark, migrated):
    with pytest.raises(ValueError, match="no origin"):
        windows.sales_windows(spark, migrated, [], {}, label_days=14)
    with pytest.raises(ValueError, match="label_days"):
        windows.sales_windows(spark, migrated, [D], {1: 30}, label_days=14)


def test_restock_age_is_the_days_since_the_last_restock(spark, migrated):
    restocked = [(1, 1, -10), (1, 1, -3), (1, 1, 2), (1, 2, -95), (1, 3, -90)]
    migrated.command(
        "INSERT INTO agg_inventory_daily (date_key, store_key, product_key, last_restock_key) "
        "SELECT k.1, k.2, k.3, k.1 FROM (SELECT arrayJoin("
        "{rows:Array(Tuple(UInt32, Int64, Int64))}) AS k)",
        {"rows": [(key(o), s, p) for s, p, o in restocked]})
    # a day with movements and no restock
    migrated.command("INSERT INTO agg_inventory_daily (date_key, store_key, product_key, "
                     "last_restock_key) VALUES ({k:UInt32}, 1, 4, 0)", {"k": key(-1)})
    got = by_key(windows.restock_ages(spark, migrated, [D]), "product_key")
    assert {k: r.days_since_restock for k, r in got.items()} == {(1,): 3, (3,): 90}


def test_promotion_sales_clip_each_promotion_to_the_window(spark, migrated):
    sales(migrated, *((s, 1, o, 2, 0) for s in (1, 2) for o in range(-10, 1)),
          (1, 2, -3, 6, 1))
    migrated.command(
        "INSERT INTO promotion_calendar (product_id, product_key, promotion_id, start_date, "
        "end_date, discount) VALUES ('P1', 1, 'A', {a:Date}, {b:Date}, 0.2), "
        "('P1', 1, 'B', {c:Date}, {d:Date}, 0.3), ('P2', 2, 'C', {c:Date}, {d:Date}, 0.1)",
        {"a": day(-14), "b": day(-8), "c": day(-4), "d": day(2)})
    got = by_key(windows.promotion_sales(spark, migrated, day(-10), D),
                 "store_key", "product_key", "p_start")
    assert (got[1, 1, day(-10)].p_end, got[1, 1, day(-10)].units) == (day(-8), 6)
    assert (got[2, 1, day(-4)].p_end, got[2, 1, day(-4)].units) == (D, 10)
    assert (got[1, 2, day(-4)].units, got[1, 2, day(-4)].discount) == (7, 0.1)
    assert len(got) == 5
    totals = by_key(windows.sales_totals(spark, migrated, day(-10), D),
                    "store_key", "product_key")
    assert {k: r.total_units for k, r in totals.items()} == {(1, 1): 22, (2, 1): 22,
                                                             (1, 2): 7}
