"""The warehouse's date key: ``dim_date.date_key``, the day as the number YYYYMMDD
(ClickHouse's ``toYYYYMMDD``), which every fact table carries."""

from __future__ import annotations

from datetime import date


def date_key(day: date) -> int:
    """``day`` as the warehouse's ``date_key``: 2026-03-09 -> 20260309."""
    return day.year * 10_000 + day.month * 100 + day.day
