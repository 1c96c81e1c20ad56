"""Errors as a ClickHouse server reports them: ``Code: N. DB::Exception: ... (NAME)``."""

from __future__ import annotations

import re

_ERROR = re.compile(r"^(?:Streaming query failed: )?Code: (\d+)\. DB::Exception: (.*?)"
                    r"(?: \((\w+)\))?(?: \(version [^)]*\))?\s*$", re.S)


# Names of the codes whose HTTP status differs from 500, for engine messages that lost theirs.
_NAMES = {6: "CANNOT_PARSE_TEXT", 27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED", 46:
          "UNKNOWN_FUNCTION", 47: "UNKNOWN_IDENTIFIER", 53: "TYPE_MISMATCH", 60: "UNKNOWN_TABLE",
          62: "SYNTAX_ERROR", 81: "UNKNOWN_DATABASE", 115: "UNKNOWN_SETTING",
          117: "INCORRECT_DATA"}


class ClickHouseError(Exception):
    """An error as ClickHouse reports it: numeric code, symbolic name, message."""

    def __init__(self, code: int, message: str, name: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.name = code, message, name

    def render(self, version: str) -> str:
        suffix = f" ({self.name})" if self.name else ""
        return f"Code: {self.code}. DB::Exception: {self.message}{suffix} (version {version})\n"

    @classmethod
    def from_engine(cls, exc: BaseException) -> ClickHouseError:
        m = _ERROR.match(str(exc).strip())
        if not m:
            return cls(1001, str(exc).strip() or type(exc).__name__, "STD_EXCEPTION")
        code = int(m.group(1))
        return cls(code, m.group(2), m.group(3) or _NAMES.get(code, ""))
