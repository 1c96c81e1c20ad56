"""``retail access grant|revoke|list``: who sees which stores, in the dashboards, in Power BI
(row-level security through ``bi_user_access``) and through the ClickHouse row policies."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from retail.cli.common import BadOption, console, handle_errors, print_table, settings
from retail.io.warehouse import connect

app = typer.Typer(help="Who sees which stores: rows of rls_assignments, read by the "
                       "dashboards, the Power BI roles and the warehouse's row policies.",
                  no_args_is_help=True)

User = Annotated[str, typer.Argument(help="User name or Power BI user principal name "
                                          "(stored lower-cased), e.g. analyst@retail.example")]
Store = Annotated[str | None, typer.Option("--store", help="A store id (dim_store), e.g. "
                                                          "S00001")]
Region = Annotated[str | None, typer.Option("--region", help="A region (dim_store)")]
All = Annotated[bool, typer.Option("--all", help="Every store")]


def _grant(user: str, store: str | None, region: str | None, all_: bool):
    from retail.warehouse.access import Grant, user_name

    given = [flag for flag, on in (("--store", store is not None),
                                   ("--region", region is not None), ("--all", all_)) if on]
    if len(given) != 1:
        raise BadOption("give exactly one of --store S, --region R or --all"
                        + (f" (got {' and '.join(given)})" if given else ""))
    try:
        name = user_name(user)
    except ValueError as exc:
        raise BadOption(str(exc)) from None
    if all_:
        return Grant(name, "all")
    if store is not None:
        return Grant(name, "store", store_id=store)
    return Grant(name, "region", region=region)


@app.command()
@handle_errors
def grant(user: User, store: Store = None, region: Region = None, all_: All = False) -> None:
    """Let USER see one store, one region or every store (granting twice changes nothing)."""
    from retail.cli.query import _check_store
    from retail.warehouse import access

    g = _grant(user, store, region, all_)
    with connect(settings().resolved_warehouse()) as wh:
        if g.scope == "store":
            _check_store(wh, g.store_id)
        elif g.scope == "region" and (why := access.check_region(wh, g.region)):
            raise BadOption(why)
        done = access.grant(wh, g)
        seen = access.access_list(wh, g.user)[0].stores
    console.print(f"{'granted' if done else 'already granted'}: {g.user} sees {g.label} "
                  f"({seen:,} store(s) in all)", highlight=False)


@app.command()
@handle_errors
def revoke(user: User, store: Store = None, region: Region = None, all_: All = False) -> None:
    """Take back a grant of USER (revoking what is not granted changes nothing)."""
    from retail.warehouse import access

    g = _grant(user, store, region, all_)
    with connect(settings().resolved_warehouse()) as wh:
        done = access.revoke(wh, g)
        left = access.active_grants(wh, g.user)
    if done:
        console.print(f"revoked: {g.user} no longer sees {g.label}", highlight=False)
    else:
        console.print(f"not granted: {g.user} has no grant of {g.label}; nothing changed",
                      highlight=False)
    console.print(f"{g.user} still sees: {', '.join(x.label for x in left) or 'nothing'}",
                  highlight=False)


@app.command("list")
@handle_errors
def list_(user: Annotated[str | None, typer.Option(
        "--user", help="Only this user (compared lower-cased)")] = None) -> None:
    """List the users with active grants, their scopes and how many stores each sees."""
    from retail.warehouse import access

    name = "" if user is None else user.strip().lower()
    with connect(settings().resolved_warehouse()) as wh:
        rows = access.access_list(wh, name)
    if not rows:
        console.print(f"no active grants{f' for {name}' if name else ''} (add one: retail "
                      "access grant USER --store S | --region R | --all)", highlight=False)
        return
    table = Table(title="who sees which stores (bi_user_access)")
    table.add_column("user", no_wrap=True)
    table.add_column("scopes")
    table.add_column("stores", justify="right")
    for row in rows:
        table.add_row(row.user, ", ".join(g.label for g in row.grants), f"{row.stores:,}")
    print_table(table).print(f"{len(rows)} user(s)", style="dim", highlight=False)
