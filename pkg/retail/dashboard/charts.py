"""The visuals: one function per kind of chart, from a query's rows (a list of dicts) to a
Dash component. Plotly draws the charts; KPI cards, traffic lights and tables are HTML."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

import plotly.graph_objects as go
from dash import dcc, html

Rows = list[dict]
LIGHTS = {"red": "#d62728", "amber": "#ff9f1c", "green": "#2ca02c", "unknown": "#9e9e9e"}
STATUS = {"stable": "#2ca02c", "moderate": "#ff9f1c", "significant": "#d62728",
          "no_data": "#9e9e9e"}
BLUE, GREY = "#1f77b4", "#7f7f7f"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#e377c2")


def graph(fig: go.Figure, height: int = 320, top: int = 30) -> dcc.Graph:
    fig.update_layout(template="plotly_white", height=height, margin=dict(l=50, r=20, t=top,
                      b=40), legend=dict(orientation="h", y=-0.2))
    return dcc.Graph(figure=fig, config={"displaylogo": False, "responsive": True},
                     className="chart")


def empty(message: str) -> html.Div:
    return html.Div(message, className="empty")


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}"
    if isinstance(value, date | datetime):
        return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime) \
            else value.isoformat()
    return str(value)


def kpi_cards(cards: Sequence[tuple[str, str, str]]) -> Callable[[Rows], html.Div]:
    """Cards of one row's columns: (column, label, change column or '')."""
    def draw(rows: Rows) -> html.Div:
        row = rows[0]
        out = []
        for column, label, change in cards:
            delta = row.get(change) if change else None
            note = html.Div(f"{delta:+.1f} % vs last week", className="delta " + (
                "up" if delta >= 0 else "down")) if delta is not None else None
            out.append(html.Div([html.Div(label, className="label"),
                                 html.Div(_fmt(row[column]), className="value"), note],
                                className="card"))
        return html.Div(out, className="cards")
    return draw


def bars(x: str, y: str, *, horizontal: bool = False, color: str | None = None,
         colors: dict[str, str] | None = None, title: str = "") -> Callable[[Rows], dcc.Graph]:
    """A bar per ``x`` (``y`` summed over its rows), in one colour per ``color`` value when
    given (from ``colors``, else the palette), in the rows' order."""
    def draw(rows: Rows) -> dcc.Graph:
        groups: dict[str, dict[object, float]] = defaultdict(lambda: defaultdict(float))
        for row in rows:
            groups[str(row[color]) if color else y][row[x]] += float(row[y] or 0)
        fig = go.Figure()
        for i, (name, sums) in enumerate(groups.items()):
            xs, ys = list(sums), list(sums.values())
            fig.add_bar(x=ys if horizontal else xs, y=xs if horizontal else ys, name=name,
                        orientation="h" if horizontal else "v",
                        marker_color=(colors or {}).get(name, PALETTE[i % len(PALETTE)]
                                                        if color else BLUE))
        if horizontal:
            fig.update_yaxes(autorange="reversed")
        fig.update_layout(showlegend=bool(color), barmode="stack", legend_traceorder="normal",
                          yaxis_title=title or None)
        return graph(fig)
    return draw


def grouped_bars(x: str, ys: Sequence[tuple[str, str]]) -> Callable[[Rows], dcc.Graph]:
    """Several measures side by side per ``x``: ys = (column, legend)."""
    def draw(rows: Rows) -> dcc.Graph:
        fig = go.Figure()
        for column, label in ys:
            fig.add_bar(x=[r[x] for r in rows], y=[r[column] for r in rows], name=label)
        fig.update_layout(barmode="group")
        return graph(fig)
    return draw


def trend(x: str, lines: Sequence[tuple[str, str]], *, band: tuple[str, str] | None = None,
          band95: tuple[str, str] | None = None, dots: str | None = None,
          percent: bool = False) -> Callable[[Rows], dcc.Graph]:
    """Lines over time, with an interval drawn as a band (80 %, and 95 % when given) and
    observed values as dots."""
    def draw(rows: Rows) -> dcc.Graph:
        xs = [r[x] for r in rows]
        fig = go.Figure()
        bands = [(b, name, alpha) for b, name, alpha in (
            (band95, "95 % interval", 0.12), (band, "80 % interval", 0.25)) if b]
        for (lo, hi), name, alpha in bands:
            fig.add_scatter(x=xs, y=[r[hi] for r in rows], mode="lines", line_width=0,
                            showlegend=False, hoverinfo="skip")
            fig.add_scatter(x=xs, y=[r[lo] for r in rows], mode="lines", line_width=0,
                            fill="tonexty", fillcolor=f"rgba(31,119,180,{alpha})", name=name)
        for column, label in lines:
            fig.add_scatter(x=xs, y=[r[column] for r in rows], mode="lines+markers",
                            name=label)
        if dots and any(r[dots] is not None for r in rows):  # none yet: days to come
            fig.add_scatter(x=xs, y=[r[dots] for r in rows], mode="markers", name="actual",
                            marker=dict(color="black", size=8))
        if percent:
            fig.update_yaxes(tickformat=".0%")
        return graph(fig)
    return draw


def heatmap(x: str, y: str, z: str) -> Callable[[Rows], dcc.Graph]:
    def draw(rows: Rows) -> dcc.Graph:
        xs = sorted({r[x] for r in rows})
        ys = sorted({r[y] for r in rows})
        cell = {(r[y], r[x]): r[z] for r in rows}
        fig = go.Figure(go.Heatmap(x=xs, y=ys, z=[[cell.get((b, a)) for a in xs] for b in ys],
                                   colorscale="Blues", hoverongaps=False, colorbar_title=z))
        return graph(fig, height=max(260, 40 * len(ys) + 120))
    return draw


def scatter(x: str, y: str, *, color: str, label: str, diagonal: bool = False,
            colors: dict[str, str] | None = None) -> Callable[[Rows], dcc.Graph]:
    """Points coloured by ``color``; ``diagonal`` draws y = x (predicted = actual). A
    missing ``y`` (unbounded, e.g. the days of cover of stock that does not sell) is drawn
    as a triangle above the others."""
    def draw(rows: Rows) -> dcc.Graph:
        ceiling = max((r[y] for r in rows if r[y] is not None), default=1) * 1.15 or 1
        groups: dict[str, Rows] = defaultdict(list)
        for row in rows:
            unbounded = row[y] is None
            groups[str(row[color])].append({**row, y: ceiling if unbounded else row[y],
                                            "_shape": "triangle-up" if unbounded else "circle",
                                            label: f"{row[label]}" + (" (unbounded)" if
                                                                      unbounded else "")})
        fig = go.Figure()
        for name, part in sorted(groups.items()):
            fig.add_scatter(x=[r[x] for r in part], y=[r[y] for r in part], mode="markers",
                            name=name, text=[r[label] for r in part],
                            marker=dict(size=9, opacity=0.8, symbol=[r["_shape"] for r in part],
                                        color=(colors or {}).get(name)))
        if diagonal:
            top = max((max(r[x] or 0, r[y] or 0) for r in rows), default=0)
            fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="predicted = actual",
                            line=dict(color=GREY, dash="dash"))
        fig.update_layout(xaxis_title=x, yaxis_title=y)
        return graph(fig)
    return draw


def pareto(x: str, y: str, cumulative: str, klass: str) -> Callable[[Rows], dcc.Graph]:
    """Bars by value, coloured by class, under the cumulative share line (ABC)."""
    def draw(rows: Rows) -> dcc.Graph:
        fig = go.Figure()
        fig.add_bar(x=[r[x] for r in rows], y=[r[y] for r in rows], name=y,
                    marker_color=[{"A": "#1f77b4", "B": "#ff9f1c", "C": "#9e9e9e"}.get(
                        r[klass], GREY) for r in rows])
        fig.add_scatter(x=[r[x] for r in rows], y=[r[cumulative] for r in rows], yaxis="y2",
                        mode="lines", name="cumulative %", line_color="#d62728")
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", range=[0, 101]),
                          xaxis=dict(showticklabels=False, title="products"))
        return graph(fig)
    return draw


def gauge(value: str, target: str, label: str) -> Callable[[Rows], dcc.Graph]:
    """One value against its target, as a gauge with the delta."""
    def draw(rows: Rows) -> dcc.Graph:
        row = rows[0]
        goal = float(row[target] or 0)
        fig = go.Figure(go.Indicator(
            mode="gauge+number+delta", value=float(row[value] or 0),
            title=dict(text=label, font=dict(size=13)),
            delta=dict(reference=goal, relative=True, valueformat=".1%"),
            gauge=dict(axis=dict(range=[0, max(goal, float(row[value] or 0)) * 1.3 or 1]),
                       threshold=dict(value=goal, line=dict(color="black", width=3)))))
        return graph(fig, height=280, top=60)
    return draw


def traffic_light(light: str, detail: Callable[[Rows], html.Table]) -> Callable[[Rows], html.Div]:
    """Counts per light as three lamps, then the rows in detail (reddest first)."""
    def draw(rows: Rows) -> html.Div:
        counts = {k: sum(1 for r in rows if r[light] == k) for k in LIGHTS}
        lamps = [html.Div([html.Div(className="lamp", style={"background": LIGHTS[k]}),
                           html.Div(f"{counts[k]} {k}", className="label")],
                          className="light", id=f"light-{k}")
                 for k in LIGHTS if counts[k] or k != "unknown"]
        order = list(LIGHTS)
        return html.Div([html.Div(lamps, className="lights"),
                         detail(sorted(rows, key=lambda r: order.index(r[light])))])
    return draw


def table(columns: Sequence[tuple[str, str]], limit: int = 12,
          highlight: str | None = None) -> Callable[[Rows], html.Table]:
    """The first ``limit`` rows; ``highlight`` names a column whose value is a CSS class."""
    def draw(rows: Rows) -> html.Table:
        head = html.Tr([html.Th(label) for _, label in columns])
        body = [html.Tr([html.Td(_fmt(r[c])) for c, _ in columns],
                        className=str(r[highlight]) if highlight else None)
                for r in rows[:limit]]
        more = [html.Caption(f"{limit} of {len(rows)} rows")] if len(rows) > limit else []
        return html.Table([*more, html.Thead(head), html.Tbody(body)], className="rows")
    return draw
