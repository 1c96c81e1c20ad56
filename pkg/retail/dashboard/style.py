"""The page shell: Dash's index with the dashboards' style sheet inlined (no asset files
to ship beside the package)."""

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f4f6f8; color: #1d2733; }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px;
         background: #14324f; color: #fff; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header nav { display: flex; gap: 16px; flex: 1; }
a.nav { color: #cfe3f7; text-decoration: none; font-size: 14px; }
a.nav:hover { color: #fff; text-decoration: underline; }
.picker { width: 380px; color: #1d2733; font-size: 13px; }
.who { font-size: 13px; } .warn { color: #ffd28a; max-width: 480px; }
main { padding: 8px 24px 24px; }
main h2 { margin: 8px 0 0; } main > div > div > p { color: #5b6b7b; margin: 4px 0 8px; }
.filters { display: flex; gap: 16px; align-items: end; margin: 8px 0; flex-wrap: wrap; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: #5b6b7b; }
.filter { width: 220px; font-size: 13px; }
.status { font-size: 12px; color: #5b6b7b; margin-bottom: 8px; min-height: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr));
        gap: 14px; }
.panel { background: #fff; border-radius: 8px; padding: 10px 14px;
         box-shadow: 0 1px 3px rgba(0,0,0,.08); min-width: 0; }
.panel.wide { grid-column: 1 / -1; }
.panel h3 { font-size: 14px; margin: 0 0 6px; color: #14324f; }
.empty { color: #8a96a3; font-style: italic; padding: 24px 8px; }
.cards { display: flex; gap: 14px; flex-wrap: wrap; }
.card { flex: 1; min-width: 180px; background: #f7fafc; border-radius: 6px; padding: 10px; }
.card .label { font-size: 12px; color: #5b6b7b; }
.card .value { font-size: 26px; font-weight: 600; }
.delta.up { color: #2ca02c; } .delta.down { color: #d62728; } .delta { font-size: 12px; }
.lights { display: flex; gap: 22px; margin: 6px 0 12px; }
.light { display: flex; align-items: center; gap: 8px; }
.lamp { width: 30px; height: 30px; border-radius: 50%;
        box-shadow: inset 0 -3px 6px rgba(0,0,0,.25); }
table.rows { border-collapse: collapse; width: 100%; font-size: 12px; }
table.rows th { text-align: left; color: #5b6b7b; border-bottom: 1px solid #dde3e9;
                padding: 4px 6px; }
table.rows td { padding: 3px 6px; border-bottom: 1px solid #eef1f4; }
table.rows caption { caption-side: bottom; text-align: left; color: #8a96a3; }
tr.red td:last-child, tr.critical td:nth-child(2) { color: #d62728; font-weight: 600; }
tr.amber td:last-child, tr.high td:nth-child(2) { color: #e08600; font-weight: 600; }
tr.green td:last-child { color: #2ca02c; }
"""

INDEX = """<!DOCTYPE html>
<html>
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
        <style>""" + CSS + """</style>
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>
"""
