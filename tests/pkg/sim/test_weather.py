"""Daily weather per region: computable day by day, seasonal, in spells, and the demand
multipliers it gives each category."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail.sim import weather
from retail.sim.profiles import CATEGORIES, REGIONS
from retail.sim.weather import (
    CLIMATES,
    INSENSITIVE,
    SENSITIVITY,
    DayWeather,
    demand_factors,
    region_day,
    weather_table,
)

NAMES = [r.name for r in REGIONS]
CAT = {c.name: i for i, c in enumerate(CATEGORIES)}


def forget() -> None:
    """Drop the caches, so the next day is computed from nothing."""
    weather.region_day.cache_clear()
    weather._year_innovations.cache_clear()


@pytest.fixture(scope="module")
def years():
    """Four years of every region, as pandas."""
    df = weather_table(11, NAMES, date(2025, 1, 1), 4 * 365 + 1).to_pandas()
    df["anomaly"] = df.temp_c - df.temp_normal_c
    df["wet"] = df.precip_mm > 0
    return df


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), region=st.integers(0, len(REGIONS) - 1),
       start=st.dates(date(2020, 12, 1), date(2030, 1, 31)), offset=st.integers(0, 34))
def test_any_day_computed_alone_equals_that_day_of_a_35_day_table(seed, region, start, offset):
    table = weather_table(seed, [NAMES[region]], start, 35).to_pylist()
    forget()
    alone = region_day(seed, region, start + timedelta(days=offset))
    row = table[offset]
    assert row["date"] == start + timedelta(days=offset)
    assert (row["temp_c"], row["temp_min_c"], row["temp_max_c"], row["temp_normal_c"],
            row["precip_mm"], row["condition"]) == (
        alone.temp_c, alone.temp_min_c, alone.temp_max_c, alone.temp_normal_c,
        alone.precip_mm, alone.condition)


def test_the_same_seed_gives_the_same_weather_and_another_seed_other_weather():
    a = weather_table(3, NAMES, date(2026, 6, 1), 30)
    forget()
    assert weather_table(3, NAMES, date(2026, 6, 1), 30).equals(a)
    b = weather_table(4, NAMES, date(2026, 6, 1), 30)
    assert a["temp_c"].to_pylist() != b["temp_c"].to_pylist()
    assert a["temp_normal_c"].equals(b["temp_normal_c"])  # the climate is the same


@pytest.mark.parametrize("region", NAMES)
def test_each_region_has_its_climate_over_four_years(years, region):
    c = CLIMATES[region]
    x = years[years.region == region]
    # the yearly mean, and a warm summer against a cold winter (normal +- amplitude)
    assert abs(x.temp_c.mean() - c.mean_c) < 1.5
    summer = x[[d.month in (6, 7, 8) for d in x.date]].temp_c.mean()
    winter = x[[d.month in (12, 1, 2) for d in x.date]].temp_c.mean()
    assert 1.3 * c.amplitude_c < summer - winter < 2.1 * c.amplitude_c
    # departures from the normal: the climate's spread, persistent from day to day (AR(1)
    # coefficient 0.75: warm and cold spells)
    assert 0.8 * c.anomaly_sd_c < x.anomaly.std() < 1.2 * c.anomaly_sd_c
    a = x.anomaly.to_numpy()
    assert 0.6 < np.corrcoef(a[1:], a[:-1])[0, 1] < 0.85
    # wet days: the climate's share, in spells (a wet day follows a wet day more often)
    wet = x.wet.to_numpy()
    assert abs(wet.mean() - c.wet_share) < 0.05
    assert wet[1:][wet[:-1]].mean() > wet[1:][~wet[:-1]].mean() + 0.1
    # amounts: exponential with the climate's mean on wet days
    assert 0.8 * c.wet_day_mm < x.precip_mm[x.wet].mean() < 1.2 * c.wet_day_mm


def test_rows_are_consistent(years):
    assert (years.temp_min_c <= years.temp_c).all() and (years.temp_c <= years.temp_max_c).all()
    assert (years.precip_mm >= 0).all()
    assert set(years.condition[~years.wet]) == {"dry"}
    assert set(years.condition[years.wet]) == {"rain", "snow"}
    assert (years.temp_c[years.condition == "snow"] <= 0.5).all()
    assert (years.temp_c[years.condition == "rain"] > 0.5).all()
    # the Midwest snows in winter, the Southeast does not
    assert (years[(years.region == "Midwest")].condition == "snow").sum() > 30
    assert (years[(years.region == "Southeast")].condition == "snow").sum() == 0


def test_an_unknown_region_is_refused_naming_it_and_the_known_ones():
    with pytest.raises(ValueError, match=r"no climate for region\(s\) \['Atlantis'\].*Midwest"):
        weather_table(1, ["Midwest", "Atlantis"], date(2026, 1, 1), 3)


def fixed(temp_anomaly: float, precip: float):
    def region_day_(seed, region, day):
        return DayWeather(temp_c=20.0 + temp_anomaly, temp_min_c=15.0, temp_max_c=25.0,
                          temp_normal_c=20.0, precip_mm=precip)
    return region_day_


def test_demand_factors_follow_each_categorys_sensitivity(monkeypatch):
    monkeypatch.setattr(weather, "region_day", fixed(10.0, 0.0))
    hot = demand_factors(1, date(2026, 7, 1))
    monkeypatch.setattr(weather, "region_day", fixed(0.0, 40.0))
    wet = demand_factors(1, date(2026, 7, 1))
    assert hot.shape == wet.shape == (len(REGIONS), len(CATEGORIES))
    for name, (per_degree, rain) in SENSITIVITY.items():
        assert hot[:, CAT[name]] == pytest.approx(np.exp(10 * per_degree))
        assert wet[:, CAT[name]] == pytest.approx(np.exp(rain * (1 - np.exp(-8))))
    for name in INSENSITIVE:
        assert (hot[:, CAT[name]] == 1).all() and (wet[:, CAT[name]] == 1).all()
    assert set(INSENSITIVE) == {"Dairy", "Household", "Personal Care", "Electronics", "Toys"}
    # heat sells drinks and ice cream; rain keeps gardeners home and snackers in
    assert hot[0, CAT["Beverages"]] > 1.3 and hot[0, CAT["Frozen"]] > 1.5
    assert wet[0, CAT["Garden"]] < 0.75 and wet[0, CAT["Snacks"]] > 1.05


def test_an_extreme_anomaly_is_capped(monkeypatch):
    monkeypatch.setattr(weather, "region_day", fixed(40.0, 0.0))
    f = demand_factors(1, date(2026, 7, 1))
    assert f[0, CAT["Frozen"]] == pytest.approx(np.exp(SENSITIVITY["Frozen"][0] * 15.0))
