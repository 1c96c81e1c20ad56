"""retail.warehouse.access: grants are rows of rls_assignments that bi_user_access expands to
stores; granting twice writes one row, revoking makes the newest row inactive (even within
the millisecond of the grant), and a region is checked against dim_store."""

from __future__ import annotations

import pyarrow as pa
import pytest

from retail.warehouse import access
from retail.warehouse.access import Grant

pytestmark = pytest.mark.integration
STORES = {"S00001": "North", "S00002": "North", "S00003": "South"}


@pytest.fixture
def stores(migrated):
    migrated.insert_arrow("dim_store", pa.table({
        "store_id": list(STORES), "name": [f"Store {s}" for s in STORES],
        "region": list(STORES.values())}))
    return migrated


def rows(wh, user: str) -> list[tuple]:
    """Every stored row of ``user`` (not collapsed), oldest first."""
    return wh.query_rows("SELECT scope, store_id, region, is_active FROM rls_assignments "
                         "WHERE user_name = {u:String} ORDER BY granted_at", {"u": user})


def seen(wh, user: str) -> list[str]:
    return [r[0] for r in wh.query_rows(
        "SELECT `Store ID` FROM bi_user_access WHERE `User Principal Name` = {u:String} "
        "ORDER BY 1", {"u": user})]


def test_each_scope_gives_its_stores_through_bi_user_access(stores):
    assert access.grant(stores, Grant("sm@retail.example", "store", store_id="S00002"))
    assert access.grant(stores, Grant("rm@retail.example", "region", region="North"))
    assert access.grant(stores, Grant("analyst@retail.example", "all"))
    assert seen(stores, "sm@retail.example") == ["S00002"]
    assert seen(stores, "rm@retail.example") == ["S00001", "S00002"]
    assert seen(stores, "analyst@retail.example") == list(STORES)
    listed = {u.user: (tuple(g.label for g in u.grants), u.stores)
              for u in access.access_list(stores)}
    assert listed == {"analyst@retail.example": (("all stores",), 3),
                      "rm@retail.example": (("region North",), 2),
                      "sm@retail.example": (("store S00002",), 1)}
    assert [u.user for u in access.access_list(stores, "rm@retail.example")] == \
        ["rm@retail.example"]


def test_granting_twice_writes_one_row_and_a_user_with_two_grants_counts_stores_once(stores):
    g = Grant("rm@retail.example", "region", region="North")
    assert access.grant(stores, g) and not access.grant(stores, g)
    assert rows(stores, g.user) == [("region", "", "North", True)]
    access.grant(stores, Grant(g.user, "store", store_id="S00001"))  # inside North
    assert access.access_list(stores, g.user)[0].stores == 2


def test_revoke_makes_the_newest_row_inactive_and_a_grant_after_it_wins_again(stores):
    g = Grant("sm@retail.example", "store", store_id="S00001")
    access.grant(stores, g)
    # grant, revoke and grant again within milliseconds: each newer row still wins
    assert access.revoke(stores, g)
    assert seen(stores, g.user) == [] and access.active_grants(stores, g.user) == []
    assert not access.revoke(stores, g)  # nothing active: nothing written
    assert [r[3] for r in rows(stores, g.user)] == [True, False]
    assert access.grant(stores, g)
    assert seen(stores, g.user) == ["S00001"]
    versions = [r[0] for r in stores.query_rows(
        "SELECT granted_at FROM rls_assignments WHERE user_name = {u:String} "
        "ORDER BY granted_at", {"u": g.user})]
    assert len(set(versions)) == 3


def test_values_are_bound_not_spliced(stores):
    g = Grant("o'brien@retail.example", "store", store_id="S00001')--")
    access.grant(stores, g)
    assert access.active_grants(stores, g.user) == [g]
    assert seen(stores, g.user) == []  # no such store: it sees nothing


@pytest.mark.parametrize("text, stored", [("  Analyst@Retail.Example ", "analyst@retail.example"),
                                          ("STORE_MGR_17", "store_mgr_17")])
def test_user_names_are_stored_lower_cased(text, stored):
    assert access.user_name(text) == stored


@pytest.mark.parametrize("text", ["", "   ", "ann smith@retail.example"])
def test_an_empty_or_spaced_user_name_is_refused_naming_the_argument(text):
    with pytest.raises(ValueError, match=r"^USER .*without spaces"):
        access.user_name(text)


@pytest.mark.parametrize("scope, store, region", [("store", "", ""), ("region", "S1", "N"),
                                                  ("all", "", "North"), ("chain", "", "")])
def test_a_grant_names_exactly_what_its_scope_needs(scope, store, region):
    with pytest.raises(ValueError, match="grant names|one of store, region, all"):
        Grant("u", scope, store_id=store, region=region)


def test_a_region_is_checked_against_dim_store_with_the_closest_one(stores):
    assert access.check_region(stores, "North") is None
    assert access.check_region(stores, "north") == \
        "--region: unknown region 'north' (did you mean 'North'? regions: North, South)"
    assert access.check_region(stores, "Soth") == \
        "--region: unknown region 'Soth' (did you mean 'South'? regions: North, South)"
    assert access.check_region(stores, "Mars") == \
        "--region: unknown region 'Mars' (regions: North, South)"


def test_a_region_without_stores_loaded_says_to_load_them(migrated):
    assert "dim_store has no regions (load the stores" in access.check_region(migrated, "North")
