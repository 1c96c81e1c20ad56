"""The checks of the Power BI semantic model: each returns the model's problems (empty:
none). tests/powerbi/test_semantic_model.py runs them on the committed model and on copies
with one defect each; docs/powerbi.md ("The checker") lists what they check.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.powerbi.tmdl import Model, unquote

ROOT = Path(__file__).resolve().parents[2]
MODEL_PATH = ROOT / "powerbi" / "RetailPlatform.SemanticModel"
VIEWS = {  # table -> the bi_* view its DirectQuery partition reads (names fixed by issue 21)
    "Date": "bi_dim_date", "Store": "bi_dim_store", "Product": "bi_dim_product",
    "Supplier": "bi_dim_supplier", "Sales": "bi_fact_sales_daily",
    "Inventory": "bi_fact_inventory_daily", "Inventory Current": "bi_inventory_current",
    "Lost Sales": "bi_fact_lost_sales", "Predictions": "bi_fact_predictions",
    "Replenishment": "bi_fact_replenishment", "Model Evaluations": "bi_model_evaluations",
    "Model Drift": "bi_model_drift", "Feature Importance": "bi_model_feature_importance",
    "Alerts": "bi_stream_alerts", "Anomalies": "bi_ml_anomalies",
    "Slow Movers": "bi_ml_slow_movers", "User Access": "bi_user_access",
    "Business Impact": "bi_business_impact"}  # 0025, the closed-loop experiment (issue 23)
MEASURE_TABLE = "KPI"
CONNECTOR = "ClickHouse.Database(Server,Port,Database,ConnectionOptions)"
PARAMETERS = {"Server": "Text", "Port": "Number", "Database": "Text", "UseTLS": "Logical"}
UPN_FILTER = "LOWER('UserAccess'[UserPrincipalName])=LOWER(USERPRINCIPALNAME())"
ROLE_SCOPES = {"Store Manager": "store", "Regional Manager": "region", "Admin": None}
HIERARCHIES = {("Store", "Region - Store"): ["Region", "Store Name"],
               ("Product", "Category - Product"): ["Category", "Sub-category", "Product Name"],
               ("Date", "Calendar"): ["Year", "Month Name", "Date"]}


# --- DAX references ---------------------------------------------------------------------
_DAX_STRING = re.compile(r'"(?:[^"]|"")*"')
_DAX_COMMENT = re.compile(r"//[^\n]*|--[^\n]*|/\*.*?\*/", re.S)
_DAX_COLUMN = re.compile(r"('(?:[^']|'')+'|[A-Za-z_]\w*)\s*\[([^\]]+)\]")
_DAX_BRACKET = re.compile(r"\[([^\]]+)\]")
_DAX_QUOTED_TABLE = re.compile(r"'((?:[^']|'')+)'")
_DAX_WORD = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\b(?!\s*\()")
_DAX_VAR = re.compile(r"\bVAR\s+([A-Za-z_]\w*)", re.I)
# Words of DAX that are neither functions (which take parentheses) nor names.
DAX_KEYWORDS = {"VAR", "RETURN", "IN", "NOT", "AND", "OR", "ASC", "DESC", "DAY", "MONTH",
                "QUARTER", "YEAR", "TRUE", "FALSE", "BLANK", "DEFINE", "EVALUATE", "MEASURE",
                "ORDER", "BY", "START", "AT"}


def dax_references(expression: str) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """What a DAX expression names: (table, column) pairs, bare ``[names]`` (measures) and
    tables (quoted, or bare words that are neither functions, keywords nor variables)."""
    text = _DAX_COMMENT.sub(" ", _DAX_STRING.sub('""', expression))
    columns = {(unquote(t), c) for t, c in _DAX_COLUMN.findall(text)}
    text = _DAX_COLUMN.sub(" ", text)
    measures = set(_DAX_BRACKET.findall(text))
    text = _DAX_BRACKET.sub(" ", text)
    tables = {t.replace("''", "'") for t in _DAX_QUOTED_TABLE.findall(text)}
    text = _DAX_QUOTED_TABLE.sub(" ", text)
    variables = {v.upper() for v in _DAX_VAR.findall(text)}
    tables |= {w for w in _DAX_WORD.findall(text)
               if w.upper() not in DAX_KEYWORDS and w.upper() not in variables}
    return columns, measures, tables


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def twin_name(measure: str) -> str:
    """The SQL twin column of a measure: its name in snake_case, % as pct."""
    return re.sub(r"[^a-z0-9]+", "_", measure.lower().replace("%", " pct")).strip("_")


def power_bi_types(clickhouse_type: str) -> set[str]:
    """The Power BI data types a ClickHouse column type may load as (empty: cannot load,
    as UInt64 and the 128/256-bit integers through the ODBC driver)."""
    t = clickhouse_type
    while m := re.fullmatch(r"(?:LowCardinality|Nullable)\((.*)\)", t):
        t = m.group(1)
    if t == "Bool":
        return {"boolean"}
    if re.fullmatch(r"U?Int(8|16|32)|Int64", t):
        return {"int64"}
    if t in ("Float32", "Float64"):
        return {"double"}
    if t.startswith("Decimal"):
        return {"decimal", "double"}
    if re.fullmatch(r"Date(32)?|DateTime(64)?(\(.*\))?", t):
        return {"dateTime"}
    if re.fullmatch(r"String|FixedString\(\d+\)|UUID|Enum(8|16)\(.*\)", t):
        return {"string"}
    return set()


def columns_of(model: Model) -> set[tuple[str, str]]:
    return {(t.name, c) for t in model.tables.values() for c in t.columns}


# --- the checks ---------------------------------------------------------------------------
def ref_problems(model: Model) -> list[str]:
    """model.tmdl's `ref table` lines (the tables' order) against the tables' files, and the
    expressions' query groups against model.tmdl's."""
    refs, tables = set(model.refs), {("table", t) for t in model.tables}
    return ([f"model.tmdl refers to {k} {n!r}, which no file defines" for k, n in refs - tables]
            + [f"{k} {n!r} is not referenced in model.tmdl" for k, n in tables - refs]
            + [f"expression {e.name!r}: no queryGroup {group!r} in model.tmdl"
               for e in model.expressions.values()
               if (group := e.properties.get("queryGroup")) and group not in model.query_groups])


def partition_problems(model: Model) -> list[str]:
    problems = []
    for table in model.tables.values():
        parts = list(table.partitions.values())
        if len(parts) != 1:
            problems.append(f"{table.name}: {len(parts)} partitions, expected one")
            continue
        part, source = parts[0], squeeze(parts[0].source)
        if table.name == MEASURE_TABLE:
            if part.mode != "import" or "ClickHouse" in source:
                problems.append(f"{table.name}: the measure table must not query the warehouse")
            continue
        view = re.findall(r'\[Name="(bi_\w+)"\]', source)
        if part.kind != "m" or part.mode != "directQuery":
            problems.append(f"{table.name}: partition is {part.kind}/{part.mode}, "
                            "expected an M partition in directQuery mode")
        if CONNECTOR not in source:
            problems.append(f"{table.name}: partition does not read {CONNECTOR}")
        if view != [VIEWS.get(table.name)]:
            problems.append(f"{table.name}: partition reads {view}, expected "
                            f"{VIEWS.get(table.name)}")
    return problems


def parameter_problems(model: Model) -> list[str]:
    problems = []
    for name, type_ in PARAMETERS.items():
        meta = model.expressions[name].meta if name in model.expressions else {}
        if meta != {"IsParameterQuery": "true", "Type": type_,
                    "IsParameterQueryRequired": "true"}:
            problems.append(f"expression {name}: meta {meta} is not a required {type_} "
                            "parameter")
    defaults = {n: e.value for n, e in model.expressions.items()}
    if (defaults.get("Port"), defaults.get("UseTLS")) != ("8443", "true"):
        problems.append("the defaults must be the chart's production scenario: 8443 with TLS")
    if 'SSLMode="require"' not in squeeze(defaults.get("ConnectionOptions", "")):
        problems.append("ConnectionOptions must turn TLS on with SSLMode \"require\"")
    return problems


def relationship_problems(model: Model) -> list[str]:
    problems, columns = [], columns_of(model)
    for rel in model.relationships.values():
        ends = [(rel.from_table, rel.from_column), (rel.to_table, rel.to_column)]
        missing = [e for e in ends if e not in columns]
        if missing:
            problems.append(f"relationship {rel.name!r}: no column {missing}")
            continue
        types = {model.tables[t].columns[c].data_type for t, c in ends}
        if types != {"int64"}:
            problems.append(f"relationship {rel.name!r}: keys are {types}, expected int64")
    store_keyed = {t.name for t in model.tables.values()
                   if "Store Key" in t.columns and t.name != "Store"}
    to_store = {r.from_table for r in model.relationships.values()
                if (r.to_table, r.to_column) == ("Store", "Store Key")}
    problems += [f"{t} has a Store Key but no relationship to Store: RLS would not reach it"
                 for t in sorted(store_keyed - to_store)]
    access = [r for r in model.relationships.values() if r.from_table == "User Access"]
    if not access or any(r.properties.get("crossFilteringBehavior") != "bothDirections"
                         or r.properties.get("securityFilteringBehavior") != "bothDirections"
                         for r in access):
        problems.append("User Access -> Store must filter both directions, security too")
    return problems


def table_problems(model: Model) -> list[str]:
    problems = []
    for table in model.tables.values():
        for column in table.columns.values():
            if column.name.endswith(" Key") and column.data_type != "int64":
                problems.append(f"{table.name}[{column.name}]: keys must be int64")
            sort = column.properties.get("sortByColumn")
            if sort and sort.strip("'") not in table.columns:
                problems.append(f"{table.name}[{column.name}]: sorted by missing {sort}")
    for (table, name), levels in HIERARCHIES.items():
        hierarchy = model.tables[table].hierarchies.get(name) if table in model.tables else None
        found = [c for _, c in hierarchy.levels] if hierarchy else None
        if found != levels or not set(levels) <= set(model.tables[table].columns):
            problems.append(f"{table} hierarchy {name!r}: levels {found}, expected {levels}")
    if model.tables["Date"].columns["Month Name"].properties.get("sortByColumn") != "Month":
        problems.append("Date[Month Name] must be sorted by Month (the month number)")
    return problems


def dax_problems(where: str, expression: str, model: Model) -> list[str]:
    columns, measures, tables = dax_references(expression)
    known_measures = set(model.tables[MEASURE_TABLE].measures)
    return ([f"{where}: no column {t}[{c}]" for t, c in sorted(columns - columns_of(model))]
            + [f"{where}: no measure [{m}]" for m in sorted(measures - known_measures)]
            + [f"{where}: no table {t!r}" for t in sorted(tables - set(model.tables))])


def measure_problems(model: Model) -> list[str]:
    problems = [f"{t.name}: measures belong in the {MEASURE_TABLE} table"
                for t in model.tables.values() if t.measures and t.name != MEASURE_TABLE]
    for m in model.tables[MEASURE_TABLE].measures.values():
        where = f"measure {m.name!r}"
        if not m.format_string:
            problems.append(f"{where}: no formatString")
        if not m.description:
            problems.append(f"{where}: no /// description")
        if m.annotations.get("SqlTwin") != twin_name(m.name):
            problems.append(f"{where}: annotation SqlTwin = {m.annotations.get('SqlTwin')}, "
                            f"expected {twin_name(m.name)} (a column of measures.sql)")
        problems += dax_problems(where, m.expression, model)
    return problems


# The one run the Business Impact measures read: the newest in context, which is the view's
# `Latest Run` = 1 (their SQL twins' filter) when no run is chosen.
NEWEST_RUN = ("VARNewestRun=TOPN(1,VALUES('BusinessImpact'[RunID]),"
              "CALCULATE(MAX('BusinessImpact'[CreatedAt(UTC)])),DESC)")


def experiment_problems(model: Model) -> list[str]:
    """Business Impact holds one row per run x arm x metric: a measure over it sums the
    values of one run (NewestRun, in every CALCULATE), never every run's."""
    problems = []
    for m in model.tables[MEASURE_TABLE].measures.values():
        columns, _, tables = dax_references(m.expression)
        if "Business Impact" not in tables | {t for t, _ in columns}:
            continue
        dax = squeeze(m.expression)
        reads = dax.count("SUM('BusinessImpact'[Value])")
        if NEWEST_RUN not in dax or dax.count("SUM('BusinessImpact'[Value]),NewestRun,") != reads:
            problems.append(f"measure {m.name!r}: must read one run, the newest in context "
                            "(VAR NewestRun = TOPN ( 1, ... ), a filter of every CALCULATE)")
    return problems


def role_problems(model: Model) -> list[str]:
    problems = []
    if set(model.roles) != set(ROLE_SCOPES):
        problems.append(f"roles {sorted(model.roles)}, expected {sorted(ROLE_SCOPES)}")
    for role in model.roles.values():
        scope = ROLE_SCOPES.get(role.name)
        if role.model_permission != "read":
            problems.append(f"role {role.name!r}: modelPermission must be read")
        if scope is None:
            if role.table_permissions:
                problems.append(f"role {role.name!r} must not filter")
            continue
        dax = role.table_permissions.get("User Access", "")
        if list(role.table_permissions) != ["User Access"] or UPN_FILTER not in squeeze(dax):
            problems.append(f"role {role.name!r}: must filter User Access with "
                            "LOWER([User Principal Name]) = LOWER(USERPRINCIPALNAME())")
        if f"'UserAccess'[Scope]=\"{scope}\"" not in squeeze(dax):
            problems.append(f"role {role.name!r}: must keep the {scope!r} scope")
        problems += dax_problems(f"role {role.name!r}", dax, model)
    return problems


def view_problems(model: Model, views: dict[str, list[tuple[str, str]]]) -> list[str]:
    """The model's columns against the views' (name, ClickHouse type) lists."""
    problems = []
    for table, view in VIEWS.items():
        described = dict(views.get(view, []))
        if not described:
            problems.append(f"{table}: view {view} does not exist")
            continue
        columns = model.tables[table].columns
        for name, ch_type in described.items():
            if not power_bi_types(ch_type):
                problems.append(f"{view}.`{name}` is {ch_type}: Power BI cannot load it "
                                "(cast it to Int64 in the view)")
            elif name not in columns:
                problems.append(f"{table}: the view's column {name!r} is not in the model")
        for column in columns.values():
            ch_type = described.get(column.source_column or "")
            if ch_type is None:
                problems.append(f"{table}[{column.name}]: sourceColumn "
                                f"{column.source_column!r} is not a column of {view}")
            elif column.source_column != column.name:
                problems.append(f"{table}[{column.name}]: named unlike its view column")
            elif power_bi_types(ch_type) and column.data_type not in power_bi_types(ch_type):
                problems.append(f"{table}[{column.name}]: dataType {column.data_type} does "
                                f"not load {ch_type} ({sorted(power_bi_types(ch_type))})")
    return problems


CHECKS = [ref_problems, partition_problems, parameter_problems, relationship_problems,
          table_problems, measure_problems, experiment_problems, role_problems]
