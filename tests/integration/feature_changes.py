"""Facts the feature store's tests change under a closed day, to see which features move:
every fact dated after the day (none may), a lost sale and a price change before it (the
rows they touch must)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from retail.features.definitions import COLUMNS


def stored(wh, day: date) -> dict[tuple[str, str], dict]:
    names = [c.name for c in COLUMNS]
    rows = wh.query_rows(f"SELECT {', '.join(names)} FROM feature_store_daily FINAL "
                         "WHERE date_key = {d:UInt32}", {"d": int(day.strftime("%Y%m%d"))})
    return {(r[4], r[5]): dict(zip(names, r)) for r in rows}


def written_rows(wh) -> int:
    return wh.query_rows("SELECT count() FROM feature_store_daily")[0][0]


def change_everything_after(wh, day: date) -> None:
    """Every fact, aggregate and observation dated after ``day`` changes."""
    after = {"d": int(day.strftime("%Y%m%d")),
             "next": int((day + timedelta(days=1)).strftime("%Y%m%d"))}
    sales = ("transaction_type, store_id, product_id, quantity, unit_price, discount, "
             "revenue, unit_cost, promotion_id, payment_method, customer_id, event_time, "
             "date_key")
    wh.command(f"INSERT INTO fact_sales (event_id, transaction_id, line_number, {sales}) "
               f"SELECT generateUUIDv4(), concat(transaction_id, '-x'), line_number, {sales} "
               "FROM fact_sales WHERE date_key > {d:UInt32}", after)
    wh.command("INSERT INTO fact_lost_sales (event_id, lost_sale_id, transaction_id, store_id, "
               "product_id, requested_quantity, fulfilled_quantity, lost_quantity, unit_price, "
               "event_time, date_key) SELECT generateUUIDv4(), concat(lost_sale_id, '-x'), "
               "transaction_id, store_id, product_id, 9, 0, 9, unit_price, event_time, "
               "date_key FROM fact_lost_sales WHERE date_key > {d:UInt32}", after)
    pairs = ("SELECT DISTINCT store_id, product_id FROM fact_inventory "
             "WHERE date_key = {d:UInt32}")
    wh.command("INSERT INTO fact_price_changes (event_id, price_change_id, store_id, "
               "product_id, old_price, new_price, change_type, event_time, date_key) "
               "SELECT generateUUIDv4(), concat('PC-x-', product_id), store_id, product_id, "
               "9.99, 0.99, 'promotion_start', now64(3), {next:UInt32} "
               f"FROM ({pairs})", after)
    wh.command("INSERT INTO fact_inventory (event_id, record_type, inventory_id, store_id, "
               "product_id, quantity_change, quantity_on_hand, reason, event_time, date_key) "
               "SELECT generateUUIDv4(), 'movement', concat('I-x-', product_id), store_id, "
               "product_id, 0, 0, 'adjustment', now64(3), {next:UInt32} "
               f"FROM ({pairs})", after)
    wh.command("INSERT INTO weather_daily (region, date, temp_c, temp_min_c, temp_max_c, "
               "temp_normal_c, precip_mm, condition) SELECT region, date + 1, 45, 40, 50, 10, "
               "80, 'rain' FROM weather_daily FINAL WHERE date_key = {d:UInt32}", after)


def lose_a_sale(wh, day: date) -> tuple[str, str]:
    """Seven more units lost on ``day`` by its first pair with a sale."""
    store, product = wh.query_rows(
        "SELECT store_id, product_id FROM fact_sales WHERE date_key = {d:UInt32} "
        "ORDER BY store_id, product_id LIMIT 1", {"d": int(day.strftime("%Y%m%d"))})[0]
    wh.command("INSERT INTO fact_lost_sales (event_id, lost_sale_id, transaction_id, store_id, "
               "product_id, requested_quantity, fulfilled_quantity, lost_quantity, unit_price, "
               "event_time, date_key) SELECT generateUUIDv4(), 'L-extra', 'T-extra', "
               "{s:String}, {p:String}, 7, 0, 7, 1, now64(3), {d:UInt32}",
               {"s": store, "p": product, "d": int(day.strftime("%Y%m%d"))})
    return store, product


def reprice_before_the_window(wh, day: date) -> tuple[str, str]:
    """A regular price change 29 days before ``day`` (before the 28-day price window) for a
    pair with no change since: its price all through the window."""
    before = day - timedelta(days=29)
    store, product = wh.query_rows(
        "SELECT store_id, product_id FROM fact_inventory FINAL WHERE record_type = 'snapshot' "
        "AND date_key = {d:UInt32} AND (store_id, product_id) NOT IN (SELECT store_id, "
        "product_id FROM fact_price_changes WHERE date_key BETWEEN {k:UInt32} AND {d:UInt32}) "
        "ORDER BY store_id, product_id LIMIT 1",
        {"d": int(day.strftime("%Y%m%d")), "k": int(before.strftime("%Y%m%d"))})[0]
    wh.command("INSERT INTO fact_price_changes (event_id, price_change_id, store_id, "
               "product_id, old_price, new_price, change_type, event_time, date_key) "
               "SELECT generateUUIDv4(), 'PC-before', {s:String}, {p:String}, 1, "
               "toDecimal64('4.56', 2), "
               "'regular', {t:DateTime64(3, 'UTC')}, {k:UInt32}",
               {"s": store, "p": product, "t": datetime(before.year, before.month,
                                                       before.day, 12, tzinfo=UTC),
                "k": int(before.strftime("%Y%m%d"))})
    return store, product
