"""The Power BI semantic model (powerbi/RetailPlatform.SemanticModel), checked offline.

Each check is a function returning the model's problems (empty: none); each is run on the
committed model, and on a copy with one defect to show that it finds it. The columns are
checked against the live local warehouse's bi_* views (DESCRIBE).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from tests.powerbi import measures_doc
from tests.powerbi.tmdl import Model, TmdlError, dax_references, load_model, parse_text

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
    "Slow Movers": "bi_ml_slow_movers", "User Access": "bi_user_access"}
MEASURE_TABLE = "KPI"
CONNECTOR = "ClickHouse.Database(Server,Port,Database,ConnectionOptions)"
PARAMETERS = {"Server": "Text", "Port": "Number", "Database": "Text", "UseTLS": "Logical"}
UPN_FILTER = "LOWER('UserAccess'[UserPrincipalName])=LOWER(USERPRINCIPALNAME())"
ROLE_SCOPES = {"Store Manager": "store", "Regional Manager": "region", "Admin": None}
HIERARCHIES = {("Store", "Region - Store"): ["Region", "Store Name"],
               ("Product", "Category - Product"): ["Category", "Sub-category", "Product Name"],
               ("Date", "Calendar"): ["Year", "Month Name", "Date"]}


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODEL_PATH)


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
    declared = ({("table", t) for t in model.tables} | {("role", r) for r in model.roles}
                | {("expression", e) for e in model.expressions})
    refs = set(model.refs)
    return ([f"model.tmdl refers to {k} {n!r}, which no file defines" for k, n in refs - declared]
            + [f"{k} {n!r} is not referenced in model.tmdl" for k, n in declared - refs])


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
          table_problems, measure_problems, role_problems]


# --- the committed model ------------------------------------------------------------------
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_model_has_no_problems(model, check):
    assert check(model) == []


def test_the_model_matches_the_live_warehouse_views(migrated, model):
    views = {v: [(r[0], r[1]) for r in migrated.query_rows(f"DESCRIBE TABLE `{v}`")]
             for v in sorted(VIEWS.values())}
    assert view_problems(model, views) == []


def test_every_table_reads_its_own_view_and_every_kpi_is_a_measure(model):
    assert set(model.tables) == set(VIEWS) | {MEASURE_TABLE}
    assert len(model.tables[MEASURE_TABLE].measures) >= 20


def test_the_docs_measures_table_is_current():
    table = measures_doc.render()
    assert "MISSING" not in table, "a measure's SqlTwin names no column of measures.sql"
    assert measures_doc.current_table(measures_doc.DOC.read_text(encoding="utf-8")) == table, (
        "docs/powerbi.md's measures table is stale: run "
        ".venv/bin/python -m tests.powerbi.measures_doc")


# --- each check finds its defect ----------------------------------------------------------
def _drop_ref(m):
    m.refs.pop()


def _import_mode(m):
    m.tables["Sales"].partitions["Sales"].mode = "import"


def _other_view(m):
    part = m.tables["Sales"].partitions["Sales"]
    part.source = part.source.replace("bi_fact_sales_daily", "bi_fact_sales")


def _plain_port(m):
    m.expressions["Port"].value = "8123"


def _optional_server(m):
    m.expressions["Server"].meta["IsParameterQueryRequired"] = "false"


def _missing_key(m):
    m.relationships["Sales to Store"].from_column = "Shop Key"


def _one_direction(m):
    del m.relationships["User Access to Store"].properties["securityFilteringBehavior"]


def _no_store_relationship(m):
    del m.relationships["Anomalies to Store"]


def _string_key(m):
    m.tables["Product"].columns["Supplier Key"].data_type = "string"


def _unsorted_month(m):
    del m.tables["Date"].columns["Month Name"].properties["sortByColumn"]


def _flat_hierarchy(m):
    m.tables["Product"].hierarchies["Category - Product"].levels.pop(1)


def _measure_on_fact(m):
    m.tables["Sales"].measures["Revenue"] = m.tables[MEASURE_TABLE].measures["Revenue"]


def _undocumented(m):
    m.tables[MEASURE_TABLE].measures["Revenue"].description = ""


def _no_format(m):
    m.tables[MEASURE_TABLE].measures["Units"].format_string = None


def _wrong_twin(m):
    m.tables[MEASURE_TABLE].measures["Profit"].annotations["SqlTwin"] = "margin"


def _missing_column(m):
    m.tables[MEASURE_TABLE].measures["Revenue"].expression = "SUM ( Sales[Turnover] )"


def _missing_measure(m):
    m.tables[MEASURE_TABLE].measures["Gross Margin %"].expression = "DIVIDE ( [Margin], 1 )"


def _missing_table(m):
    m.tables[MEASURE_TABLE].measures["Open Alerts"].expression = "COUNTROWS ( Alarms )"


def _case_sensitive(m):
    m.roles["Store Manager"].table_permissions["User Access"] = (
        "'User Access'[User Principal Name] = USERPRINCIPALNAME () && "
        "'User Access'[Scope] = \"store\"")


def _admin_filtered(m):
    m.roles["Admin"].table_permissions["Store"] = "Store[Region] = \"North\""


def _no_scope(m):
    m.roles["Regional Manager"].table_permissions["User Access"] = (
        "LOWER ( 'User Access'[User Principal Name] ) = LOWER ( USERPRINCIPALNAME () )")


DEFECTS = [(_drop_ref, ref_problems, "not referenced in model.tmdl"),
           (_import_mode, partition_problems, "expected an M partition in directQuery"),
           (_other_view, partition_problems, "expected bi_fact_sales_daily"),
           (_plain_port, parameter_problems, "8443 with TLS"),
           (_optional_server, parameter_problems, "not a required Text parameter"),
           (_missing_key, relationship_problems, "no column [('Sales', 'Shop Key')]"),
           (_one_direction, relationship_problems, "both directions"),
           (_no_store_relationship, relationship_problems, "Anomalies has a Store Key"),
           (_string_key, table_problems, "keys must be int64"),
           (_unsorted_month, table_problems, "sorted by Month"),
           (_flat_hierarchy, table_problems, "hierarchy 'Category - Product'"),
           (_measure_on_fact, measure_problems, "measures belong in the KPI table"),
           (_undocumented, measure_problems, "no /// description"),
           (_no_format, measure_problems, "no formatString"),
           (_wrong_twin, measure_problems, "expected profit"),
           (_missing_column, measure_problems, "no column Sales[Turnover]"),
           (_missing_measure, measure_problems, "no measure [Margin]"),
           (_missing_table, measure_problems, "no table 'Alarms'"),
           (_case_sensitive, role_problems, "LOWER([User Principal Name])"),
           (_admin_filtered, role_problems, "'Admin' must not filter"),
           (_no_scope, role_problems, "'region' scope")]


@pytest.mark.parametrize(("defect", "check", "message"), DEFECTS,
                         ids=[d.__name__.strip("_") for d, _, _ in DEFECTS])
def test_each_check_finds_its_defect(model, defect, check, message):
    broken = copy.deepcopy(model)
    defect(broken)
    problems = check(broken)
    assert any(message in p for p in problems), problems


def test_the_view_check_finds_unloadable_missing_and_mistyped_columns(model):
    views = {view: [(c.source_column, {"int64": "Int64", "double": "Float64",
                                       "decimal": "Decimal(14, 2)", "string": "String",
                                       "dateTime": "Date", "boolean": "Bool"}[c.data_type])
                    for c in model.tables[table].columns.values()]
             for table, view in VIEWS.items()}
    assert view_problems(model, views) == []
    views["bi_fact_sales_daily"].append(("Transactions", "UInt64"))
    views["bi_dim_store"] = [(n, "Float64" if n == "Store Name" else t)
                             for n, t in views["bi_dim_store"] if n != "City"]
    del views["bi_ml_anomalies"]
    assert sorted(view_problems(model, views)) == [
        "Anomalies: view bi_ml_anomalies does not exist",
        "Store[City]: sourceColumn 'City' is not a column of bi_dim_store",
        "Store[Store Name]: dataType string does not load Float64 (['double'])",
        "bi_fact_sales_daily.`Transactions` is UInt64: Power BI cannot load it "
        "(cast it to Int64 in the view)"]


@pytest.mark.parametrize(("text", "message"), [
    ("table T\n    column C", "tabs, not spaces"),
    ("table T\n\t\tcolumn C", "indented 2 tabs under a table"),
    ("table T\n\tcolumn C\n\t\tdataType int64 x", "cannot read 'dataType int64 x'"),
    ("dataType: int64", "outside any object"),
    ("table T\n\t/// about\n\tisHidden", "must precede an object"),
])
def test_the_reader_names_the_line_it_cannot_read(text, message):
    with pytest.raises(TmdlError, match=re.escape(message)) as error:
        parse_text(text, "t.tmdl")
    assert re.match(r"t\.tmdl(:\d+)?: ", str(error.value))


def test_the_reader_keeps_multi_line_expressions_descriptions_and_annotations():
    [table] = parse_text(
        "/// A table\ntable 'My T'\n\n\t/// Twice\n\tmeasure 'A''s' =\n\t\t\tVAR x = 1\n\n"
        "\t\t\tRETURN\n\t\t\t    x * 2\n\t\tformatString: 0\n\n\t\tannotation SqlTwin = a\n")
    [measure] = table.of_kind("measure")
    assert (table.name, table.description, measure.name, measure.description) == (
        "My T", "A table", "A's", "Twice")
    assert measure.value == "VAR x = 1\n\nRETURN\n    x * 2"
    assert (measure.properties, measure.annotations()) == ({"formatString": "0"},
                                                           {"SqlTwin": "a"})
