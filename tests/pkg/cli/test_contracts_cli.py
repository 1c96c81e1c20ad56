"""`retail contracts list|show` print the contracts and topics, and fail clearly on bad input."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.cli.common import console
from retail.contracts import ENVELOPE_FIELDS, contract, event_types, topics

runner = CliRunner()


@pytest.fixture
def narrow_console(monkeypatch):
    """Render tables 80 columns wide, as rich does when output goes to a pipe."""
    monkeypatch.setattr(console, "width", 80)


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_contracts_list_shows_every_event_type_with_its_version_and_topic(narrow_console):
    result = runner.invoke(app, ["contracts", "list"])
    assert result.exit_code == 0, result.output
    for t in event_types():
        c = contract(t)
        assert re.search(rf"│ {t}\s+│ {c.version}\s+│ {c.topic}\s+│ {len(c.fields)}\s+│",
                         result.output), t


def test_contracts_list_shows_every_topic_in_full_with_its_partitions(narrow_console):
    result = runner.invoke(app, ["contracts", "list"])
    assert result.exit_code == 0, result.output
    for t in topics():
        row = rf"│ {t.name}\s+│ {t.partitions}\s+│ 7 d\s+│"
        assert re.search(row, result.output), t.name


def test_contracts_show_prints_the_full_schema_as_json():
    result = runner.invoke(app, ["contracts", "show", "sales_transaction"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["properties"]["quantity"]["type"] == "integer"
    assert set(ENVELOPE_FIELDS) <= set(schema["required"])
    assert schema == contract("sales_transaction").schema


def test_contracts_show_of_an_unknown_type_fails_naming_the_known_types():
    result = runner.invoke(app, ["contracts", "show", "nope"])
    assert result.exit_code != 0
    message = one_line(result.stderr)
    assert "nope" in message
    assert all(t in message for t in event_types())


def test_contracts_show_of_an_unknown_version_fails_naming_the_known_versions():
    result = runner.invoke(app, ["contracts", "show", "price_change", "--version", "9"])
    assert result.exit_code != 0
    assert "schema_version 9" in one_line(result.stderr)
    assert "[1]" in result.stderr
