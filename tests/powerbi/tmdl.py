"""A small reader of the TMDL (Tabular Model Definition Language) files of a Power BI project.

Reads what the project writes: ``database``, ``model`` (with ``ref`` lines), ``expression``,
``table`` (``column``, ``measure``, ``hierarchy``/``level``, ``partition``),
``relationship`` and ``role`` (``tablePermission``) objects, their ``name: value``
properties, bare flags (``isHidden``), ``///`` descriptions, ``annotation`` children and
multi-line expressions (the lines after ``=`` indented two levels deeper than the line that
opens them). An unknown object type, a bad indentation or a line it cannot read is an error
naming the file and line, so a typo in the model fails the checker instead of vanishing.

No PyPI package reads all of that soundly (docs/powerbi.md, "The checker"), hence this one.

    model = load_model(Path("powerbi/RetailPlatform.SemanticModel"))
    model.tables["Sales"].columns["Revenue"].data_type   # 'decimal'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Column", "Expression", "Hierarchy", "Measure", "Model", "Node", "Partition",
           "Relationship", "Role", "Table", "TmdlError", "load_model", "parse_text",
           "unquote"]

# Object types: a line starting with one of these words and a space declares an object.
OBJECTS = {"database", "model", "table", "column", "measure", "partition", "hierarchy",
           "level", "relationship", "role", "tablePermission", "expression", "annotation",
           "ref", "calculationGroup", "calculationItem", "perspective", "culture",
           "dataSource", "queryGroup", "member", "variation"}
_NAME = r"(?:'(?:[^']|'')+'|[^\s=':]+)"
_DECLARATION = re.compile(rf"^(\w+)\s+({_NAME}(?:\s+{_NAME})?)\s*(?:=\s*(.*))?$")
_PROPERTY = re.compile(r"^(\w+)\s*:\s*(.*)$")
_EXPRESSION_PROPERTY = re.compile(r"^(\w+)\s*=\s*(.*)$")
_FLAG = re.compile(r"^\w+$")


class TmdlError(ValueError):
    """A TMDL file that cannot be read, with its path and line."""


def unquote(name: str) -> str:
    """``'Date Key'`` -> ``Date Key`` (``''`` inside quotes is one quote)."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == "'":
        return name[1:-1].replace("''", "'")
    return name


@dataclass
class Node:
    """One object of a TMDL file: ``kind name = value``, its properties and children."""

    kind: str
    name: str
    value: str | None
    where: str
    description: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    children: list[Node] = field(default_factory=list)

    def annotations(self) -> dict[str, str]:
        return {c.name: c.value or "" for c in self.children if c.kind == "annotation"}

    def of_kind(self, kind: str) -> list[Node]:
        return [c for c in self.children if c.kind == kind]


def _indent(line: str, where: str) -> int:
    stripped = line.lstrip("\t")
    if stripped.startswith(" "):
        raise TmdlError(f"{where}: indentation must be tabs, not spaces")
    return len(line) - len(stripped)


def _continuation(lines: list[str], start: int, base: int) -> tuple[str, int]:
    """The expression lines from ``start`` indented at least ``base + 2`` tabs, joined
    without that common indentation; and the index of the first line after them."""
    block, i = [], start
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip("\t")) < base + 2:
            break
        block.append(line)
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    text = "\n".join(b[base + 2:] if b.strip() else "" for b in block)
    return text.strip("\n"), i


def parse_text(text: str, source: str = "<tmdl>") -> list[Node]:
    """The top-level objects of one TMDL file."""
    lines = text.replace("\r\n", "\n").split("\n")
    roots: list[Node] = []
    stack: list[tuple[int, Node]] = []  # (indentation, node) of the open objects
    description: list[str] = []
    i = 0
    while i < len(lines):
        line, where = lines[i], f"{source}:{i + 1}"
        i += 1
        if not line.strip():
            continue
        depth = _indent(line, where)
        content = line.strip()
        if content.startswith("///"):
            description.append(content[3:].strip())
            continue
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        if parent is None and depth:
            raise TmdlError(f"{where}: indented {depth} tabs outside any object")
        if parent is not None and depth != stack[-1][0] + 1:
            raise TmdlError(f"{where}: indented {depth} tabs under a {parent.kind} at "
                            f"{stack[-1][0]}: a child or property is one tab deeper")
        word = content.split(None, 1)[0]
        declaration = _DECLARATION.match(content)
        if word in OBJECTS and declaration and not content.startswith(f"{word}:"):
            kind, name, value = declaration.groups()
            if value == "":
                value, i = _continuation(lines, i, depth)
            node = Node(kind, name if kind == "ref" else unquote(name),
                        value.strip() if value is not None else None, where,
                        " ".join(description))
            description = []
            if parent is None:
                roots.append(node)
            else:
                parent.children.append(node)
            stack.append((depth, node))
            continue
        if description:
            raise TmdlError(f"{where}: a /// description must precede an object, not {word}")
        if parent is None:
            raise TmdlError(f"{where}: {content!r} is outside any object; known object "
                            f"types: {', '.join(sorted(OBJECTS))}")
        if m := _PROPERTY.match(content):
            parent.properties[m.group(1)] = m.group(2).strip()
        elif m := _EXPRESSION_PROPERTY.match(content):
            value = m.group(2).strip()
            if not value:
                value, i = _continuation(lines, i, depth)
            parent.properties[m.group(1)] = value
        elif _FLAG.match(content):
            # A flag (isHidden), or a property holding flags one tab deeper
            # (dataAccessOptions / legacyRedirects): both are read.
            parent.flags.add(content)
            flags = Node(content, "", None, where)
            parent.children.append(flags)
            stack.append((depth, flags))
        else:
            raise TmdlError(f"{where}: cannot read {content!r} in {parent.kind} "
                            f"{parent.name!r}")
    if description:
        raise TmdlError(f"{source}: a /// description at the end of the file describes nothing")
    return roots


# --- the model ----------------------------------------------------------------------------
@dataclass
class Column:
    name: str
    data_type: str
    source_column: str | None
    properties: dict[str, str]
    flags: set[str]
    description: str


@dataclass
class Measure:
    name: str
    expression: str
    format_string: str | None
    description: str
    annotations: dict[str, str]
    properties: dict[str, str]


@dataclass
class Partition:
    name: str
    kind: str  # m | calculated | ...
    mode: str | None
    source: str


@dataclass
class Hierarchy:
    name: str
    levels: list[tuple[str, str]]  # (level name, column name), top first


@dataclass
class Table:
    name: str
    description: str
    properties: dict[str, str]
    columns: dict[str, Column]
    measures: dict[str, Measure]
    partitions: dict[str, Partition]
    hierarchies: dict[str, Hierarchy]


@dataclass
class Relationship:
    name: str
    from_table: str
    from_column: str
    to_table: str
    to_column: str
    properties: dict[str, str]


@dataclass
class Role:
    name: str
    model_permission: str | None
    table_permissions: dict[str, str]  # table -> DAX filter
    description: str


@dataclass
class Expression:
    name: str
    value: str
    meta: dict[str, str]
    properties: dict[str, str]
    description: str


@dataclass
class Model:
    path: Path
    database: Node
    model: Node
    refs: list[tuple[str, str]]  # (kind, name) of model.tmdl's ref lines
    query_groups: list[str]
    tables: dict[str, Table]
    relationships: dict[str, Relationship]
    roles: dict[str, Role]
    expressions: dict[str, Expression]


def _column_ref(text: str, where: str) -> tuple[str, str]:
    m = re.fullmatch(rf"({_NAME})\.({_NAME})", text.strip())
    if not m:
        raise TmdlError(f"{where}: {text!r} is not Table.Column")
    return unquote(m.group(1)), unquote(m.group(2))


def _table(node: Node) -> Table:
    columns = {c.name: Column(c.name, c.properties.get("dataType", ""),
                              c.properties.get("sourceColumn"), c.properties, c.flags,
                              c.description) for c in node.of_kind("column")}
    measures = {m.name: Measure(m.name, m.value or "", m.properties.get("formatString"),
                                m.description, m.annotations(), m.properties)
                for m in node.of_kind("measure")}
    partitions = {p.name: Partition(p.name, p.value or "", p.properties.get("mode"),
                                    p.properties.get("source", ""))
                  for p in node.of_kind("partition")}
    hierarchies = {h.name: Hierarchy(h.name, [(lv.name, unquote(lv.properties.get("column", "")))
                                              for lv in h.of_kind("level")])
                   for h in node.of_kind("hierarchy")}
    return Table(node.name, node.description, node.properties, columns, measures, partitions,
                 hierarchies)


def _expression(node: Node) -> Expression:
    value, meta = node.value or "", {}
    if m := re.fullmatch(r"(.*?)\s+meta\s*\[(.*)\]", value, re.S):
        value = m.group(1).strip()
        for item in m.group(2).split(","):
            key, _, val = item.partition("=")
            meta[key.strip()] = val.strip().strip('"')
    return Expression(node.name, value, meta, node.properties, node.description)


def _read(path: Path, root: Path) -> list[Node]:
    return parse_text(path.read_text(encoding="utf-8"), str(path.relative_to(root)))


def _only(nodes: list[Node], kind: str, where: Path) -> Node:
    if len(nodes) != 1 or nodes[0].kind != kind:
        raise TmdlError(f"{where}: expected one {kind} object, found "
                        f"{[n.kind for n in nodes]}")
    return nodes[0]


def load_model(path: Path) -> Model:
    """Read a semantic model folder (``X.SemanticModel`` or its ``definition``)."""
    definition = path / "definition" if (path / "definition").is_dir() else path
    root = definition.parent
    database = _only(_read(definition / "database.tmdl", root), "database",
                     definition / "database.tmdl")
    # model.tmdl: the model object, its query groups and annotations, then top-level
    # `ref <kind> <name>` lines (the order of the tables)
    nodes = _read(definition / "model.tmdl", root)
    model = _only([n for n in nodes if n.kind not in ("ref", "queryGroup", "annotation")],
                  "model", definition / "model.tmdl")
    query_groups = [n.name for n in nodes if n.kind == "queryGroup"]
    refs = [(kind, unquote(name)) for kind, _, name in (
        r.name.partition(" ") for r in nodes if r.kind == "ref")]
    tables: dict[str, Table] = {}
    for file in sorted((definition / "tables").glob("*.tmdl")):
        table = _table(_only(_read(file, root), "table", file))
        if table.name in tables or file.stem != table.name:
            raise TmdlError(f"{file}: table {table.name!r} must live in '{table.name}.tmdl', "
                            "once")
        tables[table.name] = table
    roles: dict[str, Role] = {}
    for file in sorted((definition / "roles").glob("*.tmdl")):
        node = _only(_read(file, root), "role", file)
        roles[node.name] = Role(node.name, node.properties.get("modelPermission"),
                                {p.name: p.value or "" for p in node.of_kind("tablePermission")},
                                node.description)
    relationships = {}
    for node in _read(definition / "relationships.tmdl", root):
        if node.kind != "relationship":
            raise TmdlError(f"{node.where}: {node.kind} in relationships.tmdl")
        frm = _column_ref(node.properties.get("fromColumn", ""), node.where)
        to = _column_ref(node.properties.get("toColumn", ""), node.where)
        relationships[node.name] = Relationship(node.name, *frm, *to, node.properties)
    expressions = {}
    for node in _read(definition / "expressions.tmdl", root):
        if node.kind != "expression":
            raise TmdlError(f"{node.where}: {node.kind} in expressions.tmdl")
        expressions[node.name] = _expression(node)
    return Model(path, database, model, refs, query_groups, tables, relationships, roles,
                 expressions)
