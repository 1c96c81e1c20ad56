"""A chain's own master data (suppliers, products, stores) into the warehouse's dimensions.

Each file's schema is data (:data:`FILES`): one :class:`Field` per column with its type,
whether it is required, its default, its bounds or allowed values and its meaning. That one
definition validates the files, builds the rows the warehouse gets and renders
``docs/masterdata.md`` (:func:`schema_markdown`). Validation is columnar (one Arrow mask per
rule); every problem keeps its file, line and field, and nothing is written unless all the
files given are clean.

Loading compares each row with the dimension's current version (``FINAL``) and inserts only
new and changed rows: the dimensions are ``ReplacingMergeTree(updated_at)`` keyed by
``retail_key(<id>)``, so a changed row replaces the old one and an unchanged file writes
nothing. No deduplication token: a content token would drop a row changed back to an earlier
version (A -> B -> A) inside the deduplication window, and a repeated insert of the same row
collapses on merge anyway.
"""

from __future__ import annotations

import csv
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail.io.warehouse import Warehouse

EXTENSIONS = (".csv", ".parquet")


@dataclass(frozen=True)
class Kind:
    """How a cell's text becomes a warehouse value."""

    name: str  # in the docs
    arrow: pa.DataType  # the warehouse column's type
    pattern: str  # the whole (trimmed) text must match it
    syntax: str  # what a cell that does not match is told it should be


ID = Kind("identifier", pa.string(), r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}",
          "an identifier (1-64 letters, digits or _.:/-, starting with a letter or digit)")
TEXT = Kind("text", pa.string(), r"[^\x00-\x1f\x7f]{1,200}",
            "text of at most 200 characters without control characters")
CLOCK = Kind("time HH:MM", pa.string(), r"([01][0-9]|2[0-3]):[0-5][0-9]",
             "a time of day HH:MM between 00:00 and 23:59")
MONEY = Kind("decimal, 2 places", pa.decimal128(12, 2),
             r"-?([0-9]{1,10}(\.[0-9]{0,2}0*)?|\.[0-9]{1,2}0*)",
             "a number with at most 2 decimal places")
REAL = Kind("number", pa.float32(), r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?",
            "a number")
UINT16 = Kind("integer", pa.uint16(), r"-?[0-9]{1,18}", "a whole number")
UINT32 = Kind("integer", pa.uint32(), UINT16.pattern, UINT16.syntax)
_NUMERIC = (MONEY, REAL, UINT16, UINT32)


@dataclass(frozen=True)
class Allowed:
    """A set of allowed values, computed when first needed."""

    description: str  # "an ISO 3166-1 alpha-2 country code ..."
    values: Callable[[], Iterable[str]]


def _countries() -> list[str]:
    import holidays

    return [c for c in holidays.list_supported_countries() if len(c) == 2]


COUNTRY = Allowed("an ISO 3166-1 alpha-2 country code that the `holidays` package knows "
                  "(e.g. US, CA, GB)", _countries)
TIMEZONE = Allowed("an IANA time zone (e.g. America/New_York)", zoneinfo.available_timezones)


@dataclass(frozen=True)
class Field:
    """One column of a master-data file and of its dimension."""

    name: str
    kind: Kind
    required: bool
    meaning: str
    default: object = None  # what an empty cell (or an absent column) of an optional field becomes
    lo: float | None = None
    hi: float | None = None
    allowed: Allowed | None = None
    unique: bool = False
    references: str | None = None  # the file (and its dimension) whose key this must name


@dataclass(frozen=True)
class FileSpec:
    name: str  # and the CLI flag, --<name>
    table: str
    about: str
    fields: tuple[Field, ...]

    @property
    def key(self) -> Field:
        return self.fields[0]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


SUPPLIERS = FileSpec("suppliers", "dim_supplier", "The chain's suppliers (vendors).", (
    Field("supplier_id", ID, True, "The chain's supplier id.", unique=True),
    Field("name", TEXT, True, "Supplier name."),
    Field("category", TEXT, False, "The category it mainly supplies.", default=""),
    Field("lead_time_mean_days", REAL, True, "Mean days from order to delivery.", lo=0.1,
          hi=365),
    Field("lead_time_sd_days", REAL, False, "Standard deviation of the lead time, days.",
          default=0.0, lo=0, hi=365),
))
PRODUCTS = FileSpec("products", "dim_product", "The catalog: one row per product (SKU).", (
    Field("product_id", ID, True, "The chain's product id.", unique=True),
    Field("sku", ID, True, "Stock-keeping unit code, as on the shelf label.", unique=True),
    Field("name", TEXT, True, "Product name."),
    Field("category", TEXT, True, "Category (the dashboards' and models' grouping)."),
    Field("sub_category", TEXT, False, "Sub-category within the category.", default=""),
    Field("brand", TEXT, False, "Brand.", default=""),
    Field("supplier_id", ID, True, "Who supplies it.", references="suppliers"),
    Field("unit_cost", MONEY, True, "What the chain pays per unit.", lo=0, hi=1e9),
    Field("list_price", MONEY, True, "Regular shelf price per unit.", lo=0.01, hi=1e9),
    Field("shelf_life_days", UINT16, False, "Days it keeps; 0 = not perishable or unknown.",
          default=0, lo=0, hi=65535),
    Field("pack_size", UINT16, False, "Units per case the supplier ships.", default=1, lo=1,
          hi=65535),
))
STORES = FileSpec("stores", "dim_store", "The chain's stores.", (
    Field("store_id", ID, True, "The chain's store id.", unique=True),
    Field("name", TEXT, True, "Store name."),
    Field("city", TEXT, False, "City.", default=""),
    Field("state", TEXT, False, "State or province.", default=""),
    Field("region", TEXT, False, "The chain's sales region (a row-level security scope).",
          default=""),
    Field("country", TEXT, True, "Country: its public holidays are the calendar's.",
          allowed=COUNTRY),
    Field("timezone", TEXT, True, "The store's time zone: a store's day is its local day.",
          allowed=TIMEZONE),
    Field("store_type", TEXT, False, "Format, e.g. supermarket, convenience.", default=""),
    Field("square_footage", UINT32, False, "Sales floor, square feet; 0 = unknown.",
          default=0, lo=0, hi=4_000_000_000),
    Field("opens_at", CLOCK, True, "Opening time, local."),
    Field("closes_at", CLOCK, True, "Closing time, local; earlier than opens_at = after "
          "midnight, equal to it = open around the clock."),
))
FILES = {spec.name: spec for spec in (SUPPLIERS, PRODUCTS, STORES)}  # load order: keys first


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be loaded. ``line`` is the CSV line (the header is line 1) or
    the Parquet row (the first row is 1); None for the file as a whole."""

    file: str
    unit: str  # "line" or "row"
    line: int | None
    field: str
    value: str | None
    reason: str


@dataclass
class Source:
    """A file read as text: one array of trimmed cells (null = empty) per column."""

    spec: FileSpec
    path: Path
    unit: str
    lines: pa.Array
    columns: dict[str, pa.Array]  # the first column of each name
    header: list[str]  # every column's name, as in the file


def _text(values: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _read_csv(spec: FileSpec, path: Path, problems: list[Problem]) -> Source | None:
    def bad(line: int | None, reason: str, field: str = "-") -> None:
        problems.append(Problem(str(path), "line", line, field, None, reason))

    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            rows, lines, before = [], [], reader.line_num
            for cells in reader:
                if any(c.strip() for c in cells):
                    if len(cells) == len(header):
                        rows.append(cells)
                        lines.append(before + 1)
                    else:  # its cells cannot be told apart: no field checks on this line
                        bad(before + 1, f"{len(cells)} cells, the header has {len(header)}")
                before = reader.line_num
    except UnicodeDecodeError as exc:
        bad(None, f"not UTF-8 text (byte {exc.start}): save it as CSV UTF-8")
        return None
    except csv.Error as exc:
        bad(reader.line_num, f"not readable as CSV: {exc}")
        return None
    if not header:
        bad(None, "empty file: the first line must name the columns")
        return None
    columns = {name: _text(pa.array([r[header.index(name)] for r in rows], pa.string()))
               for name in header}
    return Source(spec, path, "line", pa.array(lines, pa.int64()), columns, header)


def _read_parquet(spec: FileSpec, path: Path, problems: list[Problem]) -> Source | None:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        problems.append(Problem(str(path), "row", None, "-", None, f"not a Parquet file: {exc}"))
        return None
    columns: dict[str, pa.Array] = {}
    for name, col in zip(table.column_names, table.columns):
        if name in columns:
            continue
        col = col.combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        t = col.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                or pa.types.is_floating(t) or pa.types.is_decimal(t)):
            problems.append(Problem(str(path), "row", None, name, None, f"Parquet type {t} "
                                    "is not accepted: use string, integer, float or decimal"))
            continue
        columns[name] = _text(pc.cast(col, pa.string()))
    return Source(spec, path, "row", pa.array(range(1, table.num_rows + 1), pa.int64()),
                  columns, table.column_names)


def read_source(spec: FileSpec, path: Path, problems: list[Problem]) -> Source | None:
    """Read ``path`` (``.csv`` or ``.parquet``) as text cells; header problems are added to
    ``problems`` (an unknown, repeated or missing required column)."""
    reader = _read_csv if path.suffix.lower() == ".csv" else _read_parquet
    source = reader(spec, path, problems)
    if source is None:
        return None
    unit, line = source.unit, (1 if source.unit == "line" else None)
    known = [f.name for f in spec.fields]
    names = source.header
    rejected = {p.field for p in problems if p.file == str(path)}  # e.g. a bad Parquet type
    for name in dict.fromkeys(names):
        if name not in known:
            problems.append(Problem(str(path), unit, line, name or "(no name)", None,
                                    f"unknown column (the columns are {', '.join(known)})"))
        elif names.count(name) > 1:
            problems.append(Problem(str(path), unit, line, name, None, "column appears twice"))
    for f in spec.fields:
        if f.required and f.name not in names and f.name not in rejected:
            problems.append(Problem(str(path), unit, line, f.name, None,
                                    "required column missing"))
    return source


def _report(source: Source, field: str, bad: pa.Array, values: pa.Array,
            reason: Callable[[int], str], out: list[Problem]) -> None:
    """A problem for every row where ``bad`` is true; ``reason`` gets the row's index."""
    for i in pc.indices_nonzero(pc.fill_null(bad, False)).to_pylist():
        out.append(Problem(str(source.path), source.unit, source.lines[i].as_py(), field,
                           values[i].as_py(), reason(i)))


def check_field(source: Source, f: Field, out: list[Problem]) -> pa.Array:
    """Check one column by every rule of ``f``; returns its values in the warehouse's type
    (defaults where empty, nulls where bad)."""
    n = len(source.lines)
    text = source.columns.get(f.name, pa.nulls(n, pa.string()))
    empty = pc.is_null(text)
    if f.required and f.name in source.columns:
        _report(source, f.name, empty, text, lambda i: "required, but empty", out)
    bad = pc.invert(pc.match_substring_regex(text, f"^(?:{f.kind.pattern})$"))
    _report(source, f.name, bad, text, lambda i: f"not {f.kind.syntax}", out)
    ok = pc.fill_null(pc.invert(bad), False)
    if f.kind in _NUMERIC:
        parsed = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())),
                         pa.int64() if f.kind.arrow in (pa.uint16(), pa.uint32())
                         else f.kind.arrow)
        as_float = pc.cast(parsed, pa.float64())
        for limit, beyond, word in ((f.lo, pc.less, "below the minimum"),
                                    (f.hi, pc.greater, "above the maximum")):
            if limit is None:
                continue
            off = pc.fill_null(beyond(as_float, limit), False)
            reason = f"{word} {number(limit)}"
            _report(source, f.name, off, text, lambda i, r=reason: r, out)
            ok = pc.and_(ok, pc.invert(off))
        values = parsed
    else:
        values = text
    if f.allowed is not None:
        outside = pc.invert(pc.is_in(text, value_set=_allowed(f.allowed)))
        _report(source, f.name, pc.and_(ok, outside), text,
                lambda i: f"not {f.allowed.description}", out)
        ok = pc.and_(ok, pc.invert(outside))
    if f.unique:
        first = _first_line(text, source.lines)
        _report(source, f.name, pc.and_(ok, pc.not_equal(first, source.lines)), text,
                lambda i: f"duplicate {f.name} (first on {source.unit} {first[i]})", out)
    typed = pc.if_else(pc.and_(ok, pc.invert(empty)), values, pa.scalar(None, values.type))
    if f.default is not None:
        typed = pc.fill_null(typed, pa.scalar(f.default, values.type))
    return pc.cast(typed, f.kind.arrow)


@cache
def _allowed(allowed: Allowed) -> pa.Array:
    return pa.array(sorted(allowed.values()), pa.string())


def _first_line(values: pa.Array, lines: pa.Array) -> pa.Array:
    """Per row, the first line holding the same value (null where the value is)."""
    firsts = pa.table({"v": values, "line": lines}).group_by("v").aggregate([("line", "min")])
    return pc.take(firsts["line_min"], pc.index_in(values, value_set=firsts["v"]))


def _check_reference(source: Source, f: Field, sources: dict[str, Source],
                     known: dict[str, Iterable[str]], out: list[Problem]) -> None:
    """``f``'s values must be keys of the referenced file (any of its rows: a bad row there
    is reported there) or already be in its dimension."""
    target = FILES[f.references]
    keys = list(known.get(target.name, ()))
    if target.name in sources:
        keys += sources[target.name].columns.get(target.key.name, pa.nulls(0)).to_pylist()
    text = source.columns.get(f.name, pa.nulls(len(source.lines), pa.string()))
    well_formed = pc.match_substring_regex(text, f"^(?:{f.kind.pattern})$")
    missing = pc.invert(pc.is_in(text, value_set=pa.array(keys, pa.string())))
    _report(source, f.name, pc.and_(well_formed, missing), text,
            lambda i: f"no {target.key.name} {text[i]} in the {target.name} file or in "
                      f"{target.table}", out)


@dataclass
class Checked:
    """What :func:`check_files` found: the rows per file (in their dimension's columns and
    types), or, if anything is wrong, no rows and every problem."""

    tables: dict[str, pa.Table]
    problems: list[Problem]


def check_files(paths: dict[str, Path], known: dict[str, Iterable[str]] | None = None
                ) -> Checked:
    """Read and check ``paths`` (``{"products": Path(...), ...}``, any subset of
    :data:`FILES`). ``known``: keys already in the warehouse by file name (``{"suppliers":
    supplier ids in dim_supplier}``), which references may name besides the files' own."""
    problems: list[Problem] = []
    sources = {}
    for name, spec in FILES.items():
        if name in paths and (src := read_source(spec, paths[name], problems)) is not None:
            sources[name] = src
    tables = {}
    for name, src in sources.items():
        tables[name] = pa.table({f.name: check_field(src, f, problems) for f in src.spec.fields})
        for f in src.spec.fields:
            if f.references:
                _check_reference(src, f, sources, known or {}, problems)
    rank = {str(paths[name]): (i, FILES[name]) for i, name in enumerate(FILES) if name in paths}
    fields = {p: [f.name for f in spec.fields] for p, (_, spec) in rank.items()}

    def order(p: Problem) -> tuple[int, int, int]:
        names = fields[p.file]
        column = -1 if p.field == "-" else names.index(p.field) if p.field in names \
            else len(names)  # a row's own problem, a column's, an unknown column's
        return rank[p.file][0], p.line or 0, column

    return Checked({} if problems else tables, sorted(problems, key=order))


@dataclass(frozen=True)
class Change:
    """What a load does (or, dry, would do) to one dimension."""

    table: str
    rows: int  # in the file
    new: int
    changed: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.new - self.changed


def plan_changes(wh: Warehouse, spec: FileSpec, rows: pa.Table) -> tuple[pa.Table, Change]:
    """The rows of ``rows`` that are new to ``spec.table`` or differ from their current
    version there, and the counts."""
    cols = rows.column_names  # the spec's field names: code, never data
    current = wh.query_arrow(f"SELECT {', '.join(cols)} FROM {spec.table} FINAL").cast(
        rows.schema)
    current = current.append_column("was", pa.repeat(True, current.num_rows))
    joined = rows.join(current, keys=spec.key.name, join_type="left outer", right_suffix=" old")
    was = pc.is_valid(joined["was"])
    differs = pa.repeat(False, joined.num_rows)
    for c in cols[1:]:
        differs = pc.or_(differs, pc.fill_null(pc.not_equal(joined[c], joined[c + " old"]),
                                               True))
    changed = pc.and_(was, differs)
    todo = joined.filter(pc.or_(changed, pc.invert(was))).select(cols)
    n_changed = pc.sum(changed).as_py() or 0
    return todo, Change(spec.table, rows.num_rows, todo.num_rows - n_changed, n_changed)


@dataclass
class Loaded:
    problems: list[Problem]  # if any, nothing was written
    changes: list[Change]


def load_masterdata(wh: Warehouse, paths: dict[str, Path], *, dry_run: bool = False,
                    step: Callable[[str], None] = lambda _: None) -> Loaded:
    """Check every file, then write the new and changed rows of each into its dimension
    (suppliers first, so products never name a supplier the warehouse lacks). Nothing is
    written if any file has a problem, or with ``dry_run``.

    Each dimension is one insert; ClickHouse has no transaction across tables, so a failure
    between two inserts leaves the first written: loading the same files again completes it.
    """
    step("reading the suppliers already in dim_supplier")
    known = {"suppliers": wh.query_arrow(f"SELECT supplier_id FROM {SUPPLIERS.table} FINAL")
             ["supplier_id"].to_pylist()} if "products" in paths else {}
    step("checking " + ", ".join(str(p) for p in paths.values()))
    checked = check_files(paths, known)
    if checked.problems:
        return Loaded(checked.problems, [])
    changes = []
    for name, rows in checked.tables.items():
        spec = FILES[name]
        step(f"comparing {name} with {spec.table}")
        todo, change = plan_changes(wh, spec, rows)
        changes.append(change)
        if todo.num_rows and not dry_run:
            step(f"writing {todo.num_rows:,} rows into {spec.table}")
            wh.insert_arrow(spec.table, todo)
            # Dimensions are small: merge now so plain reads (not only FINAL) see one row each.
            wh.command(f"OPTIMIZE TABLE {spec.table} FINAL")
    return Loaded([], changes)


# --- docs/masterdata.md ---------------------------------------------------------------------
DOC_START, DOC_END = "<!-- masterdata:schema -->", "<!-- /masterdata:schema -->"


def _rule(f: Field) -> str:
    rules = []
    if f.lo is not None:
        rules.append(f"{number(f.lo)} to {number(f.hi)}")
    if f.allowed is not None:
        rules.append(f.allowed.description)
    if f.unique:
        rules.append("unique in the file")
    if f.references:
        target = FILES[f.references]
        rules.append(f"a `{target.key.name}` of the {target.name} file or of `{target.table}`")
    return "; ".join(rules)


def number(x: float) -> str:
    """1000000 as 1,000,000; 0.1 as 0.1."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _default(f: Field) -> str:
    return "" if f.default is None else "(empty)" if f.default == "" else number(f.default)


def schema_markdown() -> str:
    """The files' schema as Markdown: the section of docs/masterdata.md between its markers."""
    kinds = dict.fromkeys((f.kind.name, f.kind.syntax) for s in FILES.values() for f in s.fields)
    out = ["| type | a cell must be |", "|---|---|"]
    out += [f"| {name} | {syntax} |" for name, syntax in kinds]
    for spec in FILES.values():
        key = spec.key.name
        out += ["", f"### {spec.name} (`--{spec.name}` → `{spec.table}`)", "",
                f"{spec.about} Key: `{key}`; the warehouse's `{key[:-3]}_key` is "
                f"`retail_key({key})`.", "",
                "| column | type | required | default | rule | meaning |",
                "|---|---|---|---|---|---|"]
        out += [f"| `{f.name}` | {f.kind.name} | {'yes' if f.required else 'no'} | "
                f"{_default(f)} | {_rule(f)} | {f.meaning} |"
                for f in spec.fields]
    return "\n".join(out) + "\n"


def with_schema(doc: str) -> str:
    """``doc`` with the text between its schema markers replaced by :func:`schema_markdown`."""
    head, sep, rest = doc.partition(DOC_START)
    _, sep2, tail = rest.partition(DOC_END)
    if not (sep and sep2):
        raise ValueError(f"the document has no {DOC_START} ... {DOC_END} section")
    return f"{head}{DOC_START}\n{schema_markdown()}{DOC_END}{tail}"
