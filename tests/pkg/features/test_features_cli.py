"""``retail features``: flags are checked before anything runs (exit 2, the flag named), and
``list`` prints or writes the generated column list."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.features.definitions import COLUMNS, DOC_END, DOC_START

ROOT = Path(__file__).resolve().parents[3]


def retail(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("args,names", [
    ([], "--date D, or --from D1 --to D2"),
    (["--date", "yesterday"], "--date must be a date YYYY-MM-DD"),
    (["--from", "2024-03-05", "--to", "2024-03-01"], "--to 2024-03-01 is before --from"),
    (["--date", "2024-03-01", "--to", "2024-03-02"], "not both"),
])
def test_build_refuses_bad_days_naming_the_flag(args, names, monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "http://127.0.0.1:9")  # never reached
    code, out = retail("features", "build", *args)
    assert code == 2 and names in out, out


def test_list_prints_every_column():
    code, out = retail("features", "list")
    assert code == 0 and all(f"`{c.name}`" in out for c in COLUMNS)


def test_list_writes_the_generated_section_and_nothing_else(tmp_path):
    doc = tmp_path / "features.md"
    doc.write_text(f"# Intro\n\n{DOC_START}\nstale\n{DOC_END}\n\nafter\n")
    code, out = retail("features", "list", "--write", str(doc))
    text = doc.read_text()
    assert code == 0 and "stale" not in text and "| `demand` |" in text
    assert text.startswith("# Intro\n\n") and text.endswith("\n\nafter\n")
    assert retail("features", "list", "--write", str(tmp_path / "missing.md"))[0] == 2
