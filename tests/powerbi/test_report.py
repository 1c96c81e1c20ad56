"""The Power BI project's JSON files and the report (PBIR): valid against Microsoft's pinned
schemas offline, wired to the semantic model, and carrying the dashboards of the design."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.powerbi.pbi_schemas import SchemaError, document_errors
from tests.powerbi.tmdl import load_model

POWERBI = Path(__file__).resolve().parents[2] / "powerbi"
REPORT = POWERBI / "RetailPlatform.Report"
PAGES = REPORT / "definition" / "pages"
# Power BI Desktop's per-user state, ignored by powerbi/.gitignore, is never checked.
LOCAL_STATE = {"localSettings.json", "unappliedChanges.json"}
# Every file Power BI reads as JSON: each names its schema in "$schema".
JSON_FILES = sorted(p for p in POWERBI.rglob("*") if p.is_file() and p.name not in LOCAL_STATE
                    and p.suffix in {".json", ".pbip", ".pbir", ".pbism"})
PAGE_NAMES = ["executive", "store_manager", "inventory_analyst", "ml_model_performance", "alerts"]


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def model():
    return load_model(POWERBI / "RetailPlatform.SemanticModel")


# --- what a report file refers to ---------------------------------------------------------
@dataclass(frozen=True)
class Field:
    kind: str  # Column | Measure | Hierarchy
    table: str | None  # None: a SourceRef alias no "From" declares
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.table}[{self.name}]"


def fields(node, aliases: dict[str, str] | None = None):
    """Every column, measure and hierarchy a report JSON document names, in projections,
    sorts, filters (whose SourceRefs go through the aliases their "From" declares) and
    formatting rules alike."""
    aliases = dict(aliases or {})
    if isinstance(node, list):
        for item in node:
            yield from fields(item, aliases)
        return
    if not isinstance(node, dict):
        return
    for source in node.get("From", []) if isinstance(node.get("From"), list) else []:
        if "Entity" in source:
            aliases[source["Name"]] = source["Entity"]
    for key, value in node.items():
        ref = value.get("Expression", {}).get("SourceRef") if isinstance(value, dict) else None
        if key in ("Column", "Measure", "Hierarchy") and isinstance(ref, dict):
            table = ref["Entity"] if "Entity" in ref else aliases.get(ref.get("Source"))
            yield Field(key, table, value.get("Property", value.get("Hierarchy")))
        else:
            yield from fields(value, aliases)


def missing_fields(doc: dict) -> list[str]:
    """The fields ``doc`` names that the semantic model does not have."""
    tables = model().tables
    missing = []
    for f in fields(doc):
        table = tables.get(f.table)
        names = {"Column": table.columns, "Measure": table.measures,
                 "Hierarchy": table.hierarchies}[f.kind] if table else {}
        if f.name not in names:
            missing.append(str(f) if table else f"{f} (no such table)")
    return missing


def page_visuals(page: str) -> dict[str, dict]:
    found = sorted((PAGES / page / "visuals").glob("*/visual.json"))
    return {p.parent.name: read(p) for p in found}


# --- the files and their schemas ----------------------------------------------------------
@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(POWERBI)))
def test_every_project_json_file_is_valid_against_the_schema_it_names(path):
    assert document_errors(read(path)) == []


def test_the_project_files_power_bi_needs_are_all_there():
    required = [POWERBI / "RetailPlatform.pbip", REPORT / "definition.pbir",
                REPORT / "definition" / "report.json", REPORT / "definition" / "version.json",
                PAGES / "pages.json"] + [PAGES / p / "page.json" for p in PAGE_NAMES]
    assert [str(p.relative_to(POWERBI)) for p in required if p not in JSON_FILES] == []


def test_the_pbip_opens_the_report_and_the_report_binds_the_model_by_path():
    artifacts = read(POWERBI / "RetailPlatform.pbip")["artifacts"]
    assert [(POWERBI / a["report"]["path"]).resolve() for a in artifacts] == [REPORT]
    by_path = read(REPORT / "definition.pbir")["datasetReference"]["byPath"]["path"]
    model_dir = (REPORT / by_path).resolve()
    assert model_dir == POWERBI / "RetailPlatform.SemanticModel"
    assert (model_dir / "definition.pbism").is_file()


def test_pages_json_lists_exactly_the_page_folders_in_the_design_order():
    pages = read(PAGES / "pages.json")
    folders = sorted(p.name for p in PAGES.iterdir() if p.is_dir())
    assert pages["pageOrder"] == PAGE_NAMES and sorted(PAGE_NAMES) == folders
    assert pages["activePageName"] in PAGE_NAMES
    assert [read(PAGES / p / "page.json")["name"] for p in PAGE_NAMES] == PAGE_NAMES
    assert [read(PAGES / p / "page.json")["displayName"] for p in PAGE_NAMES] == [
        "Executive", "Store Manager", "Inventory Analyst", "ML Model Performance", "Alerts"]


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_visuals_are_named_after_their_folders_and_interactions_name_real_visuals(page):
    visuals = page_visuals(page)
    assert [(folder, v["name"]) for folder, v in visuals.items() if v["name"] != folder] == []
    interactions = read(PAGES / page / "page.json").get("visualInteractions", [])
    assert [i for i in interactions if {i["source"], i["target"]} - set(visuals)] == []


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_sorts_and_formatting_rules_address_fields_the_visual_projects(page):
    wrong = []
    for name, container in page_visuals(page).items():
        visual = container["visual"]
        projections = [p for role in visual.get("query", {}).get("queryState", {}).values()
                       for p in role["projections"]]
        sorts = visual.get("query", {}).get("sortDefinition", {}).get("sort", [])
        wrong += [f"{name}: sort by {s['field']}" for s in sorts
                  if s["field"] not in [p["field"] for p in projections]]
        wrong += [f"{name}: {obj} for {rule['selector']['metadata']}"
                  for obj, rules in visual.get("objects", {}).items() for rule in rules
                  if rule.get("selector", {}).get("metadata") not in
                  (None, *[p["queryRef"] for p in projections])]
    assert wrong == []


def test_filter_names_are_unique_across_the_report():
    names = [f["name"] for p in JSON_FILES if p.is_relative_to(REPORT / "definition")
             for f in read(p).get("filterConfig", {}).get("filters", [])]
    assert names and sorted({n for n in names if names.count(n) > 1}) == []


def test_every_field_the_report_names_is_in_the_semantic_model():
    documents = [p for p in JSON_FILES if p.is_relative_to(REPORT / "definition")]
    found = {str(p.relative_to(REPORT)): missing_fields(read(p)) for p in documents}
    assert {path: missing for path, missing in found.items() if missing} == {}
    assert sum(1 for p in documents for _ in fields(read(p))) > 100  # the walk sees them


# --- the dashboards of the design ---------------------------------------------------------
def rule(doc, key: str) -> bool:
    """Whether ``doc`` holds a ``key`` object somewhere (a FillRule, a Conditional, a TopN...)."""
    if isinstance(doc, dict):
        return key in doc or any(rule(v, key) for v in doc.values())
    return isinstance(doc, list) and any(rule(v, key) for v in doc)


def filter_types(visual: dict) -> set[str]:
    return {f.get("type") for f in visual.get("filterConfig", {}).get("filters", [])}


CHARTS = {"clusteredBarChart", "clusteredColumnChart", "barChart", "columnChart"}
LINES = {"lineChart", "areaChart", "lineClusteredColumnComboChart"}
TABLES = {"tableEx", "pivotTable"}
K = "KPI"
B = "Business Impact"


def newest_run_only(visual: dict) -> bool:
    """Whether a visual of Business Impact's rows keeps one run, the newest in context (a
    TopN 1 filter on Run ID by its latest Created At), as the measures do."""
    run_id = {"Column": {"Expression": {"SourceRef": {"Entity": B}}, "Property": "Run ID"}}
    for f in visual.get("filterConfig", {}).get("filters", []):
        queries = [s["Expression"]["Subquery"]["Query"] for s in f["filter"]["From"]
                   if "Subquery" in s.get("Expression", {})]
        # (how many, directions (2: descending), the fields ordered by) of each subquery
        tops = [(q["Top"], [o["Direction"] for o in q["OrderBy"]],
                 [(x.table, x.name) for x in fields({"From": q["From"],
                                                     "OrderBy": q["OrderBy"]})])
                for q in queries]
        top_of_run_ids = f["type"] == "TopN" and f["field"] == run_id
        if top_of_run_ids and tops == [(1, [2], [(B, "Created At (UTC)")])]:
            return True
    return False


# page -> (what the issue asks, visual types that show it, fields it must use, extra check)
WANTED = {
    "executive": [
        (f"KPI card {m}", {"card", "cardVisual", "multiRowCard", "kpi"}, {(K, m)}, None)
        for m in ("Revenue", "Revenue vs Last Week %", "Stock Value", "Stock-outs Today",
                  "Inventory Turnover")] + [
        ("revenue by region", CHARTS, {("Store", "Region"), (K, "Revenue")}, None),
        ("90-day trend", LINES, {("Date", "Date"), (K, "Revenue")},
         lambda v: "RelativeDate" in filter_types(v) and '"Amount": -90' in json.dumps(v)),
        ("top 10 products", CHARTS | TABLES, {("Product", "Product Name"), (K, "Revenue")},
         lambda v: "TopN" in filter_types(v) and '"Top": 10' in json.dumps(v)),
        ("store performance heatmap", {"pivotTable"},
         {("Store", "Store Name"), ("Product", "Category"), (K, "Revenue")},
         lambda v: rule(v["visual"].get("objects"), "FillRule")),
    ],
    "store_manager": [
        ("stock by category", CHARTS, {("Product", "Category"), (K, "Stock Units")}, None),
        ("low-stock alerts", TABLES, {("Product", "Product Name"), (K, "Low-stock Items"),
                                      ("Inventory Current", "On Hand"),
                                      ("Inventory Current", "Reorder Point")}, None),
        ("today vs target", {"gauge", "kpi"}, {(K, "Revenue"), (K, "Revenue Target")}, None),
        ("7-day forecast with its interval", LINES,
         {("Date", "Date"), ("Predictions", "Predicted Demand"), ("Predictions", "Confidence Low"),
          ("Predictions", "Confidence High"), ("Predictions", "Horizon (days)")}, None),
        ("recommended orders", TABLES,
         {("Product", "Product Name"), ("Replenishment", "Recommended Order")}, None),
        ("stock-out risk traffic light", TABLES, {("Inventory Current", "Stock-out Risk")},
         lambda v: rule(v["visual"].get("objects"), "Conditional")),
        ("date slicer", {"slicer"}, {("Date", "Date")}, None),
        ("category slicer", {"slicer"}, {("Product", "Category")}, None),
        ("store slicer", {"slicer"}, {("Store", "Store Name")}, None),
    ],
    "inventory_analyst": [
        ("aging", CHARTS, {("Product", "Category"), (K, "Days of Cover")}, None),
        ("slow movers with markdowns", TABLES,
         {("Slow Movers", "Markdown Depth"), ("Slow Movers", "Slow Mover")}, None),
        ("over/understock scatter", {"scatterChart"}, {(K, "Stock Units"), (K, "Days of Cover")},
         None),
        ("supplier performance", TABLES | CHARTS,
         {("Supplier", "Supplier Name"), ("Supplier", "Lead Time (days)")}, None),
        ("ABC", CHARTS | TABLES, {("Replenishment", "ABC Class")}, None),
        ("forecast vs actual", LINES,
         {("Date", "Date"), ("Predictions", "Predicted Demand"), (K, "Units")}, None),
        ("reorder points", TABLES | CHARTS,
         {("Replenishment", "Reorder Point"), ("Replenishment", "Safety Stock")}, None),
    ],
    "ml_model_performance": [
        ("accuracy over time", LINES, {("Date", "Date"), (K, "Forecast WAPE")}, None),
        ("drift", CHARTS, {("Model Drift", "Feature"), ("Model Drift", "PSI")}, None),
        ("predicted vs actual", {"scatterChart"},
         {("Predictions", "Predicted Demand"), (K, "Units")}, None),
        ("feature importance", CHARTS,
         {("Feature Importance", "Feature"), ("Feature Importance", "Importance")}, None),
        *((f"business impact card {m}", {"card", "cardVisual", "multiRowCard", "kpi"},
           {(K, m)}, None)
          for m in ("Stock-outs Prevented %", "Overstock Reduction %", "Lost Sales Avoided",
                    "Inventory Turnover Change %")),
        ("business impact metrics per arm, of one run", TABLES | CHARTS,
         {(B, "Metric"), (B, "Arm"), (B, "Value")}, newest_run_only),
        ("experiment run slicer", {"slicer"}, {(B, "Run ID")}, None),
    ],
    "alerts": [
        ("urgent items", TABLES, {("Alerts", "Severity"), ("Alerts", "Alert Type")},
         lambda v: "'critical'" in json.dumps(v)),
        ("overstocked stores", CHARTS,
         {("Store", "Store Name"), ("Inventory Current", "Days of Cover")}, None),
        ("trending products", TABLES | CHARTS,
         {("Product", "Product Name"), ("Anomalies", "Velocity Change")}, None),
    ],
}


def shows(visual: dict, types: set[str], wanted: set[tuple[str, str]], check) -> bool:
    named = {(f.table, f.name) for f in fields(visual)}
    return (visual["visual"]["visualType"] in types and wanted <= named
            and (check is None or check(visual)))


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_each_page_has_the_visuals_the_issue_lists(page):
    visuals = page_visuals(page).values()
    assert [what for what, types, wanted, check in WANTED[page]
            if not any(shows(v, types, wanted, check) for v in visuals)] == []


def refresh_minutes(page: dict) -> float | None:
    """The automatic page refresh interval, from the page's pageRefresh object (its duration
    an ISO-8601 duration literal such as 'PT15M'), or None when the page does not refresh."""
    for entry in page.get("objects", {}).get("pageRefresh", []):
        props = {k: v["expr"]["Literal"]["Value"] for k, v in entry["properties"].items()}
        if props.get("show") != "true":
            return None
        m = re.fullmatch(r"'PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?'", props.get("duration", ""))
        assert m, f"pageRefresh duration {props.get('duration')!r} is not an ISO-8601 time"
        hours, minutes, seconds = (int(g or 0) for g in m.groups())
        return hours * 60 + minutes + seconds / 60
    return None


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_directquery_pages_refresh_every_15_minutes(page):
    directquery = {t.name for t in model().tables.values()
                   if any(p.mode == "directQuery" for p in t.partitions.values())}
    reads = {f.table for v in page_visuals(page).values() for f in fields(v)}
    assert reads & directquery, f"{page} reads no DirectQuery table"
    assert refresh_minutes(read(PAGES / page / "page.json")) == 15


# --- the checks can fail ------------------------------------------------------------------
@pytest.fixture
def broken_visual():
    return read(PAGES / "executive" / "visuals" / "revenue_by_region" / "visual.json")


def test_a_visual_missing_a_required_member_breaks_its_schema(broken_visual):
    del broken_visual["visual"]["query"]["queryState"]["Y"]["projections"][0]["queryRef"]
    assert any("'queryRef' is a required property" in e for e in document_errors(broken_visual))


def test_a_visual_naming_an_unknown_field_is_reported(broken_visual):
    projection = broken_visual["visual"]["query"]["queryState"]["Y"]["projections"][0]
    projection["field"]["Measure"]["Property"] = "Revenue (typo)"
    assert document_errors(broken_visual) == []
    assert missing_fields(broken_visual) == ["Measure KPI[Revenue (typo)]"]


def test_a_per_arm_visual_of_every_run_or_the_oldest_is_not_the_business_impact_panel():
    visual = read(PAGES / "ml_model_performance" / "visuals" / "business_impact_by_arm"
                  / "visual.json")
    assert newest_run_only(visual)
    [subquery] = [s for s in visual["filterConfig"]["filters"][0]["filter"]["From"]
                  if "Expression" in s]
    subquery["Expression"]["Subquery"]["Query"]["OrderBy"][0]["Direction"] = 1  # the oldest
    assert not newest_run_only(visual)
    del visual["filterConfig"]  # every run's values summed
    assert not newest_run_only(visual)


def test_a_file_naming_an_unpinned_schema_version_is_refused(broken_visual):
    broken_visual["$schema"] = broken_visual["$schema"].replace("2.9.0", "2.8.0")
    with pytest.raises(SchemaError, match="not a pinned schema"):
        document_errors(broken_visual)
