"""The Power BI semantic model (powerbi/RetailPlatform.SemanticModel), checked offline.

Each check is a function returning the model's problems (empty: none); each is run on the
committed model, and on a copy with one defect to show that it finds it. The columns are
checked against the live local warehouse's bi_* views (DESCRIBE).
"""

from __future__ import annotations

import copy
import re

import pytest

from tests.powerbi import measures_doc
from tests.powerbi.model_checks import (
    CHECKS, MEASURE_TABLE, MODEL_PATH, VIEWS, experiment_problems, measure_problems,
    parameter_problems, partition_problems, ref_problems, relationship_problems, role_problems,
    table_problems, view_problems)
from tests.powerbi.tmdl import Model, TmdlError, load_model, parse_text


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODEL_PATH)


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


def _no_query_group(m):
    m.query_groups.clear()


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


def _every_run(m):
    measure = m.tables[MEASURE_TABLE].measures["Lost Sales Avoided"]
    measure.expression = measure.expression.replace("NewestRun, ", "", 1)


def _oldest_run(m):
    measure = m.tables[MEASURE_TABLE].measures["Stock-outs Prevented %"]
    measure.expression = measure.expression.replace("DESC )", "ASC )")


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
           (_no_query_group, ref_problems, "no queryGroup 'Parameters'"),
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
           (_every_run, experiment_problems, "'Lost Sales Avoided': must read one run"),
           (_oldest_run, experiment_problems, "'Stock-outs Prevented %': must read one run"),
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


def test_the_reader_keeps_flags_and_the_flags_they_hold():
    [model] = parse_text("model Model\n\tdiscourageImplicitMeasures\n\tdataAccessOptions\n"
                         "\t\tlegacyRedirects\n\t\treturnErrorValuesAsNull\n")
    assert model.flags == {"discourageImplicitMeasures", "dataAccessOptions"}
    [options] = model.of_kind("dataAccessOptions")
    assert options.flags == {"legacyRedirects", "returnErrorValuesAsNull"}
