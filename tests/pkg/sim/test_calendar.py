"""The retail calendar: holidays from the holidays package, shopping days, paydays, seasons,
demand multipliers and the date dimension."""

from __future__ import annotations

from datetime import date, timedelta

import holidays as holidays_pkg
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.settings import SettingsError, load_settings
from retail.sim import calendar, generate_catalog
from retail.sim.calendar import (
    HOLIDAY_MULTIPLIER,
    NO_HOLIDAY_AHEAD,
    PAYDAY_MULTIPLIER,
    PUBLIC_HOLIDAY_MULTIPLIER,
    WEEKDAY_MULTIPLIER,
    calendar_table,
    check_country,
    day_multiplier,
    days_to_next_holiday,
    holiday_name,
    holidays,
    is_payday,
    season,
    special_day,
    special_days,
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
    "special_day": pa.string(),
    "days_to_next_holiday": pa.int64(),
    "is_payday": pa.bool_(),
    "season": pa.string(),
    "demand_multiplier": pa.float64(),
}


def test_public_holidays_of_2026_are_the_packages_with_their_observed_days():
    assert holidays(2026) == {
        date(2026, 1, 1): "New Year's Day",
        date(2026, 1, 19): "Martin Luther King Jr. Day",
        date(2026, 2, 16): "Washington's Birthday",
        date(2026, 5, 25): "Memorial Day",
        date(2026, 6, 19): "Juneteenth National Independence Day",
        date(2026, 7, 3): "Independence Day (observed)",  # the 4th is a Saturday
        date(2026, 7, 4): "Independence Day",
        date(2026, 9, 7): "Labor Day",
        date(2026, 10, 12): "Columbus Day",
        date(2026, 11, 11): "Veterans Day",
        date(2026, 11, 26): "Thanksgiving Day",
        date(2026, 12, 25): "Christmas Day",
    }
    assert holiday_name(date(2026, 11, 26)) == "Thanksgiving Day"
    assert holiday_name(date(2026, 11, 27)) is None


def test_shopping_days_are_the_packages_unofficial_days_and_the_days_around_thanksgiving():
    days = special_days(2026)
    assert {d: days[d] for d in (date(2026, 11, 25), date(2026, 11, 27), date(2026, 12, 24),
                                 date(2026, 12, 31), date(2026, 10, 31))} == {
        date(2026, 11, 25): "Thanksgiving Eve", date(2026, 11, 27): "Black Friday",
        date(2026, 12, 24): "Christmas Eve", date(2026, 12, 31): "New Year's Eve",
        date(2026, 10, 31): "Halloween"}
    unofficial = holidays_pkg.country_holidays("US", years=2026, categories=("unofficial",))
    assert set(days) == set(unofficial) | {date(2026, 11, 25), date(2026, 11, 27)}
    assert special_day(date(2026, 11, 27)) == "Black Friday"


@settings(max_examples=100, deadline=None)
@given(st.integers(1971, 2100))  # Memorial Day's rule since 1971; the package ends in 2100
def test_the_package_is_the_one_source_of_holidays_in_any_year(year):
    assert holidays(year) == dict(holidays_pkg.country_holidays("US", years=year))
    by_name = {name: day for day, name in holidays(year).items()}
    thanksgiving = by_name["Thanksgiving Day"]
    assert thanksgiving.month == 11 and thanksgiving.weekday() == 3  # fourth Thursday
    assert 22 <= thanksgiving.day <= 28
    shopping = {name: day for day, name in special_days(year).items()}
    assert shopping["Black Friday"] == thanksgiving + timedelta(days=1)
    assert shopping["Thanksgiving Eve"] == thanksgiving - timedelta(days=1)
    memorial = by_name["Memorial Day"]
    assert memorial.month == 5 and memorial.weekday() == 0 and memorial.day >= 25


def test_another_country_has_its_own_holidays_and_no_black_friday():
    de = holidays(2026, "DE")
    assert de[date(2026, 4, 6)] == "Easter Monday"
    assert de[date(2026, 10, 3)] == "German Unity Day"
    assert date(2026, 11, 26) not in de
    assert special_days(2026, "DE") == {}  # the package has no unofficial days for DE
    # a public holiday without a multiplier of its own gets the default one
    assert "Easter Monday" not in HOLIDAY_MULTIPLIER
    assert day_multiplier(date(2026, 4, 6), "DE") == pytest.approx(
        WEEKDAY_MULTIPLIER[0] * PUBLIC_HOLIDAY_MULTIPLIER)


@pytest.mark.parametrize("bad", ["XX", "us", "", "USA1"])
def test_an_unknown_country_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match=f"country '{bad}' is not a country the holidays"):
        check_country(bad)
    with pytest.raises(ValueError, match="ISO 3166-1"):
        holidays(2026, bad)


def test_the_country_setting_is_checked_against_the_package_and_names_its_variable(
        monkeypatch):
    monkeypatch.setenv("RETAIL_SIMULATOR__COUNTRY", "XX")
    with pytest.raises(SettingsError, match=r"RETAIL_SIMULATOR__COUNTRY: 'XX' is not a country"):
        load_settings()
    monkeypatch.setenv("RETAIL_SIMULATOR__COUNTRY", "DE")
    assert load_settings().simulator.country == "DE"
    monkeypatch.delenv("RETAIL_SIMULATOR__COUNTRY")
    assert load_settings().simulator.country == "US"


def test_the_catalog_carries_its_country_to_the_stores_and_refuses_an_unknown_one():
    assert generate_catalog(2, 20, 1, "GB").stores["country"].to_pylist() == ["GB", "GB"]
    assert generate_catalog(2, 20, 1).country == "US"
    with pytest.raises(ValueError, match="country 'ZZ' is not a country the holidays"):
        generate_catalog(2, 20, 1, "ZZ")


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
    # an observed day is a plain day; Veterans Day has no multiplier of its own
    assert day_multiplier(date(2026, 7, 3)) == pytest.approx(WEEKDAY_MULTIPLIER[4])
    assert day_multiplier(date(2026, 11, 11)) == pytest.approx(
        WEEKDAY_MULTIPLIER[2] * PUBLIC_HOLIDAY_MULTIPLIER)


def test_a_day_with_two_names_gets_both_multipliers():
    # 2027-12-24: Christmas Day (observed) and Christmas Eve; 12-31 New Year's Day (observed)
    # and New Year's Eve, a day off, so payday for 2028-01-01 is Thursday the 30th
    assert holiday_name(date(2027, 12, 24)) == "Christmas Day (observed)"
    assert special_day(date(2027, 12, 24)) == "Christmas Eve"
    assert day_multiplier(date(2027, 12, 24)) == pytest.approx(
        WEEKDAY_MULTIPLIER[4] * HOLIDAY_MULTIPLIER["Christmas Eve"])
    assert day_multiplier(date(2027, 12, 31)) == pytest.approx(
        WEEKDAY_MULTIPLIER[4] * HOLIDAY_MULTIPLIER["New Year's Eve"])
    assert day_multiplier(date(2027, 12, 30)) == pytest.approx(
        WEEKDAY_MULTIPLIER[3] * PAYDAY_MULTIPLIER)


@pytest.mark.parametrize("day,expected", [
    (date(2026, 1, 15), True), (date(2026, 1, 16), False),
    (date(2026, 2, 13), True),  # the 15th is a Sunday: paid on Friday
    (date(2026, 2, 15), False), (date(2026, 2, 16), False),
    (date(2025, 12, 31), True),  # New Year's Day is a holiday
    (date(2026, 1, 1), False),
    (date(2026, 8, 14), True), (date(2026, 8, 15), False),  # the 15th is a Saturday
])
def test_paydays_are_the_1st_and_15th_or_the_last_business_day_before(day, expected):
    assert is_payday(day) is expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1990, 2100), st.integers(1, 12))
def test_every_month_has_two_paydays_on_business_days_just_before_the_payroll_dates(year, month):
    first = date(year, month, 1)
    # from 5 days before the 1st (the previous month's paydays are 13 days earlier or more)
    days = [first + timedelta(days=i) for i in range(-5, 15)]
    paid = [d for d in days if is_payday(d)]
    targets = [first, date(year, month, 15)]
    assert len(paid) == 2
    for d, target in zip(sorted(paid), targets):
        assert d.weekday() < 5 and holiday_name(d) is None
        assert 0 <= (target - d).days <= 4
        between = [d + timedelta(days=k) for k in range(1, (target - d).days + 1)]
        assert all(b.weekday() >= 5 or holiday_name(b) for b in between)


def test_calendar_table_has_one_row_per_day_with_the_date_dimension_columns():
    t = calendar_table(date(2026, 11, 23), 14)
    assert t.num_rows == 14
    assert dict(zip(t.schema.names, t.schema.types)) == COLUMNS
    rows = t.to_pylist()
    assert [r["date"] for r in rows] == [date(2026, 11, 23) + timedelta(days=i) for i in range(14)]
    bf = rows[4]
    assert bf == {
        "date": date(2026, 11, 27), "day_of_week": 5, "week": 48, "month": 11, "quarter": 4,
        "year": 2026, "is_weekend": False, "is_holiday": False, "holiday_name": None,
        "special_day": "Black Friday", "days_to_next_holiday": 28, "is_payday": False,
        "season": "autumn", "demand_multiplier": round(1.1 * 1.9, 4),
    }
    assert [r["day_of_week"] for r in rows[:7]] == [1, 2, 3, 4, 5, 6, 7]  # ISO, Monday = 1
    assert [r["is_weekend"] for r in rows[:7]] == [False] * 5 + [True] * 2
    assert [r["holiday_name"] for r in rows[:7]] == [None] * 3 + ["Thanksgiving Day"] + [None] * 3
    assert [r["days_to_next_holiday"] for r in rows[:5]] == [3, 2, 1, 0, 28]
    assert all(r["is_holiday"] == (r["holiday_name"] is not None) for r in rows)
    assert rows[8]["season"] == "winter"  # 2026-12-01
    assert [r["date"].day for r in rows if r["is_payday"]] == [1]
    for r in rows:
        assert r["demand_multiplier"] == round(day_multiplier(r["date"]), 4)


def test_calendar_table_uses_each_years_holidays_across_new_year():
    rows = calendar_table(date(2026, 12, 30), 4).to_pylist()
    assert [r["holiday_name"] for r in rows] == [None, None, "New Year's Day", None]
    assert [r["special_day"] for r in rows] == [None, "New Year's Eve", None, None]
    assert [r["days_to_next_holiday"] for r in rows] == [2, 1, 0, 16]  # then MLK Day 2027
    assert [r["year"] for r in rows] == [2026, 2026, 2027, 2027]
    assert [r["quarter"] for r in rows] == [4, 4, 1, 1]
    assert [r["week"] for r in rows] == [53, 53, 53, 53]  # ISO weeks: 2026 has 53


@settings(max_examples=30, deadline=None)
@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(1, 120),
       st.sampled_from(["US", "DE", "GB", "JP"]))
def test_days_to_next_holiday_counts_to_the_next_public_holiday(start, days, country):
    t = calendar_table(start, days, country)
    for d, n in zip(t["date"].to_pylist(), t["days_to_next_holiday"].to_pylist()):
        assert n == days_to_next_holiday(d, country)
        assert holiday_name(d + timedelta(days=n), country) is not None
        assert all(holiday_name(d + timedelta(days=k), country) is None for k in range(n))


def test_days_to_next_holiday_is_capped_where_the_packages_calendar_ends():
    assert holidays(2101) == {}
    assert holiday_name(date(2100, 12, 31)) == "New Year's Day (observed)"  # of 2101
    assert days_to_next_holiday(date(2101, 1, 1)) == NO_HOLIDAY_AHEAD
    assert days_to_next_holiday(date(2100, 1, 2)) == 16  # Martin Luther King Jr. Day
    rows = calendar_table(date(2100, 12, 30), 3).to_pylist()
    assert [r["days_to_next_holiday"] for r in rows] == [1, 0, NO_HOLIDAY_AHEAD]


@pytest.mark.parametrize("start,days", [(date(2026, 3, 2), 7), (date(2026, 3, 1), 1)])
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
    assert sorted(names) == sorted(holidays(2026).values())
    assert sum(t["is_weekend"].to_pylist()) == 104
    assert sum(t["is_payday"].to_pylist()) == 24
    assert calendar.season(date(2026, 7, 4)) == "summer"
