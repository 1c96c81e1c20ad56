"""Time series are never split at random: the forecasting code holds no random split and no
random-fold tuner (it is read, not run, so a branch that never runs is caught too)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4] / "pkg" / "retail"
SOURCES = sorted([*(ROOT / "ml" / "forecast").rglob("*.py"),
                  *(ROOT / "transforms").glob("forecast*.py")])
FORBIDDEN = ("randomSplit", "CrossValidator", "TrainValidationSplit")


def test_the_forecasting_code_is_found():
    names = {p.name for p in SOURCES}
    assert {"backtest.py", "training.py", "model.py", "forecast.py"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_random_split_or_random_folds(source):
    text = source.read_text()
    found = [word for word in FORBIDDEN if word.lower() in text.lower()]
    assert not found, f"{source} uses {found}: evaluate by rolling origin (backtest.fold)"
