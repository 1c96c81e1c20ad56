"""Every column of the feature store, in one place: name, type, group and meaning.

``feature_store_daily`` (migration 0014) has exactly these columns in these types (tested),
the builder selects them in this order with these Spark types, and ``docs/features.md`` is
generated from this list (``retail features list --write docs/features.md``; tested equal).
One row per store x product x day D, computed only from what the warehouse knew at the end
of D.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail.transforms.features import (HISTORY_DAYS, LAGS, PRICE_DAYS, STOCKOUT_WINDOWS,
                                       WEATHER_DAYS, WINDOWS)

# Spark type -> ClickHouse type. Strings are categorical everywhere here.
_CLICKHOUSE = {"date": "Date", "int": "Int32", "long": "Int64", "double": "Float64",
               "boolean": "Bool", "string": "LowCardinality(String)"}


@dataclass(frozen=True)
class Feature:
    name: str
    group: str
    type: str  # Spark SQL type; the warehouse's follows from it
    meaning: str
    nullable: bool = False
    known_ahead: bool = False  # known before the day comes (the calendar): a target's too
    clickhouse: str | None = None  # where the warehouse's usual type differs from Spark's

    @property
    def clickhouse_type(self) -> str:
        base = self.clickhouse or _CLICKHOUSE[self.type]
        if not self.nullable:
            return base
        if base.startswith("LowCardinality("):
            return f"LowCardinality(Nullable({base[15:-1]}))"
        return f"Nullable({base})"


def _f(name: str, group: str, type_: str, meaning: str, **kw) -> Feature:
    return Feature(name, group, type_, meaning, **kw)


_HISTORY = ("days before the store's first day of sales on record are not counted; "
            f"the window never reaches back more than {HISTORY_DAYS} days")

KEYS = (
    _f("date", "key", "date", "the store-local business day D"),
    _f("date_key", "key", "int", "D as YYYYMMDD, joins dim_date", clickhouse="UInt32"),
    _f("store_key", "key", "long", "retail_key(store_id)"),
    _f("product_key", "key", "long", "retail_key(product_id)"),
    _f("store_id", "key", "string", "the store"),
    _f("product_id", "key", "string", "the product", clickhouse="String"),
)

FEATURES = (
    # --- demand
    _f("units_sold", "demand", "long", "units sold on D (sale lines; returns not netted)"),
    _f("lost_units", "demand", "long",
       "units shoppers asked for on D that the shelf could not give (lost sales)"),
    _f("demand", "demand", "long",
       "units_sold + lost_units: what shoppers wanted, the forecasting target"),
    *(_f(f"demand_lag_{k}", "demand", "long",
         f"demand on D - {k}; null before the store's first day of sales on record",
         nullable=True) for k in LAGS),
    *(_f(f"demand_mean_{w}", "demand", "double",
         f"mean daily demand over the {w} days ending D (a day without a row is 0); "
         + _HISTORY) for w in WINDOWS),
    *(_f(f"demand_std_{w}", "demand", "double",
         f"sample standard deviation of daily demand over the {w} days ending D; null with "
         "fewer than 2 days on record", nullable=True) for w in WINDOWS),
    _f("days_since_last_sale", "demand", "int",
       f"days from the last day with a unit sold to D (0: sold on D); null: none in the "
       f"{HISTORY_DAYS} days ending D", nullable=True),
    _f("zero_sales_share", "demand", "double",
       f"share of the days on record in the {HISTORY_DAYS} days ending D without a unit sold"),
    _f("history_days", "demand", "int",
       f"days on record in the {HISTORY_DAYS} days ending D (the divisor of the means)"),
    # --- calendar (dim_date: the calendar the simulator's demand follows; store_events)
    _f("day_of_week", "calendar", "int", "ISO day of week of D, 1 = Monday", known_ahead=True),
    _f("week_of_year", "calendar", "int", "ISO week of D", known_ahead=True),
    _f("month", "calendar", "int", "month of D, 1-12", known_ahead=True),
    _f("season", "calendar", "string", "winter, spring, summer or autumn", known_ahead=True),
    _f("is_weekend", "calendar", "boolean", "D is a Saturday or Sunday", known_ahead=True),
    _f("is_holiday", "calendar", "boolean", "D is a public holiday (observed days included)",
       known_ahead=True),
    _f("is_special_day", "calendar", "boolean",
       "D is a shopping day that is not a public holiday (Black Friday, Christmas Eve, ...)",
       known_ahead=True),
    _f("days_to_next_holiday", "calendar", "int",
       "days from D to the next public holiday (0 on one, 366: none within a year)",
       known_ahead=True),
    _f("is_payday", "calendar", "boolean",
       "the 1st or 15th, or the last business day before it", known_ahead=True),
    _f("has_local_event", "calendar", "boolean", "the store has a local event on D",
       known_ahead=True),
    _f("local_event_kind", "calendar", "string",
       "street_fair, game_day, festival or concert; null: none", nullable=True,
       known_ahead=True),
    # --- price (fact_price_changes, the product's list price before any change)
    _f("shelf_price", "price", "double", "what a shopper pays per unit at the end of D; null: "
       "never changed and not in dim_product", nullable=True),
    _f("regular_price", "price", "double", "the price before any promotion at the end of D",
       nullable=True),
    _f("discount_depth", "price", "double",
       "1 - shelf_price / regular_price (0 off promotion)"),
    _f("on_promotion", "price", "boolean", "a promotion runs at the end of D"),
    _f("price_ratio_28", "price", "double",
       f"shelf_price over the median of the daily shelf prices of the {PRICE_DAYS} days "
       "ending D (each day's price is the one at its end)", nullable=True),
    # --- stock (the daily ETL's end-of-day snapshot; agg_inventory_daily; lost sales)
    _f("on_hand", "stock", "int", "units on hand at the end of D (the day's snapshot)"),
    _f("on_order", "stock", "int",
       "units ordered from suppliers and not delivered at the end of D (the snapshot)"),
    _f("days_of_cover", "stock", "double",
       "on_hand over the mean units sold per day in the 28 days ending D (the snapshot); "
       "null: nothing sold", nullable=True),
    *(_f(f"stockout_days_{w}", "stock", "int",
         f"days of the {w} ending D that closed with nothing on hand or lost a sale")
      for w in STOCKOUT_WINDOWS),
    # --- weather (weather_daily of the store's region)
    _f("temp_c", "weather", "double", "mean temperature of D in the store's region, C",
       nullable=True),
    _f("precip_mm", "weather", "double", "precipitation of D in the store's region, mm",
       nullable=True),
    _f("temp_c_mean_7", "weather", "double",
       f"mean of temp_c over the {WEATHER_DAYS} days ending D (days on record)",
       nullable=True),
    _f("precip_mm_mean_7", "weather", "double",
       f"mean of precip_mm over the {WEATHER_DAYS} days ending D (days on record)",
       nullable=True),
    # --- trends
    _f("store_trend_7_28", "trend", "double",
       "the store's mean daily demand (all products) over 7 days over that over 28 days "
       "ending D; null: no demand in the 28 days", nullable=True),
    _f("category_trend_7_28", "trend", "double",
       "the same for the product's category across the chain", nullable=True),
    # --- attributes (dim_store, dim_product, dim_supplier: current master data; null where
    # the dimension lacks the store or product)
    _f("store_type", "attribute", "string", "the store's format (hypermarket, ...)",
       nullable=True),
    _f("square_footage", "attribute", "int", "the store's size, square feet", nullable=True),
    _f("region", "attribute", "string", "the store's region (its weather)", nullable=True),
    _f("category", "attribute", "string", "the product's category", nullable=True),
    _f("sub_category", "attribute", "string", "the product's sub-category", nullable=True),
    _f("brand", "attribute", "string", "the product's brand", nullable=True),
    _f("shelf_life_days", "attribute", "int", "the product's shelf life, days", nullable=True),
    _f("lead_time_days", "attribute", "double",
       "the product's supplier's mean lead time, days (0.01)", nullable=True),
)

COLUMNS = KEYS + FEATURES
FEATURE_NAMES = tuple(f.name for f in FEATURES)
KNOWN_AHEAD = tuple(f.name for f in FEATURES if f.known_ahead)
GROUPS = {"demand": "Demand", "calendar": "Calendar", "price": "Price", "stock": "Stock",
          "weather": "Weather", "trend": "Trends", "attribute": "Store and product"}


def spark_schema() -> str:
    """The rows' schema as a Spark DDL string, keys first."""
    return ", ".join(f"{c.name} {c.type}" for c in COLUMNS)


DOC_START = "<!-- features: generated by `retail features list --write docs/features.md` -->"
DOC_END = "<!-- end of generated features -->"


def features_markdown() -> str:
    """The columns as Markdown tables, one per group: the generated part of docs/features.md."""
    out = []
    for group, title in {"key": "Keys", **GROUPS}.items():
        out += [f"### {title}", "", "| column | type | warehouse type | meaning |",
                "|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.type}{' (known ahead)' if c.known_ahead else ''} | "
                f"`{c.clickhouse_type}` | {c.meaning} |" for c in COLUMNS if c.group == group]
        out.append("")
    return "\n".join(out)


def with_features(doc: str) -> str:
    """``doc`` with the text between its markers replaced by :func:`features_markdown`.

    Raises:
        ValueError: the document has no such section.
    """
    head, sep, rest = doc.partition(DOC_START)
    _, sep2, tail = rest.partition(DOC_END)
    if not (sep and sep2):
        raise ValueError(f"the document has no {DOC_START} ... {DOC_END} section")
    return f"{head}{DOC_START}\n\n{features_markdown()}{DOC_END}{tail}"
