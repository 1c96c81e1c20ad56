"""`retail access grant|revoke|list` as a user runs them: one scope flag exactly, the store or
region checked against dim_store (a near miss named), user names lower-cased, idempotent."""

from __future__ import annotations

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from retail.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def warehouse(migrated, fresh_database, monkeypatch):
    """A migrated warehouse with three stores in two regions, and the CLI pointed at it."""
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", fresh_database.url)
    monkeypatch.setenv("RETAIL_WAREHOUSE__DATABASE", fresh_database.database)
    migrated.insert_arrow("dim_store", pa.table({
        "store_id": ["S00001", "S00002", "S00003"], "name": ["Uptown", "Harbor", "Mall"],
        "region": ["North", "North", "South"]}))
    return migrated


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["access", *args])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def test_grants_list_users_scopes_and_stores_seen(warehouse):
    assert run("grant", "Store.Manager@Retail.Example", "--store", "S00001") == \
        "granted: store.manager@retail.example sees store S00001 (1 store(s) in all)"
    assert "sees region North (2 store(s) in all)" in run("grant", "rm@retail.example",
                                                          "--region", "North")
    run("grant", "rm@retail.example", "--store", "S00003")
    assert "sees all stores (3 store(s)" in run("grant", "analyst@retail.example", "--all")
    assert "already granted: analyst@retail.example sees all stores" in \
        run("grant", "ANALYST@retail.example", "--all")
    out = run("list")
    for line in ("analyst@retail.example │ all stores │ 3",
                 "rm@retail.example │ region North, store S00003 │ 3",
                 "store.manager@retail.example │ store S00001 │ 1", "3 user(s)"):
        assert line in out
    only = run("list", "--user", "RM@retail.example")
    assert "rm@retail.example" in only and "analyst" not in only and "1 user(s)" in only
    assert warehouse.query_rows("SELECT count() FROM rls_assignments")[0][0] == 4


def test_revoke_takes_one_grant_back_and_says_what_is_left(warehouse):
    run("grant", "rm@retail.example", "--region", "North")
    run("grant", "rm@retail.example", "--store", "S00003")
    assert run("revoke", "rm@retail.example", "--region", "North") == \
        "revoked: rm@retail.example no longer sees region North " \
        "rm@retail.example still sees: store S00003"
    assert "rm@retail.example │ store S00003 │ 1" in run("list")
    assert run("revoke", "rm@retail.example", "--region", "North").startswith(
        "not granted: rm@retail.example has no grant of region North; nothing changed")
    run("revoke", "rm@retail.example", "--store", "S00003")
    assert run("list") == "no active grants (add one: retail access grant USER --store S | " \
        "--region R | --all)"


@pytest.mark.parametrize("flags, message", [
    ([], "give exactly one of --store S, --region R or --all"),
    (["--store", "S00001", "--all"], "(got --store and --all)"),
    (["--store", "s00001"], "--store: unknown store 's00001' (did you mean 'S00001'?"),
    (["--store", "S00001' OR 1=1 --"], "--store: unknown store \"S00001' OR 1=1 --\""),
    (["--region", "south"], "--region: unknown region 'south' (did you mean 'South'? "
                            "regions: North, South)"),
])
def test_a_bad_scope_is_refused_naming_the_flag_and_nothing_is_written(warehouse, flags,
                                                                       message):
    assert message in run("grant", "u@retail.example", *flags, code=2)
    assert warehouse.query_rows("SELECT count() FROM rls_assignments")[0][0] == 0


def test_a_spaced_user_name_is_refused(warehouse):
    assert "USER 'ann smith': a user name" in run("grant", "ann smith", "--all", code=2)
