"""The retail calendar: holidays, seasons and day-level demand multipliers (US retail)."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

# Demand multiplier by ISO weekday (Mon=0): shopping peaks on the weekend.
WEEKDAY_MULTIPLIER = (0.88, 0.85, 0.9, 0.95, 1.1, 1.35, 1.2)

# Holiday name -> demand multiplier on that day. Days before big holidays are busy,
# the holidays themselves are quiet (most stores close early or stay shut).
HOLIDAY_MULTIPLIER = {
    "New Year's Day": 0.6,
    "Memorial Day": 1.25,
    "Independence Day": 0.9,
    "Labor Day": 1.2,
    "Thanksgiving Eve": 1.5,
    "Thanksgiving Day": 0.35,
    "Black Friday": 1.9,
    "Christmas Eve": 1.6,
    "Christmas Day": 0.2,
    "New Year's Eve": 1.3,
}


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def holidays(year: int) -> dict[date, str]:
    """Retail-relevant US holidays of ``year``."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    return {
        date(year, 1, 1): "New Year's Day",
        _last_weekday(year, 5, 0): "Memorial Day",
        date(year, 7, 4): "Independence Day",
        _nth_weekday(year, 9, 0, 1): "Labor Day",
        thanksgiving - timedelta(days=1): "Thanksgiving Eve",
        thanksgiving: "Thanksgiving Day",
        thanksgiving + timedelta(days=1): "Black Friday",
        date(year, 12, 24): "Christmas Eve",
        date(year, 12, 25): "Christmas Day",
        date(year, 12, 31): "New Year's Eve",
    }


def season(day: date) -> str:
    """Meteorological season (northern hemisphere)."""
    return ("winter", "spring", "summer", "autumn")[(day.month % 12) // 3]


def holiday_name(day: date) -> str | None:
    return holidays(day.year).get(day)


def day_multiplier(day: date) -> float:
    """Store-traffic multiplier of one day: weekday effect times holiday effect."""
    return WEEKDAY_MULTIPLIER[day.weekday()] * HOLIDAY_MULTIPLIER.get(holiday_name(day), 1.0)


CALENDAR_SCHEMA = pa.schema([
    ("date", pa.date32()), ("day_of_week", pa.int64()), ("week", pa.int64()),
    ("month", pa.int64()), ("quarter", pa.int64()), ("year", pa.int64()),
    ("is_weekend", pa.bool_()), ("is_holiday", pa.bool_()), ("holiday_name", pa.string()),
    ("season", pa.string()), ("demand_multiplier", pa.float64()),
])


def calendar_table(start: date, days: int) -> pa.Table:
    """One row per day: the calendar dimension the warehouse loads as ``dim_date``."""
    rows = [start + timedelta(days=i) for i in range(days)]
    return pa.table(
        schema=CALENDAR_SCHEMA, data={
            "date": rows,
            "day_of_week": [d.isoweekday() for d in rows],
            "week": [d.isocalendar().week for d in rows],
            "month": [d.month for d in rows],
            "quarter": [(d.month - 1) // 3 + 1 for d in rows],
            "year": [d.year for d in rows],
            "is_weekend": [d.weekday() >= 5 for d in rows],
            "is_holiday": [holiday_name(d) is not None for d in rows],
            "holiday_name": [holiday_name(d) for d in rows],
            "season": [season(d) for d in rows],
            "demand_multiplier": [round(day_multiplier(d), 4) for d in rows],
        }
    )
