"""Writes the DAX | SQL table of docs/powerbi.md from the model and its SQL twins.

    .venv/bin/python -m tests.powerbi.measures_doc     # rewrites the table between markers

The table sits between ``BEGIN`` and ``END`` below; the test beside this module fails
when the doc is not what this writes (a measure or its twin changed without the doc).
"""

from __future__ import annotations

import re
from pathlib import Path

from retail.queries import get_query
from tests.powerbi.tmdl import load_model

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "powerbi.md"
MODEL = ROOT / "powerbi" / "RetailPlatform.SemanticModel"
BEGIN = "<!-- measures table: written by python -m tests.powerbi.measures_doc -->"
END = "<!-- end of measures table -->"


def _select_list(sql: str) -> dict[str, str]:
    """``name -> expression`` of the first top-level ``SELECT ... FROM`` of ``sql``."""
    words = list(re.finditer(r"\(|\)|\bSELECT\b|\bFROM\b", sql))
    depth, begin = 0, None
    for w in words:
        depth += (w.group() == "(") - (w.group() == ")")
        if depth == 0 and w.group() == "SELECT" and begin is None:
            begin = w.end()
        elif depth == 0 and w.group() == "FROM" and begin is not None:
            break
    else:
        raise ValueError("measures.sql: no top-level SELECT ... FROM")
    items, depth, current = [], 0, ""
    for char in sql[begin:w.start()]:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    pairs = (" ".join(item.split()).rpartition(" AS ") for item in items)
    return {name: expression for expression, _, name in pairs}


def _subqueries(sql: str) -> dict[str, str]:
    """``alias -> text`` of the subqueries that close a line with ``) AS alias``."""
    out = {}
    for m in re.finditer(r"^\) AS (\w+)$", sql, re.M):
        depth, i = 0, m.start()
        while True:
            depth += (sql[i] == ")") - (sql[i] == "(")
            if depth == 0:
                break
            i -= 1
        out[m.group(1)] = sql[i + 1:m.start()]
    return out


def twin_expressions(sql: str) -> dict[str, str]:
    """``column -> expression`` of a query's outer SELECT list, each ``alias.column`` of a
    subquery replaced by the subquery's own expression, and the views it reads."""
    subqueries = {alias: (_select_list(text), sorted(set(re.findall(r"FROM (bi_\w+)", text))))
                  for alias, text in _subqueries(sql).items()}
    out = {}
    for name, expression in _select_list(sql).items():
        views: set[str] = set()

        def inner(m: re.Match) -> str:
            select, read = subqueries[m.group(1)]
            views.update(read)
            return select[m.group(2)]

        resolved = re.sub(rf"\b({'|'.join(subqueries)})\.(\w+)\b", inner, expression)
        views.discard("bi_dim_store")  # the {stores} filter of every store-keyed view
        out[name] = f"{resolved} (from {', '.join(sorted(views))})"
    return out


def cell(text: str) -> str:
    """A table cell of code: double backticks, as the SQL quotes names in single ones."""
    return "`` " + " ".join(text.split()).replace("|", "\\|") + " ``"


def render() -> str:
    twins = twin_expressions(get_query("measures").sql)
    rows = ["| Measure (KPI table) | DAX | SQL twin: column = expression | Format |",
            "|---|---|---|---|"]
    for m in load_model(MODEL).tables["KPI"].measures.values():
        column = m.annotations.get("SqlTwin", "")
        sql = twins.get(column, "MISSING")
        description = m.description.replace("|", "\\|")
        rows.append(f"| **{m.name}**<br>{description} | {cell(m.expression)} | "
                    f"{cell(f'{column} = {sql}')} | {cell(m.format_string or '')} |")
    return "\n".join(rows)


def current_table(doc: str) -> str:
    if BEGIN not in doc or END not in doc:
        raise ValueError(f"{DOC.name}: the markers {BEGIN!r} and {END!r} are missing")
    return doc.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def main() -> None:
    doc = DOC.read_text(encoding="utf-8")
    current_table(doc)  # the markers must be there
    head, rest = doc.split(BEGIN, 1)
    DOC.write_text(f"{head}{BEGIN}\n{render()}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    print(f"wrote the measures table of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
