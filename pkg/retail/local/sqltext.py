"""What the local warehouse server reads from a statement's text before the engine sees it.

Only as much SQL as a ClickHouse server's HTTP handler itself looks at: which statement it
is (read-only? has a result? leaves state behind?), its output format, where an
``INSERT ... FORMAT``'s data starts, and whether the text is one statement. Everything else
is the engine's job.
"""

from __future__ import annotations

import re

from retail.local.errors import ClickHouseError
from retail.warehouse.migrate import split_statements

_COMMENTS = re.compile(r"(--[^\n]*\n?|/\*.*?\*/|\s+)", re.S)
_ACCESS = re.compile(
    r"^(?:(?:CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(?:USER|ROLE|ROW\s+POLICY|POLICY|QUOTA|"
    r"SETTINGS\s+PROFILE|PROFILE)\b|GRANT\b|REVOKE\b|SET\s+(?:DEFAULT\s+)?ROLE\b)", re.I)
# Statements that change data, schema or session state: refused in read-only mode. Anything
# else goes to the engine, which reports unknown statements as ClickHouse does (code 62).
_WRITE = re.compile(r"^(?:INSERT|CREATE|ALTER|DROP|TRUNCATE|RENAME|OPTIMIZE|SYSTEM|KILL|ATTACH|"
                    r"DETACH|DELETE|UPDATE|EXCHANGE|UNDROP|GRANT|REVOKE|SET|BACKUP|RESTORE|"
                    r"MOVE|REPLACE|UNDO)\b", re.I)
# Statements that answer with no result (no output format, no X-ClickHouse-Format header).
_NO_RESULT = re.compile(r"^(?:INSERT|CREATE|ALTER|DROP|TRUNCATE|RENAME|OPTIMIZE|SYSTEM|ATTACH|"
                        r"DETACH|DELETE|UPDATE|EXCHANGE|UNDROP|GRANT|REVOKE|SET|USE)\b", re.I)
# Statements whose effect outlives the request on the connection that ran them.
_CONNECTION_STATE = re.compile(r"^(?:USE\b|SET\b|(?:CREATE|DROP)\s+(?:OR\s+REPLACE\s+)?"
                               r"TEMPORARY\b|CREATE\s+TEMPORARY\b)", re.I)
INSERT_HEAD = re.compile(
    rb"\s*INSERT\s+INTO\s+(?:TABLE\s+)?(?P<table>(?:`[^`]+`|\"[^\"]+\"|[\w.])+)\s*"
    rb"(?:\((?P<cols>[^)]*)\))?\s*(?P<settings>SETTINGS\s+.*?)?\s*"
    rb"FORMAT\s+(?P<fmt>\w+)[ \t]*(?:\r?\n)?", re.I | re.S)
_OUTPUT_FORMAT = re.compile(r"\bFORMAT\s+(\w+)", re.I)
_LITERALS = re.compile(r"'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`|\"(?:\\.|[^\"\\])*\"|--[^\n]*|"
                       r"/\*.*?\*/", re.S)
_SHOW_CREATE_SYSTEM = re.compile(
    r"^SHOW\s+CREATE\s+(?:TABLE\s+)?`?system`?\s*\.\s*`?(?P<table>\w+)`?\s*"
    r"(?:FORMAT\s+\w+\s*)?;?\s*$", re.I)


def strip_sql(sql: str) -> str:
    """The statement without leading comments and whitespace."""
    pos = 0
    while m := _COMMENTS.match(sql, pos):
        if m.end() == pos:
            break
        pos = m.end()
    return sql[pos:]


def is_access_control(sql: str) -> bool:
    return bool(_ACCESS.match(strip_sql(sql)))


def is_read_only(sql: str) -> bool:
    return not _WRITE.match(strip_sql(sql))


def returns_result(sql: str) -> bool:
    """Whether the statement answers with a result in an output format (a SELECT, SHOW, ...)
    rather than only a summary (DDL, INSERT, SET, USE)."""
    return not _NO_RESULT.match(strip_sql(sql))


def leaves_connection_state(sql: str) -> bool:
    """USE, SET or a temporary table: state that must not outlive a request without session."""
    return bool(_CONNECTION_STATE.match(strip_sql(sql)))


def _masked(sql: str) -> str:
    """``sql`` with string literals, quoted names and comments blanked, offsets kept."""
    return _LITERALS.sub(lambda m: " " * len(m.group(0)), sql)


def output_format(sql: str, default: str) -> str:
    """The format a query's result comes in: its last FORMAT clause outside strings and
    comments (SETTINGS may follow it), else ``default``; INSERTs name their input format."""
    if strip_sql(sql)[:6].upper() == "INSERT":
        return default
    found = _OUTPUT_FORMAT.findall(_masked(sql))
    return found[-1] if found else default


def without_format(sql: str) -> str:
    """The statement without its output FORMAT clause (to DESCRIBE what it returns)."""
    found = list(_OUTPUT_FORMAT.finditer(_masked(sql)))
    if not found:
        return sql
    last = found[-1]
    return (sql[:last.start()] + sql[last.end():]).strip().rstrip(";")


def show_create_system_table(sql: str) -> str | None:
    """The table of a ``SHOW CREATE [TABLE] system.<table>``, else None."""
    m = _SHOW_CREATE_SYSTEM.match(strip_sql(sql))
    return m.group("table") if m else None


def check_one_statement(sql: str, data: bytes | None) -> None:
    """ClickHouse's HTTP interface runs exactly one statement per request."""
    if INSERT_HEAD.match(strip_sql(sql).encode(errors="replace")) is not None:
        return  # what follows FORMAT is data, never statements
    text = sql if data is None else sql + "\n" + data.decode(errors="replace")
    if len(split_statements(text)) > 1:
        raise ClickHouseError(62, "Syntax error (Multi-statements are not allowed)",
                              "SYNTAX_ERROR")


def decode_query(raw: bytes) -> str:
    """Query text from bytes. ClickHouse takes any bytes inside string literals; the engine
    takes text, so a byte that is not UTF-8 inside quotes becomes the escape ``\\xHH`` (the
    same string to ClickHouse's parser); outside quotes it is a syntax error."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        pass
    text = raw.decode(errors="surrogateescape")
    out, quote, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if quote == "" and text.startswith("--", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append(text[i:end].encode(errors="surrogateescape").decode(errors="replace"))
            i = end
            continue
        if "\udc80" <= ch <= "\udcff":
            if not quote:
                raise ClickHouseError(62, f"Syntax error: byte 0x{ord(ch) - 0xDC00:02X} at "
                                      f"position {len(''.join(out))} is not valid UTF-8 and is "
                                      "not inside a string literal", "SYNTAX_ERROR")
            out.append(f"\\x{ord(ch) - 0xDC00:02X}")
        elif quote and ch == "\\" and i + 1 < len(text):
            out.append(ch)
            i += 1
            nxt = text[i]
            out.append(f"\\x{ord(nxt) - 0xDC00:02X}"[2:] if "\udc80" <= nxt <= "\udcff"
                       else nxt)
        else:
            if ch in "'`\"":
                quote = "" if quote == ch else (quote or ch)
            out.append(ch)
        i += 1
    return "".join(out)


def split_body(body: bytes) -> tuple[str, bytes | None]:
    """A request body that holds the query: the query text, and for ``INSERT ... FORMAT``
    the data after it (which may be binary)."""
    prefix = body[:1 << 16].decode("latin-1")  # one char per byte: offsets carry over
    skip = len(prefix) - len(strip_sql(prefix))
    head = INSERT_HEAD.match(body, skip, skip + (1 << 16))
    if head is not None:
        return decode_query(body[:head.end()]), body[head.end():]
    return decode_query(body), None


def quote(value: str) -> str:
    """A ClickHouse string literal (for names the server itself chose, never for data)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unquote(ident: str) -> str:
    ident = ident.strip()
    return ident[1:-1] if ident[:1] in "`\"" and ident[-1:] == ident[:1] else ident
