"""docs/benchmarks.md holds one section per benchmark script, each rewritten on its own."""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = "# Benchmarks\n\nWritten by `make bench`. Each figure is compared with a baseline " \
          "measured in the same run on the same machine; ratios, not absolute numbers, carry " \
          "across machines.\n"


def write_section(path: Path, name: str, markdown: str) -> None:
    """Replace (or append) the section ``name`` of the report at ``path``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else _HEADER
    if start not in text:
        text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text,
                      flags=re.S)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
