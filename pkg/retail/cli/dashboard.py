"""``retail dashboard serve``: the local web dashboards (docs/dashboards.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from retail.cli.common import console, handle_errors, settings, with_options

app = typer.Typer(help="The web dashboards: the Power BI report's five pages, in a browser.",
                  no_args_is_help=True)


@app.command()
@handle_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default "
                                             "RETAIL_DASHBOARD__HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default RETAIL_DASHBOARD__PORT, "
                                             "8050)")] = None,
    identity: Annotated[str | None, typer.Option(
        help="Who is reading: local (picked in the page header) or header (the "
             "authenticating proxy's RETAIL_DASHBOARD__USER_HEADER); default "
             "RETAIL_DASHBOARD__IDENTITY, local")] = None,
) -> None:
    """Serve the dashboards in the foreground until Ctrl-C.

    Threaded (several readers at once); GET /healthz answers 200 once the warehouse answers.
    """
    from retail.dashboard.app import create_app
    from retail.dashboard.data import Source

    s = settings()
    ds = with_options(s.dashboard, {"host": "--host", "port": "--port",
                                    "identity": "--identity"},
                      host=host, port=port, identity=identity)
    ws = s.resolved_warehouse()
    dash_app = create_app(ds, Source(ws))
    shown = "127.0.0.1" if ds.host in ("0.0.0.0", "::") else ds.host
    console.print(f"dashboards on http://{shown}:{ds.port}/ (identity {ds.identity}, "
                  f"warehouse {ws.url} database {ws.database}); Ctrl-C stops",
                  highlight=False)
    try:
        dash_app.server.run(host=ds.host, port=ds.port, threaded=True, debug=False,
                            use_reloader=False)
    except KeyboardInterrupt:
        pass
    console.print("dashboards stopped")
