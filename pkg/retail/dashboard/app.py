"""The Dash app: the five pages, who is reading, and the callbacks that fill the panels.

Every callback runs on the server inside Flask: it learns the reader from the request
(:mod:`retail.dashboard.identity`), runs its page's queries for the reader's stores only
(:class:`retail.dashboard.data.Source`) and sends back the drawn panels, so no row of
another store ever reaches the browser. ``create_app(...).server`` is the WSGI app.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import dash
import flask
from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from retail.dashboard import identity
from retail.dashboard.data import Source
from retail.dashboard.identity import Forbidden, Reader, Unauthenticated
from retail.dashboard.pages import PAGES, Page, panel_box
from retail.dashboard.settings import DashboardSettings
from retail.dashboard.style import INDEX
from retail.io.warehouse import WarehouseError, WarehouseUnavailable

# A page's queries run up to this many at once: the page waits for about its slowest
# query rather than their sum, and each reader keeps at most this many in the warehouse.
PARALLEL_QUERIES = 4


def create_app(settings: DashboardSettings, source: Source) -> Dash:
    """The app for ``settings`` (identity, refresh) reading ``source``."""
    app = Dash(__name__, use_pages=True, pages_folder="", title="Retail dashboards",
               suppress_callback_exceptions=True, update_title=None)
    app.index_string = INDEX
    server = app.server

    def current_reader(chosen: str | None) -> Reader | None:
        """The request's reader: header identity ignores what the page sends."""
        return source.reader(identity.user_name(settings, flask.request.headers, chosen))

    @server.before_request
    def _authenticate():  # a request without the proxy's header never reaches a page
        if flask.request.path == "/healthz":
            return None
        try:
            identity.user_name(settings, flask.request.headers, None)
        except Unauthenticated as exc:
            return flask.Response(f"401 Unauthorized: {exc}\n", 401, mimetype="text/plain")
        if flask.request.path == "/":
            return flask.redirect(PAGES[0].path)
        return None

    @server.errorhandler(Forbidden)
    def _forbidden(exc: Forbidden):
        return flask.Response(f"403 Forbidden: {exc}\n", 403, mimetype="text/plain")

    @server.route("/healthz")
    def _healthz():
        try:
            source.ping()
        except (WarehouseError, WarehouseUnavailable) as exc:
            return flask.Response(f"warehouse unavailable: {exc}\n", 503,
                                  mimetype="text/plain")
        return flask.Response("ok", 200, mimetype="text/plain")

    for page in PAGES:
        dash.register_page(page.key, path=page.path, name=page.name, title=page.name,
                           layout=_page_layout(page, source))
        _page_callbacks(app, page, source, current_reader)

    app.layout = lambda: _shell(settings, source)
    if settings.identity == "local":
        app.callback(Output("reader", "data"), Input("reader-picker", "value"))(
            lambda user: user)
    return app


def _shell(settings: DashboardSettings, source: Source) -> html.Div:
    """The page header (title, pages, reader) around the current page."""
    # Dash also builds this once for its own checks on the first request, which may be the
    # proxy's or Kubernetes' /healthz without a user, or come while the warehouse is down.
    if settings.identity == "header":
        who = html.Span(["signed in as ", html.B(flask.request.headers.get(
            settings.user_header, "").strip().lower())], className="who")
    else:
        try:
            users = source.users()
        except (WarehouseError, WarehouseUnavailable) as exc:
            users, unavailable = [], f"warehouse unavailable: {exc}"
        else:
            unavailable = "nobody has access yet: " + identity.GRANT_HINT
        who = dcc.Dropdown(id="reader-picker", options=[
            {"label": f"{user} ({scope})", "value": user} for user, scope in users],
            placeholder="read as ...", persistence=True, persistence_type="session",
            clearable=False, className="picker") if users else html.Span(
            unavailable, className="who warn", id="no-readers")
    nav = [dcc.Link(p.name, href=p.path, className="nav") for p in PAGES]
    return html.Div([
        html.Header([html.H1("Retail dashboards"), html.Nav(nav), who]),
        dcc.Store(id="reader"),
        dcc.Interval(id="refresh", interval=max(settings.refresh_seconds, 1) * 1000,
                     disabled=settings.refresh_seconds == 0),
        html.Main(dash.page_container)])


def _page_layout(page: Page, source: Source):
    def layout(**_query: str) -> html.Div:
        days = source.days()
        first, last = days or (None, None)
        filters = html.Div([
            html.Label(["as of", dcc.DatePickerSingle(
                id=f"{page.key}-as-of", date=last, min_date_allowed=first,
                max_date_allowed=last, display_format="YYYY-MM-DD")]),
            html.Label(["store", dcc.Dropdown(
                id=f"{page.key}-store", clearable=not page.one_store,
                placeholder="all my stores", className="filter")]),
            html.Label(["category", dcc.Dropdown(
                id=f"{page.key}-category", placeholder="every category",
                className="filter")]),
        ], className="filters")
        return html.Div([html.H2(page.name), html.P(page.description), filters,
                         html.Div(id=f"{page.key}-status", className="status"),
                         html.Div([panel_box(page, p) for p in page.panels],
                                  className="grid")], id=f"page-{page.key}")
    return layout


def _page_callbacks(app: Dash, page: Page, source: Source, current_reader) -> None:
    key = page.key

    @app.callback(Output(f"{key}-store", "options"), Output(f"{key}-store", "value"),
                  Input("reader", "data"), State(f"{key}-store", "value"))
    def _stores(chosen, current):
        reader = current_reader(chosen)
        stores = list(reader.stores) if reader else []
        if current in stores:
            return stores, current
        return stores, (stores[0] if page.one_store and stores else None)

    outputs = [Output(f"{key}-{p.id}", "children") for p in page.panels]

    @app.callback(*outputs, Output(f"{key}-status", "children"),
                  Output(f"{key}-category", "options"),
                  Input("reader", "data"), Input(f"{key}-as-of", "date"),
                  Input(f"{key}-store", "value"), Input(f"{key}-category", "value"),
                  Input("refresh", "n_intervals"))
    def _panels(chosen, as_of, store, category, _tick):
        reader = current_reader(chosen)
        note = _no_rows_reason(reader)
        if note or (page.one_store and not store):
            if not note and page.one_store:  # the store slicer is on its way
                raise PreventUpdate
            return *[html.Div() for _ in page.panels], note, []
        if store:
            reader.check_store(store)  # a forged slicer value: 403, nothing is read
        if as_of is None:
            return *[html.Div() for _ in page.panels], \
                "no sales loaded yet: load some (retail simulate --sink warehouse)", []
        day = date.fromisoformat(as_of[:10])
        # the page's queries at once (a few each), so the page waits for the slowest only
        with ThreadPoolExecutor(min(PARALLEL_QUERIES, len(page.panels))) as pool:
            results = list(pool.map(lambda p: source.fetch(
                p.query, reader, as_of=day, store_id=store).to_pylist(), page.panels))
        drawn, categories = [], set()
        for panel, rows in zip(page.panels, results):
            categories |= {r["category"] for r in rows if r.get("category")}
            if category:
                rows = [r for r in rows if r.get("category", category) == category]
            drawn.append(panel.draw(rows) if rows else html.Div(panel.empty, className="empty"))
        scope = store or f"{len(reader.stores)} store{'s' if len(reader.stores) != 1 else ''}"
        status = f"{reader.name}: {scope}, as of {day.isoformat()}"
        return *drawn, status, sorted(categories)


def _no_rows_reason(reader: Reader | None) -> str:
    if reader is None:
        return "pick who is reading in the page header (read as ...)"
    if not reader.stores:
        return f"{reader.name} has no stores assigned: {identity.GRANT_HINT}"
    return ""
