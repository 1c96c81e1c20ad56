"""The retail calendar of the chain's country: holidays, shopping days, paydays, seasons and
the day-level demand multipliers that follow from them.

One source: the ``holidays`` package. Public holidays are its ``public`` category (with the
days they are observed on); shopping days are its ``unofficial`` category where the country
has one (Christmas Eve, Halloween, ...) plus the days around Thanksgiving. The simulator's
demand and the warehouse's ``dim_date`` are both built from :func:`calendar_table` and
:func:`day_multiplier`, so the features read the calendar that drove the sales.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays as holidays_pkg
import pyarrow as pa

# Demand multiplier by ISO weekday (Mon=0): shopping peaks on the weekend.
WEEKDAY_MULTIPLIER = (0.88, 0.85, 0.9, 0.95, 1.1, 1.35, 1.2)

# Holiday or shopping-day name (as the package spells it in English) -> demand multiplier.
# Days before big holidays are busy, the holidays themselves quiet (stores close early or
# stay shut). A public holiday not listed gets PUBLIC_HOLIDAY_MULTIPLIER, an observed day
# ("... (observed)") or a shopping day not listed 1.0.
HOLIDAY_MULTIPLIER = {
    "New Year's Day": 0.6,
    "Washington's Birthday": 1.1,  # Presidents' Day sales
    "Memorial Day": 1.25,
    "Independence Day": 0.9,
    "Labor Day": 1.2,
    "Thanksgiving Day": 0.35,
    "Christmas Day": 0.2,
    "Thanksgiving Eve": 1.5,
    "Black Friday": 1.9,
    "Valentine's Day": 1.1,
    "Easter Sunday": 0.6,
    "Halloween": 1.1,
    "Christmas Eve": 1.6,
    "New Year's Eve": 1.3,
}
PUBLIC_HOLIDAY_MULTIPLIER = 0.8
# Semi-monthly payroll (the 1st and the 15th, moved back to the last business day before a
# weekend or public holiday): shoppers with fresh pay buy a little more.
PAYDAY_MULTIPLIER = 1.06
PAYDAYS = (1, 15)
_OBSERVED = " (observed)"
NO_HOLIDAY_AHEAD = 366  # days_to_next_holiday when no public holiday comes within a year


def check_country(country: str) -> str:
    """``country`` if the holidays package knows it (ISO 3166-1 code, upper case), else a
    ValueError naming the value and how to pick one."""
    if country not in holidays_pkg.list_supported_countries():
        raise ValueError(
            f"country {country!r} is not a country the holidays package knows: use an ISO "
            "3166-1 code in upper case such as US, CA, GB or DE "
            "(holidays.list_supported_countries() lists them all)")
    return country


@lru_cache(maxsize=512)
def _package_days(country: str, year: int) -> tuple[dict[date, str], dict[date, str]]:
    check_country(country)
    public = holidays_pkg.country_holidays(country, years=year, language="en_US")
    cls = getattr(holidays_pkg, country)
    special: dict[date, str] = {}
    if "unofficial" in cls.supported_categories:
        special = dict(holidays_pkg.country_holidays(country, years=year, language="en_US",
                                                     categories=("unofficial",)))
    for day, name in public.items():  # the retail days around Thanksgiving, where it exists
        if "Thanksgiving Day" in name.split("; ") and day.weekday() == 3:
            special[day - timedelta(days=1)] = "Thanksgiving Eve"
            special[day + timedelta(days=1)] = "Black Friday"
    return dict(public), special


def holidays(year: int, country: str = "US") -> dict[date, str]:
    """Public holidays of ``year`` in ``country`` (observed days included); a day with two
    holidays has both names joined by ``"; "``."""
    return dict(_package_days(country, year)[0])


def special_days(year: int, country: str = "US") -> dict[date, str]:
    """Shopping days of ``year`` that are not public holidays: Black Friday, Christmas Eve..."""
    return dict(_package_days(country, year)[1])


def holiday_name(day: date, country: str = "US") -> str | None:
    return _package_days(country, day.year)[0].get(day)


def special_day(day: date, country: str = "US") -> str | None:
    return _package_days(country, day.year)[1].get(day)


def _name_multiplier(names: str | None, default: float) -> float:
    out = 1.0
    for name in names.split("; ") if names else ():
        fallback = 1.0 if name.endswith(_OBSERVED) else default
        out *= HOLIDAY_MULTIPLIER.get(name, fallback)
    return out


def is_payday(day: date, country: str = "US") -> bool:
    """Whether ``day`` is a payday: a business day on the 1st or 15th, or the last business
    day before a 1st or 15th that falls on a weekend or public holiday."""
    def business(d: date) -> bool:
        return d.weekday() < 5 and holiday_name(d, country) is None

    if not business(day):
        return False
    while day.day not in PAYDAYS:  # walk to the next payroll date over days off only
        day += timedelta(days=1)
        if business(day):
            return False
    return True


def day_multiplier(day: date, country: str = "US") -> float:
    """Chain-wide traffic multiplier of one day: weekday x holiday x shopping day x payday."""
    public, special = _package_days(country, day.year)
    return (WEEKDAY_MULTIPLIER[day.weekday()]
            * _name_multiplier(public.get(day), PUBLIC_HOLIDAY_MULTIPLIER)
            * _name_multiplier(special.get(day), 1.0)
            * (PAYDAY_MULTIPLIER if is_payday(day, country) else 1.0))


def days_to_next_holiday(day: date, country: str = "US") -> int:
    """Days from ``day`` to the next public holiday: 0 on a holiday, NO_HOLIDAY_AHEAD when
    none comes within a year (the package's calendars end in 2100)."""
    later = [d for year in (day.year, day.year + 1) for d in _package_days(country, year)[0]
             if d >= day]
    return min(NO_HOLIDAY_AHEAD, (min(later) - day).days) if later else NO_HOLIDAY_AHEAD


def season(day: date) -> str:
    """Meteorological season (northern hemisphere)."""
    return ("winter", "spring", "summer", "autumn")[(day.month % 12) // 3]


CALENDAR_SCHEMA = pa.schema([
    ("date", pa.date32()), ("day_of_week", pa.int64()), ("week", pa.int64()),
    ("month", pa.int64()), ("quarter", pa.int64()), ("year", pa.int64()),
    ("is_weekend", pa.bool_()), ("is_holiday", pa.bool_()), ("holiday_name", pa.string()),
    ("special_day", pa.string()), ("days_to_next_holiday", pa.int64()),
    ("is_payday", pa.bool_()), ("season", pa.string()), ("demand_multiplier", pa.float64()),
])


def calendar_table(start: date, days: int, country: str = "US") -> pa.Table:
    """One row per day: the calendar dimension the warehouse loads as ``dim_date``."""
    rows = [start + timedelta(days=i) for i in range(days)]
    names = [holiday_name(d, country) for d in rows]
    return pa.table(
        schema=CALENDAR_SCHEMA, data={
            "date": rows,
            "day_of_week": [d.isoweekday() for d in rows],
            "week": [d.isocalendar().week for d in rows],
            "month": [d.month for d in rows],
            "quarter": [(d.month - 1) // 3 + 1 for d in rows],
            "year": [d.year for d in rows],
            "is_weekend": [d.weekday() >= 5 for d in rows],
            "is_holiday": [n is not None for n in names],
            "holiday_name": names,
            "special_day": [special_day(d, country) for d in rows],
            "days_to_next_holiday": _days_to_next(rows, names, country),
            "is_payday": [is_payday(d, country) for d in rows],
            "season": [season(d) for d in rows],
            "demand_multiplier": [round(day_multiplier(d, country), 4) for d in rows],
        }
    )


def _days_to_next(rows: list[date], names: list[str | None], country: str) -> list[int]:
    """days_to_next_holiday for consecutive days in one backward pass (a long calendar would
    otherwise scan two years of holidays per row)."""
    out = [0] * len(rows)
    nxt: int | None = None
    for i in range(len(rows) - 1, -1, -1):
        if names[i] is not None:
            nxt = 0
        elif nxt is not None:
            nxt = min(nxt + 1, NO_HOLIDAY_AHEAD)
        out[i] = nxt if nxt is not None else days_to_next_holiday(rows[i], country)
    return out
