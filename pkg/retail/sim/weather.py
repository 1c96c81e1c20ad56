"""Daily weather per region, and what it does to demand.

Temperature is the region's seasonal normal (a yearly cosine) plus a persistent anomaly: an
AR(1) process (warm and cold spells of several days). Precipitation comes from a persistent
latent "wetness" (wet and dry spells) plus day-to-day noise: a day is wet when it passes the
region's seasonal wet-day threshold, and the further past it, the more it rains (an
exponential amount). Both processes are moving sums over the last MEMORY_DAYS days of
innovations drawn from (seed, region, year), so any day is computed alone, the same
whether a run starts that day or a year earlier. Sums and transforms are done in Python
floats (exactly rounded ``math.fsum``), so no vectorised path can differ in the last bit.

Demand: each category's pick weight is multiplied by
``exp(temp_effect * anomaly_c + rain_effect * wetness)`` (``anomaly_c`` = temperature minus
the normal, capped at +-15; ``wetness`` = 1 - exp(-precip_mm / 5), 0 on a dry day), and the
store's baskets by the mean of that factor over its assortment, so a sensitive category's
units move by the factor and an insensitive one's do not (docs/simulator.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from operator import mul
from statistics import NormalDist

import numpy as np
import pyarrow as pa

from retail.sim.profiles import CATEGORIES, REGIONS


@dataclass(frozen=True)
class Climate:
    mean_c: float  # yearly mean of the daily mean temperature
    amplitude_c: float  # half the difference between the warmest and coldest normal
    warmest_day: int  # day of year of the warmest normal
    anomaly_sd_c: float  # spread of day-to-day departures from the normal
    daily_range_c: float  # max - min on a dry day
    wet_share: float  # share of wet days over the year
    wet_seasonality: float  # relative swing of the wet-day share over the year
    wettest_day: int
    wet_day_mm: float  # mean precipitation of a wet day


CLIMATES = {
    "Northeast": Climate(11.0, 12.5, 200, 3.5, 9.0, 0.33, 0.10, 150, 8.0),
    "Southeast": Climate(19.0, 8.0, 205, 2.5, 10.0, 0.30, 0.30, 200, 11.0),  # summer storms
    "Midwest": Climate(10.0, 14.5, 200, 4.0, 10.0, 0.30, 0.25, 160, 8.0),
    "Southwest": Climate(14.0, 11.0, 195, 3.0, 15.0, 0.13, 0.50, 215, 5.0),  # monsoon
    "West": Climate(14.5, 6.0, 225, 2.0, 10.0, 0.20, 0.80, 15, 9.0),  # winter rain
}

# Category -> (per degree C above the normal, on a fully wet day), on the log scale.
SENSITIVITY = {
    "Beverages": (0.035, -0.05),
    "Frozen": (0.045, -0.10),  # ice cream
    "Meat & Seafood": (0.015, -0.10),  # barbecue weather
    "Produce": (0.010, 0.0),  # salads and fruit
    "Garden": (0.030, -0.35),  # nobody plants in the rain
    "Snacks": (0.0, 0.10),  # a day in
    "Bakery": (-0.015, 0.06),  # baking and soup weather
}
INSENSITIVE = tuple(c.name for c in CATEGORIES if c.name not in SENSITIVITY)
ANOMALY_CAP_C = 15.0
WET_SCALE_MM = 5.0
WET_DAY_COOLING_C = 1.0  # clouds: a wet day is a little cooler than a dry one
MEMORY_DAYS = 40
TEMP_PERSISTENCE = 0.75  # AR(1) coefficient of the temperature anomaly, per day
WET_PERSISTENCE = 0.7  # AR(1) coefficient of the latent wetness
WET_SPELL_SHARE = 0.6  # share of the wetness variance that persists (the rest is daily noise)
_TAG = 0x3EA7

if set(CLIMATES) != {r.name for r in REGIONS} or not set(SENSITIVITY) <= {
        c.name for c in CATEGORIES}:
    raise ValueError("weather.CLIMATES needs one climate per profiles.REGIONS entry and "
                     "weather.SENSITIVITY may name only profiles.CATEGORIES")
TEMP_EFFECT = np.array([SENSITIVITY.get(c.name, (0.0, 0.0))[0] for c in CATEGORIES])
RAIN_EFFECT = np.array([SENSITIVITY.get(c.name, (0.0, 0.0))[1] for c in CATEGORIES])
_NORMAL = NormalDist()


def _weights(phi: float) -> tuple[float, ...]:
    """Moving-sum weights of an AR(1) with coefficient ``phi`` over MEMORY_DAYS days (newest
    first), scaled to unit variance (the truncation leaves out less than 1e-4 of it)."""
    w = [phi ** k for k in range(MEMORY_DAYS)]
    norm = math.sqrt(math.fsum(x * x for x in w))
    return tuple(x / norm for x in w)


_TEMP_W, _WET_W = _weights(TEMP_PERSISTENCE), _weights(WET_PERSISTENCE)


@lru_cache(maxsize=256)
def _year_innovations(seed: int, region: int, year: int) -> tuple[tuple[float, ...], ...]:
    """Standard normals of each day of ``year``: (temperature, wetness, daily noise)."""
    days = 366 if date(year, 12, 31).timetuple().tm_yday == 366 else 365
    draws = np.random.default_rng([seed, _TAG, region, year]).standard_normal((3, days))
    return tuple(tuple(row) for row in draws.tolist())


def _window(seed: int, region: int, day: date, kind: int) -> list[float]:
    """Innovations of ``kind`` for ``day`` and the MEMORY_DAYS - 1 days before, newest first."""
    first = day - timedelta(days=MEMORY_DAYS - 1)
    out: list[float] = []
    for year in range(first.year, day.year + 1):
        lo = first if first.year == year else date(year, 1, 1)
        hi = day if day.year == year else date(year, 12, 31)
        series = _year_innovations(seed, region, year)[kind]
        out.extend(series[lo.timetuple().tm_yday - 1:hi.timetuple().tm_yday])
    return out[::-1]


def _cycle(day: date, peak: int) -> float:
    return math.cos(2.0 * math.pi * (day.timetuple().tm_yday - peak) / 365.25)


@dataclass(frozen=True)
class DayWeather:
    """One region's day, rounded as the warehouse stores it (0.1 C, 0.1 mm)."""

    temp_c: float
    temp_min_c: float
    temp_max_c: float
    temp_normal_c: float
    precip_mm: float

    @property
    def condition(self) -> str:
        if self.precip_mm == 0:
            return "dry"
        return "snow" if self.temp_c <= 0.5 else "rain"

    @property
    def anomaly_c(self) -> float:
        return max(-ANOMALY_CAP_C, min(ANOMALY_CAP_C, self.temp_c - self.temp_normal_c))

    @property
    def wetness(self) -> float:
        return 1.0 - math.exp(-self.precip_mm / WET_SCALE_MM)


@lru_cache(maxsize=8192)
def region_day(seed: int, region: int, day: date) -> DayWeather:
    """The weather of region ``region`` (index into REGIONS) on ``day``."""
    c = CLIMATES[REGIONS[region].name]
    anomaly = math.fsum(map(mul, _TEMP_W, _window(seed, region, day, 0)))
    spell = math.fsum(map(mul, _WET_W, _window(seed, region, day, 1)))
    noise = _year_innovations(seed, region, day.year)[2][day.timetuple().tm_yday - 1]
    latent = math.sqrt(WET_SPELL_SHARE) * spell + math.sqrt(1.0 - WET_SPELL_SHARE) * noise
    p_wet = min(0.9, max(0.02, c.wet_share * (1.0 + c.wet_seasonality
                                              * _cycle(day, c.wettest_day))))
    beyond = (_NORMAL.cdf(latent) - (1.0 - p_wet)) / p_wet  # uniform in (0, 1) on a wet day
    precip = 0.0
    if beyond > 0:
        precip = max(0.1, round(-c.wet_day_mm * math.log(max(1.0 - beyond, 1e-12)), 1))
    normal = c.mean_c + c.amplitude_c * _cycle(day, c.warmest_day)
    temp = normal + c.anomaly_sd_c * anomaly - (WET_DAY_COOLING_C if precip else 0.0)
    half_range = c.daily_range_c * (0.6 if precip else 1.0) / 2.0
    return DayWeather(temp_c=round(temp, 1), temp_min_c=round(temp - half_range, 1),
                      temp_max_c=round(temp + half_range, 1), temp_normal_c=round(normal, 1),
                      precip_mm=precip)


def demand_factors(seed: int, day: date) -> np.ndarray:
    """(regions, categories) multipliers of each category's demand on ``day``."""
    days = [region_day(seed, r, day) for r in range(len(REGIONS))]
    anomaly = np.array([[d.anomaly_c] for d in days])
    wet = np.array([[d.wetness] for d in days])
    return np.exp(TEMP_EFFECT * anomaly + RAIN_EFFECT * wet)


WEATHER_SCHEMA = pa.schema([
    ("region", pa.string()), ("date", pa.date32()), ("temp_c", pa.float64()),
    ("temp_min_c", pa.float64()), ("temp_max_c", pa.float64()),
    ("temp_normal_c", pa.float64()), ("precip_mm", pa.float64()), ("condition", pa.string()),
])


def weather_table(seed: int, regions: list[str], start: date, days: int) -> pa.Table:
    """``weather_daily``: one row per region (by name) and day, regions in the given order."""
    index = {r.name: i for i, r in enumerate(REGIONS)}
    unknown = sorted(set(regions) - set(index))
    if unknown:
        raise ValueError(f"no climate for region(s) {unknown}: the simulator knows "
                         f"{sorted(index)}")
    rows = [(name, start + timedelta(days=i)) for name in regions for i in range(days)]
    weather = [region_day(seed, index[name], day) for name, day in rows]
    return pa.table(schema=WEATHER_SCHEMA, data={
        "region": [r[0] for r in rows], "date": [r[1] for r in rows],
        "temp_c": [w.temp_c for w in weather], "temp_min_c": [w.temp_min_c for w in weather],
        "temp_max_c": [w.temp_max_c for w in weather],
        "temp_normal_c": [w.temp_normal_c for w in weather],
        "precip_mm": [w.precip_mm for w in weather],
        "condition": [w.condition for w in weather],
    })
