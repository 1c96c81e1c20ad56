"""The retail calendar: US holidays, seasons, demand multipliers and the date dimension."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.sim import calendar
from retail.sim.calendar import (
    HOLIDAY_MULTIPLIER,
    WEEKDAY_MULTIPLIER,
    calendar_table,
    day_multiplier,
    holiday_name,
    holidays,
    season,
)

COLUMNS = {
    "date": pa.date32(),
    "day_of_week": pa.int64(),
    "week": pa.int64(),
    "month": pa.int64(),
    "quarter": pa.int64(),
    "year": pa.int64(),
    "is_weekend": pa.bool_(),
    "is_holiday": pa.bool_(),
    "holiday_name": pa.string(),
    "season": pa.string(),
    "demand_multiplier": pa.float64(),
}


def test_holidays_of_2026_fall_on_their_dates():
    assert holidays(2026) == {
        date(2026, 1, 1): "New Year's Day",
        date(2026, 5, 25): "Memorial Day",
        date(2026, 7, 4): "Independence Day",
        date(2026, 9, 7): "Labor Day",
        date(2026, 11, 25): "Thanksgiving Eve",
        date(2026, 11, 26): "Thanksgiving Day",
        date(2026, 11, 27): "Black Friday",
        date(2026, 12, 24): "Christmas Eve",
        date(2026, 12, 25): "Christmas Day",
        date(2026, 12, 31): "New Year's Eve",
    }
    assert holiday_name(date(2026, 11, 27)) == "Black Friday"
    assert holiday_name(date(2026, 11, 28)) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(1950, 2150))
def test_floating_holidays_follow_their_weekday_rules_in_any_year(year):
    by_name = {name: day for day, name in holidays(year).items()}
    assert len(by_name) == len(HOLIDAY_MULTIPLIER) == 10
    thanksgiving = by_name["Thanksgiving Day"]
    assert thanksgiving.month == 11 and thanksgiving.weekday() == 3  # fourth Thursday
    assert 22 <= thanksgiving.day <= 28
    assert by_name["Black Friday"] == thanksgiving + timedelta(days=1)
    assert by_name["Thanksgiving Eve"] == thanksgiving - timedelta(days=1)
    memorial = by_name["Memorial Day"]
    assert memorial.month == 5 and memorial.weekday() == 0 and memorial.day >= 25  # last Monday
    labor = by_name["Labor Day"]
    assert labor.month == 9 and labor.weekday() == 0 and labor.day <= 7  # first Monday
    assert all(d.year == year for d in holidays(year))
    assert set(by_name) == set(HOLIDAY_MULTIPLIER)


def test_memorial_day_is_the_31st_when_may_ends_on_a_monday():
    assert date(2027, 5, 31).weekday() == 0
    assert holiday_name(date(2027, 5, 31)) == "Memorial Day"
    assert holiday_name(date(2027, 5, 24)) is None


@pytest.mark.parametrize("day,expected", [
    (date(2026, 1, 15), "winter"), (date(2026, 2, 28), "winter"), (date(2026, 3, 1), "spring"),
    (date(2026, 5, 31), "spring"), (date(2026, 6, 1), "summer"), (date(2026, 8, 31), "summer"),
    (date(2026, 9, 1), "autumn"), (date(2026, 11, 30), "autumn"), (date(2026, 12, 1), "winter"),
])
def test_seasons_are_meteorological(day, expected):
    assert season(day) == expected


def test_weekends_and_busy_holidays_raise_demand_and_quiet_holidays_lower_it():
    tuesday, saturday = date(2026, 3, 10), date(2026, 3, 14)
    assert day_multiplier(saturday) > day_multiplier(tuesday)
    assert day_multiplier(date(2026, 11, 27)) == pytest.approx(
        WEEKDAY_MULTIPLIER[4] * HOLIDAY_MULTIPLIER["Black Friday"])
    assert day_multiplier(date(2026, 11, 27)) > day_multiplier(date(2026, 11, 20))
    assert day_multiplier(date(2026, 12, 25)) < 0.5 * day_multiplier(date(2026, 12, 24))
    assert day_multiplier(date(2026, 11, 26)) < day_multiplier(date(2026, 11, 19))


def test_calendar_table_has_one_row_per_day_with_the_date_dimension_columns():
    t = calendar_table(date(2026, 11, 23), 14)
    assert t.num_rows == 14
    assert dict(zip(t.schema.names, t.schema.types)) == COLUMNS
    rows = t.to_pylist()
    assert [r["date"] for r in rows] == [date(2026, 11, 23) + timedelta(days=i) for i in range(14)]
    bf = rows[4]
    assert bf == {
        "date": date(2026, 11, 27), "day_of_week": 5, "week": 48, "month": 11, "quarter": 4,
        "year": 2026, "is_weekend": False, "is_holiday": True, "holiday_name": "Black Friday",
        "season": "autumn", "demand_multiplier": round(1.1 * 1.9, 4),
    }
    assert [r["day_of_week"] for r in rows[:7]] == [1, 2, 3, 4, 5, 6, 7]  # ISO, Monday = 1
    assert [r["is_weekend"] for r in rows[:7]] == [False] * 5 + [True] * 2
    assert [r["holiday_name"] for r in rows[:7]] == [
        None, None, "Thanksgiving Eve", "Thanksgiving Day", "Black Friday", None, None]
    assert all(r["is_holiday"] == (r["holiday_name"] is not None) for r in rows)
    assert rows[8]["season"] == "winter"  # 2026-12-01
    for r in rows:
        assert r["demand_multiplier"] == round(day_multiplier(r["date"]), 4)


def test_calendar_table_uses_each_years_holidays_across_new_year():
    rows = calendar_table(date(2026, 12, 30), 4).to_pylist()
    assert [r["holiday_name"] for r in rows] == [None, "New Year's Eve", "New Year's Day", None]
    assert [r["year"] for r in rows] == [2026, 2026, 2027, 2027]
    assert [r["quarter"] for r in rows] == [4, 4, 1, 1]
    assert [r["week"] for r in rows] == [53, 53, 53, 53]  # ISO weeks: 2026 has 53


@pytest.mark.parametrize("start,days", [(date(2026, 2, 2), 7), (date(2026, 3, 1), 1)])
def test_calendar_table_keeps_its_column_types_for_a_range_without_holidays(start, days):
    # The warehouse loads dim_date in pieces; each piece must have the same schema, so
    # holiday_name is a string column even when every value is null.
    t = calendar_table(start, days)
    assert t.num_rows == days
    assert not any(t["is_holiday"].to_pylist())
    assert dict(zip(t.schema.names, t.schema.types)) == COLUMNS


def test_a_year_of_calendar_rows_has_every_holiday_once():
    t = calendar_table(date(2026, 1, 1), 365)
    names = [n for n in t["holiday_name"].to_pylist() if n is not None]
    assert sorted(names) == sorted(HOLIDAY_MULTIPLIER)
    assert sum(t["is_weekend"].to_pylist()) == 104
    assert calendar.season(date(2026, 7, 4)) == "summer"
