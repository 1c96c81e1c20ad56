"""Reference data the simulator draws from: categories, store types and regions.

Numbers are plausible grocery/general-merchandise figures, chosen so that aggregates look
like retail (margins, shelf lives, return rates, seasonal peaks, price elasticities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Category:
    name: str
    sub_categories: tuple[str, ...]
    median_price: float
    margin: float  # (price - cost) / price
    shelf_life_days: int
    pack_sizes: tuple[int, ...]
    peak_day_of_year: int  # seasonal peak
    seasonality: float  # amplitude of the yearly cycle, 0..1
    elasticity: float  # demand ~ price ** elasticity
    return_rate: float  # share of sold lines returned later
    mean_quantity: float  # units per basket line
    shrink_rate: float  # chance per SKU-store-day of a shrinkage event
    weight: float  # share of shopping baskets
    # Range of its suppliers' mean lead times, days: fresh food comes daily or next day from
    # direct-store-delivery suppliers, general merchandise from distant warehouses.
    lead_days: tuple[float, float]


CATEGORIES: tuple[Category, ...] = (
    Category("Produce", ("Fruit", "Vegetables", "Salad", "Herbs"), 2.5, 0.35, 7, (1, 6, 12),
             200, 0.25, -1.6, 0.005, 2.2, 0.030, 1.6, (1.0, 2.0)),
    Category("Dairy", ("Milk", "Cheese", "Yogurt", "Butter"), 3.5, 0.28, 14, (6, 12),
             30, 0.05, -1.3, 0.005, 1.6, 0.015, 1.4, (1.0, 2.0)),
    Category("Bakery", ("Bread", "Pastry", "Cakes"), 3.0, 0.45, 4, (6, 10),
             350, 0.10, -1.5, 0.005, 1.4, 0.040, 1.0, (1.0, 1.5)),
    Category("Meat & Seafood", ("Beef", "Poultry", "Pork", "Fish"), 9.0, 0.25, 5, (4, 8),
             180, 0.20, -1.9, 0.008, 1.3, 0.020, 0.9, (1.0, 2.5)),
    Category("Beverages", ("Soft Drinks", "Water", "Juice", "Coffee", "Beer"), 4.0, 0.32, 365,
             (6, 12, 24), 195, 0.35, -2.1, 0.01, 2.0, 0.003, 1.3, (2.0, 4.0)),
    Category("Snacks", ("Chips", "Candy", "Cookies", "Nuts"), 3.2, 0.40, 180, (12, 24),
             300, 0.30, -2.3, 0.01, 1.7, 0.004, 1.1, (2.0, 5.0)),
    Category("Frozen", ("Ice Cream", "Frozen Meals", "Frozen Vegetables"), 5.0, 0.33, 240,
             (6, 12), 200, 0.40, -1.8, 0.005, 1.4, 0.004, 0.7, (2.0, 4.0)),
    Category("Household", ("Cleaning", "Paper Goods", "Laundry"), 7.5, 0.35, 1095, (6, 12),
             90, 0.10, -1.4, 0.02, 1.2, 0.002, 0.6, (3.0, 7.0)),
    Category("Personal Care", ("Oral Care", "Hair Care", "Skin Care"), 6.5, 0.45, 730, (6, 12),
             160, 0.10, -1.5, 0.03, 1.1, 0.005, 0.5, (3.0, 7.0)),
    Category("Electronics", ("Accessories", "Audio", "Small Appliances"), 35.0, 0.22, 3650,
             (1, 4), 350, 0.60, -2.6, 0.08, 1.0, 0.002, 0.15, (5.0, 14.0)),
    Category("Toys", ("Games", "Dolls", "Building Sets"), 22.0, 0.38, 3650, (1, 6),
             352, 0.85, -2.4, 0.06, 1.0, 0.002, 0.12, (5.0, 14.0)),
    Category("Garden", ("Plants", "Tools", "Outdoor Living"), 18.0, 0.40, 60, (1, 6),
             130, 0.80, -2.0, 0.05, 1.1, 0.006, 0.15, (4.0, 10.0)),
)


@dataclass(frozen=True)
class StoreType:
    name: str
    share: float  # share of the chain's stores
    sqft: tuple[int, int]
    assortment: float  # share of the catalog stocked
    traffic: float  # relative transactions per open hour
    basket_lines: float  # mean lines per transaction
    conversion: float  # share of visitors who buy
    opens: int  # local hour
    closes: int  # local hour (exclusive; 24 = midnight)
    hourly: tuple[float, ...]  # 24 relative weights of transactions by local hour


def _curve(peaks: list[tuple[float, float, float]]) -> tuple[float, ...]:
    """A 24-hour profile as a sum of Gaussian bumps (hour, width, height) over a floor."""
    hours = np.arange(24) + 0.5
    y = 0.15 + sum(h * np.exp(-0.5 * ((hours - c) / w) ** 2) for c, w, h in peaks)
    return tuple(float(v) for v in y)


STORE_TYPES: tuple[StoreType, ...] = (
    StoreType("hypermarket", 0.15, (90_000, 200_000), 0.85, 3.0, 4.5, 0.55, 7, 23,
              _curve([(12.0, 1.5, 0.7), (18.0, 2.0, 1.0), (11.0, 3.0, 0.4)])),
    StoreType("supermarket", 0.40, (30_000, 60_000), 0.50, 1.6, 3.2, 0.45, 7, 22,
              _curve([(12.5, 1.2, 0.8), (17.5, 1.5, 1.0)])),
    StoreType("neighborhood", 0.25, (8_000, 25_000), 0.25, 0.9, 2.2, 0.40, 7, 22,
              _curve([(8.5, 1.0, 0.6), (12.5, 1.2, 0.6), (18.0, 1.5, 0.9)])),
    StoreType("convenience", 0.20, (1_500, 5_000), 0.08, 0.7, 1.5, 0.35, 6, 24,
              _curve([(7.5, 1.0, 0.9), (12.5, 1.0, 0.6), (18.5, 1.5, 0.7), (22.0, 1.5, 0.3)])),
)


@dataclass(frozen=True)
class Region:
    name: str
    timezone: str
    utc_offset: int  # standard time; the simulator does not model daylight saving
    states: tuple[str, ...]


REGIONS: tuple[Region, ...] = (
    Region("Northeast", "America/New_York", -5, ("NY", "MA", "PA", "NJ", "CT")),
    Region("Southeast", "America/New_York", -5, ("FL", "GA", "NC", "SC", "VA")),
    Region("Midwest", "America/Chicago", -6, ("IL", "OH", "MI", "MN", "WI")),
    Region("Southwest", "America/Denver", -7, ("AZ", "CO", "NM", "UT")),
    Region("West", "America/Los_Angeles", -8, ("CA", "WA", "OR", "NV")),
)

PAYMENT_METHODS = ("cash", "credit_card", "debit_card", "mobile_wallet", "gift_card")
PAYMENT_SHARES = (0.14, 0.38, 0.30, 0.16, 0.02)
