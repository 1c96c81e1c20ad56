"""The warehouse's date key: the day as the number YYYYMMDD, in the days' order."""

from __future__ import annotations

from datetime import date, timedelta

from retail.warehouse.keys import date_key


def test_date_key_is_yyyymmdd():
    assert date_key(date(2026, 3, 9)) == 20260309
    assert date_key(date(1999, 12, 31)) == 19991231


def test_date_key_orders_as_the_days_do():
    days = [date(2025, 12, 25) + timedelta(days=i) for i in range(0, 800, 7)]
    keys = [date_key(d) for d in days]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(str(k) == f"{d:%Y%m%d}" for k, d in zip(keys, days))
