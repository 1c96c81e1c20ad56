"""Who sees which stores: the rows of ``rls_assignments`` (migration 0003), expanded to stores
by the view ``bi_user_access`` (0005) that the Power BI roles, the ClickHouse row policies
and the local dashboards all read.

A grant is one active row: scope ``store`` (a store id), ``region`` (a region) or ``all``.
User names are stored lower-cased (Power BI compares ``USERPRINCIPALNAME()`` lower-cased).
The table is a ReplacingMergeTree on ``granted_at``: revoking writes the same key with
``is_active = false`` and a newer ``granted_at``, so the newest row wins; granting what is
already granted writes nothing. Every value is a server-side parameter.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from retail.io.warehouse import Warehouse

SCOPES = ("store", "region", "all")

# The newest row of a key, with a version strictly above every row the key has (a revoke in
# the same millisecond as its grant must still win).
_WRITE = """
INSERT INTO rls_assignments (user_name, scope, store_id, region, granted_at, is_active)
SELECT {user:String}, {scope:String}, {store:String}, {region:String},
       greatest(now64(3), (SELECT max(granted_at) + toIntervalMillisecond(1)
                           FROM rls_assignments
                           WHERE user_name = {user:String} AND scope = {scope:String}
                             AND store_id = {store:String} AND region = {region:String})),
       {active:Bool}
"""
_ACTIVE = """
SELECT user_name, scope, store_id, region FROM rls_assignments FINAL
WHERE is_active AND (empty({user:String}) OR user_name = {user:String})
ORDER BY user_name, scope, store_id, region
"""
_STORES_SEEN = """
SELECT `User Principal Name`, uniqExact(`Store ID`) FROM bi_user_access
WHERE empty({user:String}) OR `User Principal Name` = {user:String}
GROUP BY `User Principal Name`
"""


@dataclass(frozen=True)
class Grant:
    """One assignment: ``user`` sees one store, one region, or everything."""

    user: str
    scope: str
    store_id: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope {self.scope!r}: one of {', '.join(SCOPES)}")
        wanted = {"store": (True, False), "region": (False, True), "all": (False, False)}
        if (bool(self.store_id), bool(self.region)) != wanted[self.scope]:
            raise ValueError(f"a {self.scope} grant names "
                             + {"store": "a store id and no region",
                                "region": "a region and no store id",
                                "all": "neither a store id nor a region"}[self.scope])

    @property
    def label(self) -> str:
        return {"store": f"store {self.store_id}", "region": f"region {self.region}",
                "all": "all stores"}[self.scope]


@dataclass(frozen=True)
class UserAccess:
    """A user's active grants and how many stores they add up to."""

    user: str
    grants: tuple[Grant, ...]
    stores: int


def user_name(text: str) -> str:
    """The stored form of a user name: trimmed and lower-cased; empty or spaced is refused."""
    name = text.strip().lower()
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"USER {text!r}: a user name or Power BI user principal name "
                         "(e.g. analyst@retail.example), without spaces")
    return name


def active_grants(wh: Warehouse, user: str = "") -> list[Grant]:
    """The active grants, of ``user`` only when given."""
    return [Grant(*row) for row in wh.query_rows(_ACTIVE, {"user": user})]


def _write(wh: Warehouse, grant: Grant, active: bool) -> None:
    wh.command(_WRITE, {"user": grant.user, "scope": grant.scope, "store": grant.store_id,
                        "region": grant.region, "active": active})


def grant(wh: Warehouse, g: Grant) -> bool:
    """Make ``g`` active; False (and nothing written) if it already was."""
    if g in active_grants(wh, g.user):
        return False
    _write(wh, g, True)
    return True


def revoke(wh: Warehouse, g: Grant) -> bool:
    """Make ``g`` inactive; False (and nothing written) if it was not active."""
    if g not in active_grants(wh, g.user):
        return False
    _write(wh, g, False)
    return True


def access_list(wh: Warehouse, user: str = "") -> list[UserAccess]:
    """Every user with an active grant (or ``user`` alone): grants and stores seen."""
    seen = dict(wh.query_rows(_STORES_SEEN, {"user": user}))
    by_user: dict[str, list[Grant]] = {}
    for g in active_grants(wh, user):
        by_user.setdefault(g.user, []).append(g)
    return [UserAccess(name, tuple(grants), int(seen.get(name, 0)))
            for name, grants in by_user.items()]


def check_region(wh: Warehouse, region: str) -> str | None:
    """None if ``region`` is a region of dim_store, else what is wrong (with the regions,
    and the closest one when a near miss)."""
    regions = [r for (r,) in wh.query_rows(
        "SELECT DISTINCT region FROM dim_store FINAL WHERE region != '' ORDER BY region")]
    if region in regions:
        return None
    if not regions:
        return f"--region {region!r}: dim_store has no regions (load the stores: retail " \
               "warehouse load-dims)"
    near = [r for r in regions if r.lower() == region.lower()] or \
        difflib.get_close_matches(region, regions, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"--region: unknown region {region!r} ({hint}regions: {', '.join(regions)})"
