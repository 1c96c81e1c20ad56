"""Who is reading, and which stores they may see.

The user comes from the request: in ``header`` identity the authenticating proxy's header
(``DashboardSettings.user_header``), in ``local`` identity the reader picked in the page
header (sent with each callback). Their stores come from the warehouse's assignments
(``bi_user_access``, the view Power BI's roles filter), compared lower-cased on both sides
as the Power BI roles do. Every query the app runs is limited to those stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from retail.dashboard.settings import DashboardSettings
from retail.io.warehouse import Warehouse

GRANT_HINT = ("add one with `retail access grant USER --store S` (or --region R, or --all), "
              "then reload the page")


class Unauthenticated(PermissionError):
    """The request does not say who is reading (header identity without the header)."""


class Forbidden(PermissionError):
    """The reader asked for a store outside their assignments."""


@dataclass(frozen=True)
class Reader:
    """A user and the store ids their assignments give them (sorted; may be empty)."""

    name: str
    stores: tuple[str, ...]

    def check_store(self, store_id: str | None) -> None:
        """Refuse a store the reader may not see (a forged slicer value)."""
        if store_id is not None and store_id not in self.stores:
            raise Forbidden(f"store {store_id!r} is not among {self.name}'s stores")


def user_name(settings: DashboardSettings, headers: Mapping[str, str],
              chosen: str | None) -> str | None:
    """The request's user, lower-cased: the proxy's header in ``header`` identity (the
    page's choice is ignored there), the page's choice in ``local`` identity (None: nobody
    picked yet)."""
    if settings.identity == "header":
        value = (headers.get(settings.user_header) or "").strip()
        if not value:
            raise Unauthenticated(f"no {settings.user_header} header: the dashboards are "
                                  "reached through the authenticating proxy only")
        return value.lower()
    return chosen.strip().lower() if chosen and chosen.strip() else None


def reader(wh: Warehouse, name: str | None) -> Reader | None:
    """The reader called ``name`` with their stores; None for no name."""
    if name is None:
        return None
    rows = wh.query_rows(
        "SELECT DISTINCT `Store ID` FROM bi_user_access "
        "WHERE lower(`User Principal Name`) = {user:String} ORDER BY `Store ID`",
        {"user": name.lower()})
    return Reader(name.lower(), tuple(r[0] for r in rows))


def assigned_users(wh: Warehouse) -> list[tuple[str, str]]:
    """Every user with an active assignment and what it covers, e.g. ``("ann@x", "region
    West: 12 stores")``, by name: the local identity's picker."""
    rows = wh.query_rows(
        "SELECT lower(`User Principal Name`) AS user, "
        "arrayStringConcat(arraySort(groupUniqArray(if(`Scope` = 'store', "
        "concat('store ', `Store ID`), if(`Scope` = 'region', concat('region ', `Region`), "
        "'all stores')))), ', ') AS scopes, uniqExact(`Store ID`) AS stores "
        "FROM bi_user_access GROUP BY user ORDER BY user")
    return [(user, f"{scopes}: {n} store{'s' if n != 1 else ''}") for user, scopes, n in rows]
